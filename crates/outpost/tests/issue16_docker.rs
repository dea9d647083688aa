//! Issue 16 §5: the Docker image (`packaging/docker/Dockerfile`) builds on a local engine, and
//! a container from it runs as its unprivileged user with CAP_NET_RAW, turns healthy through
//! its own HEALTHCHECK, and runs an SNMP job against snmpd on the host.
//! The image is built by test-support `image::build` (no registry: the base image is made
//! from this host's own files) on a dockerd of the test's own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{fs, path::Path, time::Duration};

use common::dockerd::Dockerd;
use common::{wait_until, BIN};
use outpost_test_support::{image, ports::free_tcp_port, snmpd::Snmpd};
use serde_json::{json, Value};

fn docker(d: &Dockerd, args: &[&str]) -> String {
    d.docker(args)
}

fn inspect(d: &Dockerd, what: &str, format: &str) -> String {
    docker(d, &["inspect", "-f", format, what])
}

#[tokio::test]
async fn issue16_docker_image_builds_runs_healthy_and_polls_snmp() {
    let work = tempfile::tempdir().unwrap();
    let d = Dockerd::start();
    image::build(&d, Path::new(BIN), work.path(), "outpost:test");
    let version = env!("CARGO_PKG_VERSION");

    // What the image declares: OCI labels, the unprivileged user, the volume, the check.
    let labels: Value =
        serde_json::from_str(&inspect(&d, "outpost:test", "{{json .Config.Labels}}")).unwrap();
    assert_eq!(labels["org.opencontainers.image.version"], version);
    assert_eq!(labels["org.opencontainers.image.title"], "outpost");
    assert_eq!(
        inspect(&d, "outpost:test", "{{.Config.User}}"),
        "10001:10001"
    );
    assert!(inspect(&d, "outpost:test", "{{json .Config.Volumes}}").contains("\"/data\""));
    assert!(inspect(&d, "outpost:test", "{{json .Config.Healthcheck}}").contains("/healthz"));

    // Host networking (this engine has no bridge), the API on a free loopback port.
    let port = free_tcp_port();
    docker(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "outpost",
            "--network",
            "host",
            "--health-interval",
            "1s",
            "--health-start-period",
            "30s",
            "-e",
            &format!("OUTPOST_API_LISTEN=127.0.0.1:{port}"),
            "-e",
            &format!("OUTPOST_HEALTH_PORT={port}"),
            "outpost:test",
        ],
    );
    wait_until(
        "the container's HEALTHCHECK",
        Duration::from_secs(60),
        || {
            let status = inspect(&d, "outpost", "{{.State.Health.Status}}");
            let running = inspect(&d, "outpost", "{{.State.Running}}");
            assert!(
                running == "true",
                "the container stopped: {}",
                String::from_utf8_lossy(&d.docker_output(&["logs", "outpost"]).stderr)
            );
            status == "healthy"
        },
    );

    // The agent runs as outpost (10001) with CAP_NET_RAW (bit 13) effective, from the
    // file capability on its binary.
    let pid = inspect(&d, "outpost", "{{.State.Pid}}");
    let proc_status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        proc_status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} not in {proc_status}"))
            .trim()
            .to_string()
    };
    assert!(field("Uid:").starts_with("10001"), "{proc_status}");
    let cap_eff = u64::from_str_radix(&field("CapEff:"), 16).unwrap();
    assert!(
        cap_eff & (1 << 13) != 0,
        "no CAP_NET_RAW: CapEff {cap_eff:x}"
    );

    // An SNMP job against snmpd on the host, through the container's API, with the token
    // it generated into its /data volume.
    let snmpd = Snmpd::start().await;
    let token = docker(&d, &["exec", "outpost", "cat", "/data/token"]);
    let http = reqwest::Client::new();
    let res = http
        .post(format!("http://127.0.0.1:{port}/v1/jobs?wait=10"))
        .bearer_auth(token.trim())
        .json(&json!({"kind": "snmp.get", "params": {
            "target": snmpd.udp(), "version": "2c", "community": "public",
            "oids": [".1.3.6.1.2.1.1.5.0"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let job: Value = res.json().await.unwrap();
    assert_eq!(job["state"], "succeeded", "{job}");
    assert!(
        job.to_string().contains("1.3.6.1.2.1.1.5.0"),
        "no sysName in {job}"
    );
    docker(&d, &["rm", "-f", "outpost"]);

    // The check can fail: pointed at a port nothing serves, the same image turns unhealthy.
    let closed = free_tcp_port();
    docker(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "blind",
            "--network",
            "host",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
            "-e",
            &format!("OUTPOST_API_LISTEN=127.0.0.1:{}", free_tcp_port()),
            "-e",
            &format!("OUTPOST_HEALTH_PORT={closed}"),
            "outpost:test",
        ],
    );
    wait_until("an unhealthy verdict", Duration::from_secs(60), || {
        inspect(&d, "blind", "{{.State.Health.Status}}") == "unhealthy"
    });
    docker(&d, &["rm", "-f", "blind"]);
}
