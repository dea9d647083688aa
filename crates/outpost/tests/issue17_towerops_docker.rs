//! Issue 17 ("The Docker image runs with a compose file of the same shape as Towerops'
//! example and joins the test server"): Outpost's image, built from the shipped
//! Dockerfile on a dockerd of the test's own, started by Debian's `docker-compose` from
//! `packaging/docker/towerops-compose.yml` (Towerops' variables, `cap_add: NET_RAW`,
//! `162:162/udp`, a `/data` volume) on the compose project's own bridge network. The
//! agent joins the Towerops test server (listening on that network's gateway address),
//! says in its heartbeat that it runs in a container, and a trap sent to the host's port
//! 162 reaches the server through the published port.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::dockerd::{self, Dockerd};
use common::{wait_for, BIN};
use outpost_proto::towerops::SnmpTrap;
use outpost_test_support::netsnmp::run as send;
use outpost_test_support::towerops::Server;
use outpost_test_support::{image, peer};

const TOKEN: &str = "tok-issue17-docker";
const IMAGE: &str = "outpost:towerops-test";
const PROJECT: &str = "outposttowerops";

/// `docker-compose` on the test's engine with the compose file's variables; `down -v` on
/// drop, so the project's bridge and volume go even when the test fails.
struct Compose<'a> {
    d: &'a Dockerd,
    file: PathBuf,
    api_url: String,
}

impl Compose<'_> {
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new(peer::binary("docker-compose", dockerd::INSTALL))
            .args(["-p", PROJECT, "-f"])
            .arg(&self.file)
            .args(args)
            .env("DOCKER_HOST", self.d.host())
            .env("OUTPOST_IMAGE", IMAGE)
            .env("TOWEROPS_API_URL", &self.api_url)
            .env("TOWEROPS_AGENT_TOKEN", TOKEN)
            .env("TOWEROPS_INSECURE", "true")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "docker-compose {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Compose<'_> {
    fn drop(&mut self) {
        let _ = self.run(&["down", "-v", "--timeout", "5"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_towerops_image_runs_from_a_towerops_shaped_compose_file_and_joins() {
    let work = tempfile::tempdir().unwrap();
    let d = Dockerd::start();
    image::build(&d, Path::new(BIN), work.path(), IMAGE);
    let shipped =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/docker/towerops-compose.yml");
    let text = std::fs::read_to_string(&shipped).unwrap();
    for shape in [
        "TOWEROPS_API_URL",
        "TOWEROPS_AGENT_TOKEN",
        "- NET_RAW",
        "\"162:162/udp\"",
        ":/data",
        "restart: unless-stopped",
    ] {
        assert!(text.contains(shape), "the compose file lost {shape}");
    }
    let mut compose = Compose {
        d: &d,
        file: shipped,
        // Not known until the project's network exists: the server listens on its gateway.
        api_url: "http://192.0.2.1:9".into(),
    };
    compose.ok(&["up", "--no-start"]);
    let gateway = d.docker(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
        &format!("{PROJECT}_default"),
    ]);
    let server = Server::start_on(gateway.trim().parse().unwrap(), TOKEN).await;
    compose.api_url = server.api_url();
    // The container is recreated with the server's address.
    compose.ok(&["up", "-d"]);
    let logs = |c: &Compose<'_>| {
        String::from_utf8_lossy(&c.run(&["logs", "--no-color"]).stdout).into_owned()
    };
    let joined = tokio::time::timeout(Duration::from_secs(60), async {
        while server.accepted_joins() == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        joined.is_ok(),
        "no join within 60 s; the agent said:\n{}",
        logs(&compose)
    );
    wait_for("a heartbeat", Duration::from_secs(20), || async {
        !server.heartbeats().is_empty()
    })
    .await;
    let hb = server.heartbeats().remove(0).1;
    assert!(hb.container, "the heartbeat does not say container: {hb:?}");

    // A trap to the host's port 162 reaches the agent through the published port.
    let (ok, err) = send(
        "snmptrap",
        &[
            "-v2c",
            "-c",
            "public",
            "127.0.0.1:162",
            "123",
            ".1.3.6.1.6.3.1.1.5.3",
            ".1.3.6.1.2.1.2.2.1.1.7",
            "i",
            "7",
        ],
    );
    assert!(ok, "snmptrap: {err}");
    let got = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Some(t) = server.decoded::<SnmpTrap>("trap").into_iter().next() {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no trap frame; the agent said:\n{}", logs(&compose)));
    assert_eq!(got.trap_oid, "1.3.6.1.6.3.1.1.5.3");
    assert_eq!(got.varbinds["1.3.6.1.2.1.2.2.1.1.7"], "7");
}
