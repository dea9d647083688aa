//! The `outpost` agent as a library: everything the binary wires, reachable by the
//! integration tests, the fuzz targets and the benchmarks.
#![forbid(unsafe_code)]

pub mod adapters;
pub mod api;
pub mod cli;
pub mod components;
pub mod config;
pub mod config_cmd;
#[cfg(feature = "connectivity")]
pub mod connectivity;
pub mod ctl;
pub mod daemon;
pub mod deadline;
pub mod durable;
pub mod executors;
#[cfg(feature = "generate")]
pub mod generate_cmd;
pub mod internal_event;
pub mod lifecycle;
#[cfg(feature = "tools")]
pub mod metrics_cmd;
pub mod pem;
#[cfg(feature = "probes")]
pub mod ping_cmd;
pub mod probation;
#[cfg(feature = "schedules")]
pub mod schedules;
pub mod secrets;
#[cfg(feature = "opensearch")]
pub mod sinks;
#[cfg(feature = "tools")]
pub mod snmp_cmd;
pub mod telemetry;
pub mod token;
pub mod trap;
#[cfg(feature = "tools")]
pub mod traps_cmd;
#[cfg(feature = "update")]
pub mod update_cmd;
pub mod uplink;
pub mod version;
