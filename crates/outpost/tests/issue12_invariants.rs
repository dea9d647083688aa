//! Issue 12: the invariants of ARCHITECTURE.md that had no guard of their own.
//! - 1, only the edges know wire formats: the core and the SNMP engine depend on no
//!   transport or protocol crate, read from `cargo metadata`.
//! - 6, idle means idle: with every component on (API, MQTT and WebSocket uplinks connected,
//!   trap receiver, stats push), an idle agent uses no CPU tick and barely wakes up.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use common::{
    mosquitto::Broker,
    phoenix::{Mode, Server},
    Agent, Options,
};

/// Crates that speak a transport or a wire protocol. The core and the engines must reach
/// none of them, directly or through another crate.
const WIRE_CRATES: &[&str] = &[
    "axum",
    "axum-server",
    "hyper",
    "http",
    "tungstenite",
    "tokio-tungstenite",
    "rumqttc",
    "reqwest",
    "utoipa",
    "prost",
    "outpost-proto",
];

/// Transitive normal (not dev, not build) dependencies of each workspace package, by name.
fn normal_deps() -> BTreeMap<String, BTreeSet<String>> {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        // Only this platform's crates: the others (Windows consoles...) are not downloaded.
        .args([
            "--filter-platform",
            &format!("{}-unknown-linux-gnu", std::env::consts::ARCH),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let name_of: BTreeMap<String, String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut direct: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let id = node["id"].as_str().unwrap().to_owned();
        let deps = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["kind"].is_null())
            })
            .map(|d| d["pkg"].as_str().unwrap().to_owned())
            .collect();
        direct.insert(id, deps);
    }
    let mut out = BTreeMap::new();
    for (id, name) in &name_of {
        if !meta["workspace_members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == id.as_str())
        {
            continue;
        }
        let mut seen = BTreeSet::new();
        let mut todo = vec![id.clone()];
        while let Some(next) = todo.pop() {
            for d in direct.get(&next).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        out.insert(
            name.clone(),
            seen.iter().map(|d| name_of[d].clone()).collect(),
        );
    }
    out
}

#[test]
fn issue12_core_and_engines_depend_on_no_wire_format_crate() {
    let deps = normal_deps();
    for krate in ["outpost-core", "outpost-snmp"] {
        let reached: Vec<&String> = deps[krate]
            .iter()
            .filter(|d| WIRE_CRATES.contains(&d.as_str()))
            .collect();
        assert!(
            reached.is_empty(),
            "{krate} reaches wire-format crates {reached:?}: only the edges may"
        );
    }
    // The check can fail: the binary, an edge, does reach them.
    assert!(deps["outpost"].contains("axum") && deps["outpost"].contains("rumqttc"));
}

/// utime + stime of every thread, in clock ticks, and context switches of every thread.
fn cpu_and_wakeups(pid: i32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    let mut switches = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        for line in status.lines() {
            if let Some(v) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                switches += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    (ticks, switches)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_idle_agent_with_every_component_on_uses_no_cpu() {
    let broker = Broker::start();
    let server = Server::start("cp-token", Mode::Normal).await;
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(
        Options::new(dir.path())
            .env("OUTPOST_AGENT_ID", "idle-1")
            .env("OUTPOST_UPLINK_MQTT_URL", &broker.url())
            .env("OUTPOST_UPLINK_MQTT_KEEPALIVE_SECS", "120")
            .env("OUTPOST_UPLINK_WS_URL", &server.url())
            .env("OUTPOST_UPLINK_WS_INSECURE", "true")
            .env("OUTPOST_UPLINK_WS_TOKEN", "cp-token")
            // Timers an operator would set for a quiet link; the idle window sits between
            // their ticks, so anything that runs in it is work nobody asked for.
            .env("OUTPOST_UPLINK_HEARTBEAT_MS", "120000")
            .env("OUTPOST_UPLINK_READ_TIMEOUT_MS", "300000")
            .env("OUTPOST_TRAP_ENABLED", "true")
            .env("TRAP_PORT", "0")
            .env("OUTPOST_TRAP_LISTEN", "127.0.0.1")
            .env("OUTPOST_STATS_URL", "http://127.0.0.1:9/stats")
            .env("OUTPOST_STATS_INTERVAL_SECS", "3600"),
    );
    a.wait_connected("mqtt").await;
    a.wait_connected("ws").await;
    // Let start-up work (the first stats snapshot, greetings) finish: the process is
    // settled once a one-second window shows no tick and no wake-up (20 s at most).
    let pid = a.pid();
    let end = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let before = cpu_and_wakeups(pid);
        tokio::time::sleep(Duration::from_secs(1)).await;
        if cpu_and_wakeups(pid) == before {
            break;
        }
        assert!(std::time::Instant::now() < end, "the agent never settled");
    }
    let (t0, w0) = cpu_and_wakeups(pid);
    // A measured idle period: this is what is measured, not a synchronization.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (t1, w1) = cpu_and_wakeups(pid);
    assert_eq!(t1 - t0, 0, "CPU ticks used while idle for 10 s");
    assert!(
        w1 - w0 <= 4,
        "{} context switches while idle for 10 s: something polls",
        w1 - w0
    );
}

/// Invariant 2's second half, read where operators read it: rows an outbox limit drops
/// before a consumer acknowledged them are counted in `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_outbox_rows_dropped_by_a_limit_are_counted_in_metrics() {
    let dir = tempfile::tempdir().unwrap();
    // An uplink whose broker never answers: its consumer is registered and acknowledges
    // nothing, so every row over the limit is a real loss.
    let a = Agent::start(
        Options::new(dir.path())
            .env("OUTPOST_UPLINK_MQTT_URL", "mqtt://127.0.0.1:9")
            .env("OUTPOST_STORE_OUTBOX_MAX_ROWS", "5"),
    );
    for i in 0..20 {
        let (status, _) = a
            .submit(serde_json::json!({"kind": "echo", "params": i}), Some(5.0))
            .await;
        assert_eq!(status, 200);
    }
    // Trimming runs after writes, at most once a second: keep writing until it has.
    common::wait_for(
        "the drop to be counted on /metrics",
        Duration::from_secs(20),
        || async {
            a.submit(
                serde_json::json!({"kind": "echo", "params": "more"}),
                Some(5.0),
            )
            .await;
            common::metric(&a.metrics().await, "outpost_outbox_dropped_total") >= 15.0
        },
    )
    .await;
    let m = a.metrics().await;
    let dropped = common::metric(&m, "outpost_outbox_dropped_total");
    let depth = common::metric(&m, "outpost_outbox_depth");
    assert!(depth <= 6.0, "the limit holds: depth {depth}");
    assert!(dropped >= 15.0, "{dropped}");
}
