//! Issue 15 §5: the running containers' figures on `/metrics`, with cAdvisor's names,
//! collected on scrape against a real dockerd of the test's own (never a system engine).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::dockerd::Dockerd;
use common::{metric, Agent};
use serde_json::json;

fn agent_on(d: &Dockerd, data: &std::path::Path, env: &[(&str, &str)]) -> Agent {
    let mut o = d.agent_options(data);
    for (k, v) in env {
        o = o.env(k, v);
    }
    Agent::start(o)
}

/// The cAdvisor label set of one container, as `/metrics` writes it.
fn labels(d: &Dockerd, name: &str, image: &str) -> String {
    let id = d.docker(&["inspect", "-f", "{{.Id}}", name]);
    format!("{{id=\"{id}\",name=\"{name}\",image=\"{image}\"}}")
}

/// Names that have a `container_last_seen` row.
fn seen(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("container_last_seen{"))
        .filter_map(|l| {
            let rest = l.split("name=\"").nth(1)?;
            Some(rest.split('"').next()?.to_owned())
        })
        .collect()
}

#[tokio::test]
async fn issue15_running_containers_on_metrics_with_cadvisor_names_stopped_ones_absent() {
    let d = Dockerd::start();
    let image = d.busybox();
    // Some CPU time and some memory before it sleeps, so its figures are not all zero.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "m-busy",
        image,
        "sh",
        "-c",
        "dd if=/dev/zero of=/dev/null bs=1k count=200000; exec sleep 1000",
    ]);
    d.docker(&["run", "--name", "m-stopped", image, "true"]);
    let dir = tempfile::tempdir().unwrap();
    let a = agent_on(&d, &dir.path().join("data"), &[]);
    let pid = u32::try_from(a.pid()).unwrap();

    // Default (containers.metrics off) and no container job yet: a scrape does not open
    // the engine's socket, and shows no container figures.
    let text = a.metrics().await;
    assert!(text.contains("node_load1"), "host metrics are served");
    assert!(!text.contains("container_last_seen{"), "{text}");
    assert_eq!(
        d.connections_from(pid),
        0,
        "a scrape opened the engine's socket"
    );
    assert_eq!(
        metric(&text, "outpost_container_metrics_failures_total"),
        0.0
    );

    // A container job connects the engine; from then on each scrape carries the figures.
    let (st, j) = a
        .submit(json!({"kind": "container.list", "params": {}}), Some(30.0))
        .await;
    assert_eq!((st, j["state"].as_str()), (200, Some("succeeded")), "{j}");
    let busy = labels(&d, "m-busy", image);
    // dd is done once the container sleeps; wait on its CPU time, not on a clock.
    common::wait_for(
        "m-busy's CPU time on /metrics",
        Duration::from_secs(30),
        || async {
            metric(
                &a.metrics().await,
                &format!("container_cpu_usage_seconds_total{busy}"),
            ) > 0.0
        },
    )
    .await;
    let text = a.metrics().await;
    let cpu = metric(&text, &format!("container_cpu_usage_seconds_total{busy}"));
    assert!(cpu > 0.0 && cpu < 3600.0, "cpu seconds {cpu}");
    let mem = metric(&text, &format!("container_memory_usage_bytes{busy}"));
    assert!(mem > 0.0 && mem < 4e9, "memory {mem}\n{text}");
    let ws = metric(&text, &format!("container_memory_working_set_bytes{busy}"));
    assert!(ws > 0.0 && ws <= mem, "working set {ws} vs usage {mem}");
    // No network (the test engine runs --bridge=none), but the rows are there.
    assert!(
        text.contains(&format!("container_network_receive_bytes_total{busy}")),
        "{text}"
    );
    assert!(text.contains(&format!("container_network_transmit_bytes_total{busy}")));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let last = metric(&text, &format!("container_last_seen{busy}"));
    assert!((now - last).abs() < 60.0, "last seen {last}, now {now}");
    // The stopped container has no row at all.
    assert!(!text.contains("m-stopped"), "{text}");
    assert_eq!(seen(&text), vec!["m-busy".to_owned()]);
}

#[tokio::test]
async fn issue15_container_metrics_are_bounded_and_a_frozen_engine_does_not_hang_the_scrape() {
    let d = Dockerd::start();
    let image = d.busybox();
    for n in ["b-1", "b-2", "b-3", "b-4"] {
        d.docker(&["run", "-d", "--name", n, image, "sleep", "1000"]);
    }
    let dir = tempfile::tempdir().unwrap();
    let a = agent_on(
        &d,
        &dir.path().join("data"),
        &[
            // On from the first scrape, without any container job.
            ("OUTPOST_CONTAINERS_METRICS", "true"),
            ("OUTPOST_CONTAINERS_METRICS_MAX_CONTAINERS", "2"),
            ("OUTPOST_CONTAINERS_METRICS_TIMEOUT_MS", "2000"),
        ],
    );
    let text = a.metrics().await;
    // The first two by name; the other two counted, not shown.
    assert_eq!(
        seen(&text),
        vec!["b-1".to_owned(), "b-2".to_owned()],
        "{}",
        text.lines()
            .filter(|l| l.contains("container"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(
        metric(&text, "outpost_container_metrics_dropped_total"),
        2.0
    );
    assert_eq!(
        metric(&text, "outpost_container_metrics_failures_total"),
        0.0
    );

    // A frozen engine: the scrape is served within its budget, host figures and all.
    d.freeze();
    let began = Instant::now();
    let text = a.metrics().await;
    let took = began.elapsed();
    d.thaw();
    assert!(took < Duration::from_secs(5), "the scrape took {took:?}");
    assert!(text.contains("node_load1"), "{text}");
    assert!(!text.contains("container_last_seen{"), "{text}");
    assert_eq!(
        metric(&text, "outpost_container_metrics_failures_total"),
        1.0
    );
    // Thawed, the figures are back.
    common::wait_for(
        "container figures after the thaw",
        Duration::from_secs(20),
        || async { seen(&a.metrics().await).len() == 2 },
    )
    .await;
}

/// The same figures from Podman's Docker-compatible service.
#[tokio::test]
async fn issue15_podman_running_containers_on_metrics_stopped_ones_absent() {
    let d = Dockerd::podman();
    let image = d.busybox();
    d.docker(&["run", "-d", "--name", "p-busy", image, "sleep", "1000"]);
    d.docker(&["run", "--name", "p-stopped", image, "true"]);
    let dir = tempfile::tempdir().unwrap();
    let a = agent_on(
        &d,
        &dir.path().join("data"),
        &[
            ("OUTPOST_CONTAINERS_METRICS", "true"),
            ("OUTPOST_CONTAINERS_METRICS_TIMEOUT_MS", "10000"),
        ],
    );
    let text = a.metrics().await;
    assert_eq!(seen(&text), vec!["p-busy".to_owned()], "{text}");
    assert!(!text.contains("p-stopped"), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("container_memory_usage_bytes{") && l.contains("p-busy"))
        .unwrap_or_else(|| panic!("{text}"));
    let mem: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(mem > 0.0 && mem < 4e9, "{line}");
    assert_eq!(
        metric(&text, "outpost_container_metrics_failures_total"),
        0.0
    );
}
