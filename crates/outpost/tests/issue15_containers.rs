//! Issue 15: the container and image job kinds through `outpost run`, against a real
//! dockerd of the test's own (`outpost_test_support::dockerd`: its own data root, exec root
//! and socket; never a system engine) and the `busybox:local` image imported from Debian's
//! busybox-static.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::dockerd::Dockerd;
use common::{wait_for, Agent};
use futures_util::StreamExt;
use serde_json::{json, Value};

/// An agent whose engine is `d` (through `containers.socket`).
fn agent_on(d: &Dockerd, data: &std::path::Path) -> Agent {
    Agent::start(d.agent_options(data))
}

async fn state_of(a: &Agent, name: &str) -> String {
    let out = a.run_ok("container.inspect", json!({"id": name})).await;
    out["State"]["Status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn issue15_every_container_and_image_kind_against_a_real_dockerd() {
    every_kind(&Dockerd::start()).await;
}

/// The same journey against Podman's Docker-compatible service.
#[tokio::test]
async fn issue15_every_container_and_image_kind_against_podman() {
    every_kind(&Dockerd::podman()).await;
}

async fn every_kind(d: &Dockerd) {
    let image = d.busybox();
    let dir = tempfile::tempdir().unwrap();
    // The offline path: a `docker save` archive on the device, loaded by the agent.
    let tar = dir.path().join("busybox.tar");
    d.docker(&["save", "-o", tar.to_str().unwrap(), image]);
    d.docker(&["rmi", image]);
    let a = agent_on(d, &dir.path().join("data"));

    let loaded = a.run_ok("image.load", json!({"path": tar})).await;
    assert!(
        loaded["loaded"].to_string().contains("busybox:local"),
        "{loaded}"
    );
    let images = a.run_ok("image.list", json!({})).await;
    assert!(
        images
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["tags"].to_string().contains("busybox:local")),
        "{images}"
    );

    // run: command, env, labels, a tmpfs mount, limits; started by default.
    let run = a.run_ok("container.run",
        json!({
            "image": image, "name": "web",
            "command": ["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done; echo oops >&2; exec sleep 1000"],
            "env": {"GREETING": "hi"},
            "labels": {"outpost.test": "issue15"},
            "mounts": [{"kind": "tmpfs", "target": "/scratch"}],
            "memory_bytes": 67108864u64, "cpus": 0.5,
            "restart": {"policy": "on-failure", "max_retries": 2}
        }),
    )
    .await;
    let id = run["id"].as_str().unwrap().to_owned();
    assert_eq!(run["started"], true);
    // A second container, created but not started.
    let idle = a
        .run_ok(
            "container.run",
            json!({"image": image, "name": "idle", "command": ["true"], "start": false}),
        )
        .await;
    assert_eq!(idle["started"], false);

    // inspect: what run asked for is what the engine has.
    let insp = a.run_ok("container.inspect", json!({"id": "web"})).await;
    assert_eq!(insp["Id"], id.as_str());
    assert!(
        insp["Config"]["Env"].to_string().contains("GREETING=hi"),
        "{insp}"
    );
    assert_eq!(insp["Config"]["Labels"]["outpost.test"], "issue15");
    assert_eq!(insp["HostConfig"]["Memory"], 67108864);
    assert_eq!(insp["HostConfig"]["NanoCpus"], 500000000);
    assert_eq!(insp["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(insp["State"]["Status"], "running");

    // list: running only by default; `all`, and the label, name and status filters.
    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&a.run_ok("container.list", json!({})).await), ["web"]);
    assert_eq!(
        names(&a.run_ok("container.list", json!({"all": true})).await),
        ["idle", "web"]
    );
    assert_eq!(
        names(
            &a.run_ok("container.list", json!({"label": ["outpost.test=issue15"]}))
                .await
        ),
        ["web"]
    );
    assert_eq!(
        names(
            &a.run_ok("container.list", json!({"name": ["idl"], "all": true}))
                .await
        ),
        ["idle"]
    );
    assert_eq!(
        names(
            &a.run_ok("container.list", json!({"status": ["created"]}))
                .await
        ),
        ["idle"]
    );
    let row = a.run_ok("container.list", json!({"name": ["web"]})).await[0].clone();
    assert_eq!(row["id"], id.as_str());
    // Podman names it fully (docker.io/library/busybox:local).
    assert!(row["image"].as_str().unwrap().ends_with(image), "{row}");
    assert_eq!(row["state"], "running");

    // logs: the history, tail, stderr kept apart, timestamps.
    wait_for(
        "the container's six lines",
        Duration::from_secs(20),
        || async {
            a.run_ok("container.logs", json!({"id": "web"})).await["lines"]
                .as_array()
                .unwrap()
                .len()
                == 6
        },
    )
    .await;
    let all = a.run_ok("container.logs", json!({"id": "web"})).await;
    let lines = all["lines"].as_array().unwrap();
    // In order within a stream (the engine does not order lines across streams).
    let stdout: Vec<&Value> = lines.iter().filter(|l| l["stream"] == "stdout").collect();
    assert_eq!(stdout.len(), 5, "{all}");
    assert_eq!(stdout[0], &json!({"stream": "stdout", "line": "line1"}));
    assert_eq!(stdout[4], &json!({"stream": "stdout", "line": "line5"}));
    assert!(
        lines.contains(&json!({"stream": "stderr", "line": "oops"})),
        "{all}"
    );
    let tail = a
        .run_ok(
            "container.logs",
            json!({"id": "web", "tail": 2, "timestamps": true}),
        )
        .await;
    let tail = tail["lines"].as_array().unwrap();
    assert_eq!(tail.len(), 2, "{tail:?}");
    assert!(
        tail.iter()
            .all(|l| l["ts"].as_str().is_some_and(|t| t.contains('T'))),
        "{tail:?}"
    );
    let future = a
        .run_ok(
            "container.logs",
            json!({"id": "web", "since": 2147483000i64}),
        )
        .await;
    assert_eq!(future["lines"], json!([]), "nothing logged after 2038");

    // stats: one sample with every figure present.
    let st = a.run_ok("container.stats", json!({"id": "web"})).await;
    for k in [
        "cpu_percent",
        "memory_usage_bytes",
        "memory_limit_bytes",
        "network_rx_bytes",
        "network_tx_bytes",
        "block_read_bytes",
        "block_write_bytes",
    ] {
        assert!(st[k].is_number(), "{k}: {st}");
    }
    assert_eq!(st["memory_limit_bytes"], 67108864, "{st}");
    assert!(st["memory_usage_bytes"].as_u64().unwrap() > 0, "{st}");
    assert_eq!(st["name"], "web");

    // stop (busybox sleep as PID 1 ignores SIGTERM: the timeout is what stops it), start,
    // restart, remove.
    let began = Instant::now();
    a.run_ok("container.stop", json!({"id": "web", "timeout_secs": 1}))
        .await;
    assert!(began.elapsed() < Duration::from_secs(20));
    assert_eq!(state_of(&a, "web").await, "exited");
    a.run_ok("container.start", json!({"id": "web"})).await;
    assert_eq!(state_of(&a, "web").await, "running");
    let before =
        a.run_ok("container.inspect", json!({"id": "web"})).await["State"]["StartedAt"].clone();
    a.run_ok("container.restart", json!({"id": "web", "timeout_secs": 0}))
        .await;
    let after = a.run_ok("container.inspect", json!({"id": "web"})).await;
    assert_eq!(after["State"]["Status"], "running");
    assert_ne!(after["State"]["StartedAt"], before, "restarted");
    // Removing a running container needs force.
    let refused = a.run_job("container.remove", json!({"id": "web"})).await;
    assert_eq!(refused["state"], "failed");
    assert_eq!(refused["error"]["code"], "conflict", "{refused}");
    a.run_ok(
        "container.remove",
        json!({"id": "web", "force": true, "volumes": true}),
    )
    .await;
    a.run_ok("container.remove", json!({"id": "idle"})).await;
    assert_eq!(
        names(&a.run_ok("container.list", json!({"all": true})).await),
        Vec::<String>::new()
    );
    let gone = a.run_job("container.inspect", json!({"id": "web"})).await;
    assert_eq!(gone["error"]["code"], "not_found", "{gone}");

    // images: an untagged copy is what prune takes; remove takes the tag.
    let dangling = d.docker(&["import", common::dockerd::busybox_tar().to_str().unwrap()]);
    let pruned = a.run_ok("image.prune", json!({})).await;
    assert!(
        pruned["deleted"]
            .to_string()
            .contains(dangling.rsplit("sha256:").next().unwrap()), // Podman says "sha256:X: sha256:X".
        "{pruned} should delete {dangling}"
    );
    let removed = a.run_ok("image.remove", json!({"image": image})).await;
    assert!(
        removed["untagged"].to_string().contains("busybox:local"),
        "{removed}"
    );
    let gone = a.run_job("image.remove", json!({"image": image})).await;
    assert_eq!(gone["error"]["code"], "not_found", "{gone}");

    // pull: there is no registry here; a pull from a registry that does not answer is a
    // clear error from the engine, and the agent goes on.
    let port = outpost_test_support::ports::free_tcp_port();
    let pull = a
        .run_job(
            "image.pull",
            json!({"image": format!("127.0.0.1:{port}/nothing:1"),
               "auth": {"username": "u", "password": "hunter2-secret"}}),
        )
        .await;
    assert_eq!(pull["state"], "failed", "{pull}");
    assert_eq!(pull["error"]["code"], "engine_error", "{pull}");
    assert!(
        pull["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&port.to_string()),
        "{pull}"
    );
    // The password is in neither the stored job nor the log.
    assert!(!pull.to_string().contains("hunter2-secret"), "{pull}");
    assert!(!a.log_text().contains("hunter2-secret"));
    assert_eq!(a.healthz().await.status(), 200);
}

/// `container.logs` with `follow`: lines become `container.log` events at most
/// `containers.logs_max_lines_per_sec` a second, the rest dropped and counted in
/// /metrics; the job ends at its deadline with a summary, or when cancelled (and then no
/// more lines are sent).
#[tokio::test]
async fn issue15_logs_follow_streams_paced_events_and_stops_at_deadline_or_cancel() {
    logs_follow_streams_paced_events_and_stops_at_deadline_or_cancel(Dockerd::start()).await;
}

/// The same against Podman's Docker-compatible service.
#[tokio::test]
async fn issue15_podman_logs_follow_streams_paced_events_and_stops_at_deadline_or_cancel() {
    logs_follow_streams_paced_events_and_stops_at_deadline_or_cancel(Dockerd::podman()).await;
}

async fn logs_follow_streams_paced_events_and_stops_at_deadline_or_cancel(d: Dockerd) {
    let image = d.busybox();
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(
        d.agent_options(&dir.path().join("data"))
            .env("OUTPOST_CONTAINERS_LOGS_MAX_LINES_PER_SEC", "10"),
    );
    // About 50 lines a second, for ever.
    a.run_ok("container.run",
        json!({"image": image, "name": "ticker",
               "command": ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick$i; sleep 0.02; done"]}),
    )
    .await;
    let mut ws = a.events(0).await;

    // To its deadline: a summary, paced, with drops counted.
    let began = Instant::now();
    let (st, done) = a
        .submit(
            json!({"kind": "container.logs", "params": {"id": "ticker", "follow": true, "tail": 0},
                   "timeout_ms": 3000}),
            Some(30.0),
        )
        .await;
    assert_eq!(st, 200, "{done}");
    assert_eq!(done["state"], "succeeded", "{done}");
    let out = &done["output"];
    assert_eq!(out["stopped"], "deadline", "{done}");
    assert!(began.elapsed() < Duration::from_secs(10));
    let sent = out["lines_sent"].as_u64().unwrap();
    let dropped = out["lines_dropped"].as_u64().unwrap();
    // 10/s over ~3 s, plus a burst of one second's worth.
    assert!((10..=45).contains(&sent), "{done}");
    assert!(dropped > 20, "{done}");
    a.wait_metric(
        "dropped lines counted",
        "outpost_container_log_lines_dropped_total",
        |v| v >= dropped as f64,
    )
    .await;
    let job1 = done["id"].as_str().unwrap().to_owned();
    let mut seen = 0u64;
    let end = Instant::now() + Duration::from_secs(20);
    while seen < sent {
        let msg = tokio::time::timeout(end.saturating_duration_since(Instant::now()), ws.next())
            .await
            .expect("every sent line as an event")
            .unwrap()
            .unwrap();
        let row: Value = serde_json::from_str(&msg.into_text().unwrap()).unwrap();
        let item = &row["item"];
        if item["kind"] == "container.log" && item["payload"]["job"] == job1.as_str() {
            assert_eq!(item["payload"]["container"], "ticker");
            assert!(
                item["payload"]["line"]
                    .as_str()
                    .unwrap()
                    .starts_with("tick"),
                "{item}"
            );
            seen += 1;
        }
    }

    // Cancelled: the job says so, and its lines stop.
    let id = a
        .submit_accepted(json!({"kind": "container.logs",
                                "params": {"id": "ticker", "follow": true, "tail": 0},
                                "timeout_ms": 60000}))
        .await;
    let mut live = 0;
    while live < 5 {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("followed lines")
            .unwrap()
            .unwrap();
        let row: Value = serde_json::from_str(&msg.into_text().unwrap()).unwrap();
        if row["item"]["kind"] == "container.log" && row["item"]["payload"]["job"] == id.as_str() {
            live += 1;
        }
    }
    let r = a.delete(&format!("/v1/jobs/{id}")).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    wait_for(
        "the job to be cancelled",
        Duration::from_secs(10),
        || async { a.job(&id).await["state"] == "cancelled" },
    )
    .await;
    // A marker after the cancel, then a second one half a second later: no line of the
    // cancelled job may come between them.
    let marker = |ms: u64| json!({"kind": "sleep", "params": {"ms": ms}});
    let m1 = a.submit(marker(1), Some(10.0)).await.1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let m2 = a.submit(marker(500), Some(10.0)).await.1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (mut after_m1, mut in_window) = (false, 0);
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("the markers' results")
            .unwrap()
            .unwrap();
        let row: Value = serde_json::from_str(&msg.into_text().unwrap()).unwrap();
        let item = &row["item"];
        let about = |j: &str| item.to_string().contains(j);
        if about(&m2) && item["kind"] != "container.log" {
            break;
        }
        if about(&m1) && item["kind"] != "container.log" {
            after_m1 = true;
        }
        if after_m1 && item["kind"] == "container.log" && item["payload"]["job"] == id.as_str() {
            in_window += 1;
        }
    }
    assert_eq!(in_window, 0, "lines of a cancelled follow kept coming");
    assert_eq!(a.healthz().await.status(), 200);
}

/// `image.pull` from a real registry (Debian's docker-registry on loopback): the image
/// arrives, progress comes as `image.pull` events, and registry credentials are redacted
/// from the stored job.
#[tokio::test]
async fn issue15_image_pull_from_a_local_registry_sends_progress_events() {
    image_pull_from_a_local_registry_sends_progress_events(|_| Dockerd::start()).await;
}

/// The same against Podman's Docker-compatible service.
#[tokio::test]
async fn issue15_podman_image_pull_from_a_local_registry_sends_progress_events() {
    image_pull_from_a_local_registry_sends_progress_events(|reg| {
        Dockerd::podman_trusting(Some(reg))
    })
    .await;
}

async fn image_pull_from_a_local_registry_sends_progress_events(
    engine: impl FnOnce(&str) -> Dockerd,
) {
    let reg = outpost_test_support::registry::Registry::start();
    let d = engine(&reg.addr);
    let image = d.busybox();
    let remote = format!("{}/outpost/busybox:1", reg.addr);
    d.docker(&["tag", image, &remote]);
    d.docker(&["push", &remote]);
    d.docker(&["rmi", &remote, image]);
    let dir = tempfile::tempdir().unwrap();
    // The disk guard off: its default (10% free) is above what some machines this suite
    // runs on have, and it has its own suite (issue15_container_disk_guard).
    let a = Agent::start(d.agent_options(&dir.path().join("data")));
    let mut ws = a.events(0).await;

    let j = a.run_job("image.pull",
        json!({"image": remote, "auth": {"username": "u", "password": "s3cret-pw", "server": reg.addr}}),
    )
    .await;
    assert_eq!(j["state"], "succeeded", "{j}");
    let status = j["output"]["status"].as_str().unwrap();
    // Docker ends with "Status: Downloaded newer image for ...", Podman with "Download
    // complete"; that the image is there is checked below.
    assert!(status.contains("Download"), "{j}");
    assert!(j["output"]["progress_events"].as_u64().unwrap() >= 1, "{j}");
    let stored = a.job(j["id"].as_str().unwrap()).await;
    assert!(!stored.to_string().contains("s3cret-pw"), "{stored}");
    assert!(!a.log_text().contains("s3cret-pw"));
    let images = a.run_ok("image.list", json!({})).await;
    assert!(images.to_string().contains(&remote), "{images}");

    let job_id = j["id"].as_str().unwrap().to_owned();
    let end = Instant::now() + Duration::from_secs(20);
    let progress = loop {
        let msg = tokio::time::timeout(end.saturating_duration_since(Instant::now()), ws.next())
            .await
            .expect("an image.pull event")
            .unwrap()
            .unwrap();
        let row: Value = serde_json::from_str(&msg.into_text().unwrap()).unwrap();
        if row["item"]["kind"] == "image.pull" && row["item"]["payload"]["job"] == job_id.as_str() {
            break row["item"]["payload"].clone();
        }
    };
    assert_eq!(progress["image"], remote.as_str(), "{progress}");
    assert!(progress["status"].is_string(), "{progress}");
    assert!(!progress.to_string().contains("s3cret-pw"));

    // Pulled and runnable.
    let run = a
        .run_ok(
            "container.run",
            json!({"image": remote, "command": ["echo", "pulled"]}),
        )
        .await;
    assert!(run["id"].is_string());
}
