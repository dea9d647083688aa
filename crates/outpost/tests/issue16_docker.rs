//! Issue 16 §5: the Docker image (`packaging/docker/Dockerfile`) builds on a local engine, and
//! a container from it runs as its unprivileged user with CAP_NET_RAW, turns healthy through
//! its own HEALTHCHECK, and runs an SNMP job against snmpd on the host.
//!
//! There is no registry here: the base image `debian:bookworm-slim` is made from this
//! Debian host's own files (the binaries the Dockerfile and its health check use, and every
//! library `ldd` names for them and for outpost), `docker import`ed under the base's name
//! into a dockerd of the test's own. Faster and steadier than debootstrap from a mirror, and
//! the same glibc the binary was linked against.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use common::dockerd::{self, Dockerd};
use common::{wait_until, BIN};
use outpost_test_support::{peer, ports::free_tcp_port, snmpd::Snmpd};
use serde_json::{json, Value};

/// What the Dockerfile's RUN step and the HEALTHCHECK call, as in debian:bookworm-slim
/// (setcap, which the slim image lacks and the Dockerfile installs when missing, is put in
/// so the build needs no network).
const TOOLS: &[&str] = &[
    "/usr/bin/bash",
    "/usr/bin/grep",
    "/usr/bin/cat",
    "/usr/bin/mkdir",
    "/usr/bin/chown",
    "/usr/bin/chmod",
    "/usr/sbin/setcap",
];

/// The shared libraries `ldd` lists for `bin`, as absolute paths (the loader included).
fn libraries(bin: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(bin).output().unwrap();
    assert!(out.status.success(), "ldd {}: {out:?}", bin.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
            let path = match l.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// A rootfs tar laid out as Debian's merged /usr (bin, lib, lib64, sbin link into usr/), with
/// TOOLS, the libraries they and outpost need, and root in passwd and group.
fn base_rootfs(work: &Path) -> PathBuf {
    let root = work.join("rootfs");
    for d in [
        "usr/bin",
        "usr/sbin",
        "usr/lib",
        "usr/lib64",
        "etc",
        "tmp",
        "root",
    ] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    for l in ["bin", "sbin", "lib", "lib64"] {
        std::os::unix::fs::symlink(format!("usr/{l}"), root.join(l)).unwrap();
    }
    std::os::unix::fs::symlink("bash", root.join("usr/bin/sh")).unwrap();
    let mut files: BTreeSet<PathBuf> = TOOLS.iter().map(PathBuf::from).collect();
    for bin in TOOLS.iter().map(Path::new).chain([Path::new(BIN)]) {
        assert!(bin.is_file(), "{} missing on this host", bin.display());
        files.extend(libraries(bin));
    }
    for f in files {
        // Through the links above: /lib/x86_64-linux-gnu/libc.so.6 lands in usr/lib/...
        let dest = root.join(f.strip_prefix("/").unwrap());
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::copy(&f, &dest).unwrap_or_else(|e| panic!("copy {}: {e}", f.display()));
    }
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    let tar = work.join("rootfs.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    tar
}

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
    let tar = base_rootfs(work.path());
    docker(
        &d,
        &["import", tar.to_str().unwrap(), "debian:bookworm-slim"],
    );

    // The build context: the Dockerfile as shipped and the binary under test.
    let ctx = work.path().join("ctx");
    fs::create_dir_all(&ctx).unwrap();
    let dockerfile =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/docker/Dockerfile");
    fs::copy(&dockerfile, ctx.join("Dockerfile")).unwrap();
    fs::copy(BIN, ctx.join("outpost")).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let out = Command::new(peer::binary("docker", dockerd::INSTALL))
        .args(["build", "--network", "none", "-t", "outpost:test"])
        .args(["--build-arg", &format!("VERSION={version}")])
        .arg(&ctx)
        .env("DOCKER_HOST", d.host())
        // The classic builder: BuildKit would look for its frontend image in a registry.
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker build: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

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
