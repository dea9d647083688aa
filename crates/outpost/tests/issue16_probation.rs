//! Issue 16 §3: an update's probation and rollback, through `outpost run` on copies of the
//! test binary. The "new version" is the same build restamped with another version string
//! (`outpost::version::stamp`); the swap's result (the new binary at the path, the previous
//! one beside it, the marker) is laid out as the updater leaves it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{wait_for, Agent, Options, BIN};
use outpost::probation::{self, Pending};

const NEW: &str = "0.2.0-test";
const OLD: &str = env!("CARGO_PKG_VERSION");

struct Layout {
    _dir: tempfile::TempDir,
    binary: PathBuf,
    previous: PathBuf,
    data: PathBuf,
    original: Vec<u8>,
    new: Vec<u8>,
}

/// The swap done: the new version at `bin/outpost`, the previous one at `bin/outpost.prev`,
/// and the marker in the data directory.
fn swapped(probation_ms: u64) -> Layout {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let original = std::fs::read(BIN).unwrap();
    let new = outpost::version::stamp(&original, NEW).unwrap();
    let binary = bin.join("outpost");
    let previous = bin.join("outpost.prev");
    for (p, b) in [(&binary, &new), (&previous, &original)] {
        std::fs::write(p, b).unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let data = dir.path().join("data");
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&data)
        .unwrap();
    begin_probation(&data, &binary, &previous, probation_ms);
    Layout {
        _dir: dir,
        binary,
        previous,
        data,
        original,
        new,
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The agent on `l.binary`, on a fixed port (a restart into another binary keeps it).
fn start(l: &Layout, port: u16, extra: &[(&str, &str)]) -> Agent {
    let mut o = Options::new(&l.data)
        .binary(&l.binary)
        .env("OUTPOST_API_LISTEN", &format!("127.0.0.1:{port}"));
    for (k, v) in extra {
        o = o.env(k, v);
    }
    Agent::start(o)
}

/// Waits until the previous binary has been moved back over the new one.
async fn rolled_back(l: &Layout, within: Duration) {
    wait_for("the previous binary back in place", within, || async {
        !l.previous.exists()
    })
    .await;
}

fn marker_gone(data: &Path) -> bool {
    !data.join(probation::MARKER_FILE).exists()
}

#[tokio::test]
async fn issue16_probation_a_new_version_that_proves_healthy_is_confirmed_and_reported() {
    let l = swapped(30_000);
    let port = common::free_tcp_port();
    let a = start(&l, port, &[]);
    let mut ws = a.events(0).await;
    let ev = common::update_outcome(&mut ws, Duration::from_secs(20)).await;
    assert_eq!(ev["outcome"], "updated", "{ev}");
    assert_eq!(ev["from"], OLD, "{ev}");
    assert_eq!(ev["to"], NEW, "{ev}");
    common::wait_version(port, NEW, Duration::from_secs(5)).await;
    assert!(marker_gone(&l.data));
    assert_eq!(std::fs::read(&l.binary).unwrap(), l.new);
}

#[tokio::test]
async fn issue16_probation_a_new_version_never_healthy_rolls_back_by_itself_and_says_why() {
    // An MQTT uplink to a port nothing listens on: the new version never connects.
    let dead = common::free_tcp_port();
    let l = swapped(3_000);
    let port = common::free_tcp_port();
    let broker = format!("mqtt://127.0.0.1:{dead}");
    let a = start(&l, port, &[("OUTPOST_UPLINK_MQTT_URL", &broker)]);
    // The probation (3 s, at least 5 s to start in) ends: the previous binary is put back
    // and the agent restarts into it, on the same port.
    common::wait_version(port, OLD, Duration::from_secs(40)).await;
    let mut ws = a.events(0).await;
    let ev = common::update_outcome(&mut ws, Duration::from_secs(20)).await;
    assert_eq!(ev["outcome"], "rolled_back", "{ev}");
    assert_eq!(ev["to"], NEW, "{ev}");
    let reason = ev["reason"].as_str().unwrap();
    assert!(
        reason.contains("not healthy") && reason.contains("uplink not connected: mqtt"),
        "{ev}"
    );
    assert_eq!(std::fs::read(&l.binary).unwrap(), l.original);
    assert!(!l.previous.exists(), "the previous binary moved back");
    wait_for("the marker removed", Duration::from_secs(10), || async {
        marker_gone(&l.data)
    })
    .await;
}

#[tokio::test]
async fn issue16_probation_a_new_version_killed_during_probation_is_rolled_back_at_its_next_start()
{
    let dead = common::free_tcp_port();
    let l = swapped(120_000);
    let port = common::free_tcp_port();
    let broker = format!("mqtt://127.0.0.1:{dead}");
    let mut a = start(&l, port, &[("OUTPOST_UPLINK_MQTT_URL", &broker)]);
    common::wait_version(port, NEW, Duration::from_secs(10)).await;
    a.kill9();
    drop(a);
    // Started again (by an operator, or systemd's Restart=): the second start of the new
    // version during its probation means it died; the previous binary runs instead.
    let a = start(&l, port, &[("OUTPOST_UPLINK_MQTT_URL", &broker)]);
    common::wait_version(port, OLD, Duration::from_secs(20)).await;
    let mut ws = a.events(0).await;
    let ev = common::update_outcome(&mut ws, Duration::from_secs(20)).await;
    assert_eq!(ev["outcome"], "rolled_back", "{ev}");
    assert!(
        ev["reason"]
            .as_str()
            .unwrap()
            .contains("started again during its probation"),
        "{ev}"
    );
    assert_eq!(std::fs::read(&l.binary).unwrap(), l.original);
}

/// The agent under `outpost run --supervised`, on the original binary at `bin/outpost`;
/// then the update laid out as the updater leaves it, with `new` (a script here: a binary
/// that cannot run our code) as the new version, and the agent asked to restart into it.
async fn supervised_update_to(new: &str, probation_ms: u64) -> (Agent, Layout, u16) {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let original = std::fs::read(BIN).unwrap();
    let binary = bin.join("outpost");
    let previous = bin.join("outpost.prev");
    std::fs::write(&binary, &original).unwrap();
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("data");
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&data)
        .unwrap();
    let port = common::free_tcp_port();
    let a = Agent::start(
        Options::new(&data)
            .binary(&binary)
            .arg("--supervised")
            .env("OUTPOST_API_LISTEN", &format!("127.0.0.1:{port}")),
    );
    common::wait_version(port, OLD, Duration::from_secs(10)).await;
    // The swap: the previous binary kept beside, the new one renamed over the path.
    std::fs::copy(&binary, &previous).unwrap();
    let staged = bin.join("outpost.new");
    std::fs::write(&staged, new).unwrap();
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&staged, &binary).unwrap();
    begin_probation(&data, &binary, &previous, probation_ms);
    a.submit_accepted(serde_json::json!({"kind": "agent.restart", "params": {}}))
        .await;
    let l = Layout {
        _dir: dir,
        binary,
        previous,
        data,
        new: new.as_bytes().to_vec(),
        original,
    };
    (a, l, port)
}

#[tokio::test]
async fn issue16_supervised_a_new_binary_that_exits_at_start_is_replaced_by_the_previous_one() {
    let (a, l, port) = supervised_update_to("#!/bin/sh\nexit 3\n", 60_000).await;
    // The supervisor sees the new binary exit during its probation, puts the previous
    // one back and starts it; the previous version reports why.
    rolled_back(&l, Duration::from_secs(30)).await;
    common::wait_version(port, OLD, Duration::from_secs(30)).await;
    let mut ws = a.events(0).await;
    let ev = common::update_outcome(&mut ws, Duration::from_secs(20)).await;
    assert_eq!(ev["outcome"], "rolled_back", "{ev}");
    assert!(
        ev["reason"]
            .as_str()
            .unwrap()
            .contains("exited during its probation")
            && ev["reason"].as_str().unwrap().contains('3'),
        "{ev}"
    );
    assert_eq!(std::fs::read(&l.binary).unwrap(), l.original);
    assert!(!l.previous.exists());
    wait_for("the marker removed", Duration::from_secs(10), || async {
        marker_gone(&l.data)
    })
    .await;
    assert_ne!(l.new, l.original);
}

#[tokio::test]
async fn issue16_supervised_a_new_binary_that_never_becomes_healthy_is_replaced_by_the_previous_one(
) {
    // It starts and stays up, but never runs our code: only the supervisor can act.
    let (a, l, port) = supervised_update_to("#!/bin/sh\nexec sleep 600\n", 2_000).await;
    // The probation (2 s) and the supervisor's grace (5 s) pass.
    rolled_back(&l, Duration::from_secs(40)).await;
    common::wait_version(port, OLD, Duration::from_secs(30)).await;
    let mut ws = a.events(0).await;
    let ev = common::update_outcome(&mut ws, Duration::from_secs(20)).await;
    assert_eq!(ev["outcome"], "rolled_back", "{ev}");
    assert!(
        ev["reason"]
            .as_str()
            .unwrap()
            .contains("the supervisor stopped it"),
        "{ev}"
    );
    assert_eq!(std::fs::read(&l.binary).unwrap(), l.original);
}

/// The marker an update leaves before its restart: OLD to NEW at `binary`, `previous` kept.
fn begin_probation(data: &Path, binary: &Path, previous: &Path, probation_ms: u64) {
    probation::begin(
        data,
        &Pending {
            from: OLD.into(),
            to: NEW.into(),
            binary: binary.to_path_buf(),
            previous: previous.to_path_buf(),
            probation_ms,
            started_ms: now_ms(),
            attempts: 0,
            rolled_back: None,
        },
    )
    .unwrap();
}
