//! Issue 12, item 1: the daemon starts every capability as a component and stops them in
//! declared phases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Agent, Options};
use serde_json::json;

/// An agent with the trap receiver on (an ephemeral port), beside what is on by default.
fn with_trap_receiver(dir: &std::path::Path) -> Agent {
    Agent::start(
        Options::new(dir)
            .env("OUTPOST_TRAP_ENABLED", "true")
            .env("OUTPOST_TRAP_LISTEN", "127.0.0.1")
            .env("OUTPOST_TRAP_PORT", "0"),
    )
}

/// `agent.info` lists every component this build has, on or off, with its state: an
/// operator sees what the agent runs without reading its config.
#[tokio::test]
async fn issue12_agent_info_lists_every_component_with_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let a = with_trap_receiver(dir.path());
    let (st, body) = a.submit(json!({"kind": "agent.info"}), Some(5.0)).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        body["output"]["components"],
        json!([
            {"name": "builtins", "state": "running"},
            {"name": "snmp", "state": "running"},
            {"name": "probes", "state": "running"},
            {"name": "host", "state": "running"},
            {"name": "lifecycle", "state": "running"},
            {"name": "update", "state": "running"},
            {"name": "exec", "state": "off"},
            {"name": "connectivity", "state": "off"},
            {"name": "containers", "state": "running"},
            {"name": "schedules", "state": "running"},
            {"name": "traps", "state": "running"},
            {"name": "uplink.mqtt", "state": "off"},
            {"name": "uplink.ws", "state": "off"},
            {"name": "stats", "state": "off"},
            {"name": "api", "state": "running"},
            {"name": "compat.rusty", "state": "off"},
            {"name": "socketman", "state": "off"},
            {"name": "towerops", "state": "off"},
            {"name": "reagent", "state": "off"},
            {"name": "sink.opensearch", "state": "off"},
        ])
    );
    // The kinds are those the components registered, agent.info among them.
    let kinds = body["output"]["kinds"].as_array().unwrap();
    for k in [
        "agent.info",
        "echo",
        "metrics",
        "snmp.get",
        "snmp.poll",
        "ping",
        "sleep",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }
}

/// On SIGTERM the phases run in their declared order, each once, and the store closes
/// after the last: intake (the trap receiver) before the drain, the drain before egress,
/// the API last.
#[tokio::test]
async fn issue12_shutdown_runs_the_phases_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = with_trap_receiver(dir.path());
    let (st, _) = a
        .submit(json!({"kind": "sleep", "params": {"ms": 300}}), None)
        .await;
    assert_eq!(st, 202);
    a.sigterm();
    let status = a.wait_exit(Duration::from_secs(20));
    let log = a.log_text();
    assert!(status.success(), "{status:?}\n{log}");
    let at = |needle: &str| {
        log.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in the log:\n{log}"))
    };
    let phases = [
        at("phase=\"intake\""),
        at("phase=\"drain\""),
        at("phase=\"egress\""),
        at("phase=\"serve\""),
        at("stopped"),
    ];
    assert!(phases.windows(2).all(|w| w[0] < w[1]), "{phases:?}\n{log}");
    assert!(log[phases[0]..].find("traps").is_some(), "{log}");
    // The sleeping job finished in the drain: it is not recorded interrupted.
    assert!(!log.contains("recorded as interrupted"), "{log}");
}

/// Regression: a component that failed to start (here the API, last in the list, on a port
/// already taken) left the ones started before it running and the store unclosed while the
/// process exited. Now they stop in their phases and the store closes (SQLite removes its
/// WAL file only on a clean close) before the error ends the process.
#[test]
fn a_failed_start_stops_what_started_and_closes_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = std::process::Command::new(common::BIN)
        .args(["run", "--data-dir"])
        .arg(&data)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("OUTPOST_TRAP_ENABLED", "true")
        .env("OUTPOST_TRAP_LISTEN", "127.0.0.1")
        .env("OUTPOST_TRAP_PORT", "0")
        .env("LOG_LEVEL", "info")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("api: starting"), "{log}");
    let stopping = log
        .find("start failed: stopping what started")
        .unwrap_or_else(|| panic!("{log}"));
    let intake = log[stopping..]
        .find("phase=\"intake\"")
        .unwrap_or_else(|| panic!("{log}"));
    assert!(log[stopping + intake..].contains("traps"), "{log}");
    assert!(data.join("outpost.db").exists());
    assert!(
        !data.join("outpost.db-wal").exists(),
        "store not closed:\n{log}"
    );
}
