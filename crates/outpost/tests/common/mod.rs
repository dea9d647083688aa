//! The outpost suite's harness: the shared one from `outpost-test-support` (the agent
//! launcher, Mosquitto, the MQTT and Phoenix control planes), under the names the tests use,
//! plus the one thing only this crate's tests have: the binary's path from cargo.
#![allow(unused_imports)]

pub use outpost_test_support::agent::{
    metric, next_payload, outpost_snmp_cli, traps_listen, wait_version, ws_request, Agent, Options,
    Ws,
};
pub use outpost_test_support::ports::free_tcp_port;
pub use outpost_test_support::snmp_values::v2c_trap;
pub use outpost_test_support::wait::{wait_for, wait_until};
pub use outpost_test_support::{dockerd, mosquitto, mqtt_peer, nats, phoenix};

/// `outpost`, as cargo built it for these tests (what `agent::bin()` finds at run time).
#[allow(dead_code)]
pub const BIN: &str = env!("CARGO_BIN_EXE_outpost");

/// The next `agent.update` event (job records of that kind come through the same stream;
/// the event is the row with an `outcome`), within `within`.
#[allow(dead_code)]
pub async fn update_outcome(ws: &mut Ws, within: std::time::Duration) -> serde_json::Value {
    next_payload(ws, "agent.update", within, |p| !p["outcome"].is_null()).await
}
