//! Issue 15 §4: the disk guard against a real dockerd of the test's own. No small
//! filesystem is needed: the threshold is a setting, so a threshold above the data root's
//! free space trips the guard on any disk, and one below it does not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::dockerd::Dockerd;
use common::Agent;
use futures_util::StreamExt;
use serde_json::{json, Value};

fn agent_with_guard(d: &Dockerd, data: &std::path::Path, pct: &str) -> Agent {
    Agent::start(
        d.agent_options(data)
            .env("OUTPOST_CONTAINERS_DISK_GUARD_PCT", pct),
    )
}

async fn pull(a: &Agent, image: &str) -> Value {
    let (st, j) = a
        .submit(
            json!({"kind": "image.pull", "params": {"image": image}, "timeout_ms": 30000}),
            Some(30.0),
        )
        .await;
    assert_eq!(st, 200, "{j}");
    j
}

/// The engine's data root, as `docker info` gives it.
fn data_root(d: &Dockerd) -> String {
    d.docker(&["info", "-f", "{{.DockerRootDir}}"])
}

#[tokio::test]
async fn issue15_disk_guard_refuses_pulls_with_disk_full_emits_disk_low_and_prunes_only_outposts() {
    guard_trips(Dockerd::start()).await;
}

#[tokio::test]
async fn issue15_podman_disk_guard_refuses_pulls_with_disk_full_and_prunes_only_outposts() {
    guard_trips(Dockerd::podman()).await;
}

async fn guard_trips(d: Dockerd) {
    let image = d.busybox();
    // Stopped containers: one Outpost owns (labelled outpost.app), one it does not.
    d.docker(&[
        "run",
        "--name",
        "owned-done",
        "--label",
        "outpost.app=demo",
        image,
        "true",
    ]);
    d.docker(&["run", "--name", "theirs-done", image, "true"]);
    let dir = tempfile::tempdir().unwrap();
    // 100%: below it on any disk that holds anything.
    let a = agent_with_guard(&d, &dir.path().join("data"), "100");
    let mut ws = a.events(0).await;

    let j = pull(&a, "127.0.0.1:9/none/busybox:1").await;
    assert_eq!(j["state"], "failed", "{j}");
    assert_eq!(j["error"]["code"], "disk_full", "{j}");
    let m = j["error"]["message"].as_str().unwrap();
    assert!(
        m.contains(&data_root(&d)) && m.contains("disk_guard_pct"),
        "{j}"
    );

    // The event, in the outbox, with what the prune removed.
    let end = Instant::now() + Duration::from_secs(20);
    let ev = loop {
        let msg = tokio::time::timeout(end.saturating_duration_since(Instant::now()), ws.next())
            .await
            .expect("a containers.disk_low event")
            .unwrap()
            .unwrap();
        let row: Value = serde_json::from_str(&msg.into_text().unwrap()).unwrap();
        if row["item"]["kind"] == "containers.disk_low" {
            break row["item"]["payload"].clone();
        }
    };
    assert_eq!(ev["root"], data_root(&d).as_str(), "{ev}");
    assert_eq!(ev["threshold_pct"], 100.0, "{ev}");
    let theirs = d.docker(&["inspect", "-f", "{{.Id}}", "theirs-done"]);
    assert!(
        !ev["pruned"]["containers"].to_string().contains(&theirs),
        "{ev}"
    );
    assert_eq!(
        ev["pruned"]["containers"].as_array().unwrap().len(),
        1,
        "{ev}"
    );
    // The one Outpost owns is gone; the other stays.
    let all = d.docker(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!all.contains("owned-done"), "{all}");
    assert!(all.contains("theirs-done"), "{all}");

    // Still low: still refused.
    let j = pull(&a, "127.0.0.1:9/none/busybox:1").await;
    assert_eq!(j["error"]["code"], "disk_full", "{j}");
}

#[tokio::test]
async fn issue15_disk_guard_below_the_free_space_lets_pulls_through() {
    let d = Dockerd::start();
    let free = outpost_containers::disk::free_pct(std::path::Path::new(&data_root(&d))).unwrap();
    // The default (10%) is above the free space of some machines this suite runs on, so the
    // threshold here is taken under what the data root really has.
    let under = (free.floor() as u64).saturating_sub(1).max(1);
    assert!(
        free > under as f64,
        "the data root has {free:.2}% free: too little to show a guard that does not trip"
    );
    let dir = tempfile::tempdir().unwrap();
    let a = agent_with_guard(&d, &dir.path().join("data"), &under.to_string());
    // Nothing listens there: the pull fails, but on the registry, not on the guard.
    let j = pull(&a, "127.0.0.1:9/none/busybox:1").await;
    assert_eq!(j["state"], "failed", "{j}");
    assert_ne!(j["error"]["code"], "disk_full", "{j}");
}
