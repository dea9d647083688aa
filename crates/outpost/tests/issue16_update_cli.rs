//! `outpost update check|apply` end to end: the real binary, copied into a temporary
//! directory (cargo's own binary is never replaced), updates itself from a local HTTPS
//! server with a test CA, or refuses naming the reason (exit 2) and keeps its bytes.
//! The new build is the same binary with its version string changed, so it really runs
//! and reports the new version.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use outpost::update_cmd::CONTAINER_ROOT_ENV;
use outpost_test_support::update_server::UpdateServer;
use outpost_update::signing::{self, GeneratedKey};
use outpost_update::{current_target, unix_now, Manifest, Target, TrustedKey};
use sha2::{Digest, Sha256};

const CURRENT: &str = env!("CARGO_PKG_VERSION");

struct Site {
    server: UpdateServer,
    dir: tempfile::TempDir,
    key: GeneratedKey,
    /// The copy that updates itself.
    bin: PathBuf,
    original: Vec<u8>,
}

impl Site {
    async fn new() -> Site {
        let server = UpdateServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        for d in ["bin", "data", "root"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let bin = dir.path().join("bin/outpost");
        let original = std::fs::read(common::BIN).unwrap();
        std::fs::copy(common::BIN, &bin).unwrap();
        std::fs::set_permissions(
            dir.path().join("data"),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        Site {
            server,
            dir,
            key: signing::keygen(None).unwrap(),
            bin,
            original,
        }
    }

    fn publish(&self, version: &str, bytes: &[u8], tamper: bool) {
        self.server.put("builds/outpost-new", bytes.to_vec());
        let target = Target {
            version: version.parse().unwrap(),
            url: self.server.url("builds/outpost-new"),
            size: bytes.len() as u64,
            sha256: Sha256::digest(bytes).into(),
            min_version: "0.0.1".parse().unwrap(),
        };
        let mut m = Manifest {
            channel: "stable".into(),
            version: 1,
            expires: unix_now() + 3600,
            targets: BTreeMap::from([(current_target(), target)]),
        };
        let sig = signing::sign(&self.key.secret, None, m.to_json().as_bytes(), None).unwrap();
        if tamper {
            m.expires += 1;
        }
        self.server.put("stable/stable.json", m.to_json());
        self.server.put("stable/stable.json.minisig", sig);
    }

    /// `cmd` (the copy itself, or a tracer running it) completed as `BIN update ARGS --json`,
    /// configured through the environment as an operator would.
    fn update_command<'c>(&self, cmd: &'c mut Command, args: &[&str]) -> &'c mut Command {
        cmd.arg("update")
            .args(args)
            .args(["--json", "--data-dir"])
            .arg(self.dir.path().join("data"))
            .env_remove("OUTPOST_CONFIG")
            .env("OUTPOST_UPDATE_URL", self.server.url("stable"))
            .env(
                "OUTPOST_UPDATE_PUBLIC_KEYS",
                TrustedKey::parse(&self.key.public).unwrap().base64,
            )
            .env("OUTPOST_UPDATE_CA_FILE", &self.server.ca.ca_file)
            // This test machine may itself be a container: look for markers in a
            // directory of the test's own.
            .env(CONTAINER_ROOT_ENV, self.dir.path().join("root"))
    }

    /// `BIN update ARGS --json`, configured through the environment as an operator would.
    fn update(&self, args: &[&str]) -> (i32, serde_json::Value, String) {
        let mut cmd = Command::new(&self.bin);
        let out = self.update_command(&mut cmd, args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let json = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {stdout}"));
        (
            out.status.code().unwrap(),
            json,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The agent itself on the copy, configured for this site, on `port`.
    fn agent(&self, port: u16, extra: &[(&str, &str)]) -> common::Agent {
        let mut o = common::Options::new(&self.dir.path().join("data"))
            .binary(&self.bin)
            .env("OUTPOST_API_LISTEN", &format!("127.0.0.1:{port}"))
            .env("OUTPOST_UPDATE_URL", &self.server.url("stable"))
            .env(
                "OUTPOST_UPDATE_PUBLIC_KEYS",
                &TrustedKey::parse(&self.key.public).unwrap().base64,
            )
            .env(
                "OUTPOST_UPDATE_CA_FILE",
                self.server.ca.ca_file.to_str().unwrap(),
            )
            .env(
                CONTAINER_ROOT_ENV,
                self.dir.path().join("root").to_str().unwrap(),
            );
        for (k, v) in extra {
            o = o.env(k, v);
        }
        common::Agent::start(o)
    }

    fn assert_untouched(&self) {
        assert!(
            std::fs::read(&self.bin).unwrap() == self.original,
            "the installed binary changed"
        );
        assert!(!self.dir.path().join("bin/outpost.prev").exists());
    }
}

/// The running binary restamped with another version (`outpost::version::stamp`): a real
/// build that runs and reports that version.
fn build_with_version(original: &[u8]) -> (String, Vec<u8>) {
    let new = format!("9{}", &CURRENT[1..]);
    let out = outpost::version::stamp(original, &new).unwrap();
    (new, out)
}

/// `Site::update` on a runtime thread allowed to block (the server runs on the others).
async fn site_update(site: &Site, args: &[&str]) -> (i32, serde_json::Value, String) {
    tokio::task::block_in_place(|| site.update(args))
}

fn version_of(bin: &Path) -> String {
    let out = Command::new(bin)
        .args(["version", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["version"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn issue16_update_apply_replaces_the_binary_with_a_build_that_runs_the_new_version() {
    let site = Site::new().await;
    let (new_version, new_build) = build_with_version(&site.original);
    site.publish(&new_version, &new_build, false);
    let (code, check, err) = site_update(&site, &["check"]).await;
    assert_eq!(code, 0, "{check} {err}");
    assert_eq!(check["update_available"], true, "{check}");
    assert_eq!(check["offered"], new_version.as_str());

    let (code, applied, err) = site_update(&site, &["apply"]).await;
    assert_eq!(code, 0, "{applied} {err}");
    assert_eq!(applied["updated"], true, "{applied}");
    assert_eq!(applied["to"], new_version.as_str());
    assert_eq!(version_of(&site.bin), new_version);
    assert_eq!(
        version_of(&site.dir.path().join("bin/outpost.prev")),
        CURRENT
    );
    // The new build finds itself up to date.
    let (code, again, err) = site_update(&site, &["apply"]).await;
    assert_eq!(code, 0, "{again} {err}");
    assert_eq!(again["updated"], false, "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn issue16_update_apply_refuses_a_bad_signature_a_downgrade_and_a_container_exit_2() {
    let site = Site::new().await;
    let (new_version, new_build) = build_with_version(&site.original);

    site.publish(&new_version, &new_build, true);
    let (code, out, _) = site_update(&site, &["apply"]).await;
    assert_eq!(code, 2, "{out}");
    assert_eq!(out["code"], "bad_signature", "{out}");
    assert!(
        out["error"].as_str().unwrap().contains("does not verify"),
        "{out}"
    );
    site.assert_untouched();

    site.publish("0.0.1", b"#!/bin/sh\necho old\n", false);
    let (code, out, _) = site_update(&site, &["apply"]).await;
    assert_eq!(code, 2, "{out}");
    assert_eq!(out["code"], "downgrade", "{out}");
    assert_eq!(
        out["error"],
        format!("refusing a downgrade from {CURRENT} to 0.0.1").as_str()
    );
    site.assert_untouched();

    site.publish(&new_version, &new_build, false);
    std::fs::write(site.dir.path().join("root/.dockerenv"), "").unwrap();
    let (code, out, _) = site_update(&site, &["apply"]).await;
    assert_eq!(code, 2, "{out}");
    assert_eq!(out["code"], "in_container", "{out}");
    site.assert_untouched();
}

#[tokio::test(flavor = "multi_thread")]
async fn issue16_update_check_exits_1_when_the_server_is_unreachable_and_2_on_bad_input() {
    let site = Site::new().await;
    let (code, out, _) = site_update(&site, &["check", "--url", "https://127.0.0.1:1/x"]).await;
    assert_eq!(code, 1, "{out}");
    assert_eq!(out["code"], "unreachable", "{out}");
    let (code, out, _) = site_update(&site, &["check", "--url", "http://127.0.0.1:1/x"]).await;
    assert_eq!(code, 2, "{out}");
    assert!(
        out["error"].as_str().unwrap().contains("update.url"),
        "{out}"
    );
    let (code, out, _) = site_update(&site, &["check", "--channel", "Not A Channel"]).await;
    assert_eq!(code, 2, "{out}");
    assert!(
        out["error"].as_str().unwrap().contains("update.channel"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue16_agent_update_job_swaps_restarts_into_the_new_version_and_reports_it() {
    let site = Site::new().await;
    let (new_version, new_build) = build_with_version(&site.original);
    site.publish(&new_version, &new_build, false);
    let port = common::free_tcp_port();
    let a = site.agent(port, &[]);
    let j = a.run_ok("agent.update", serde_json::json!({})).await;
    assert_eq!(j["updated"], true, "{j}");
    assert_eq!(j["to"], new_version.as_str(), "{j}");
    // The agent restarts into the new build, which proves healthy and says so.
    common::wait_version(port, &new_version, std::time::Duration::from_secs(30)).await;
    let mut ws = a.events(0).await;
    let ev = common::update_outcome(&mut ws, std::time::Duration::from_secs(30)).await;
    assert_eq!(ev["outcome"], "updated", "{ev}");
    assert_eq!(ev["from"], CURRENT, "{ev}");
    assert_eq!(ev["to"], new_version.as_str(), "{ev}");
    assert_eq!(std::fs::read(&site.bin).unwrap(), new_build);
}

#[tokio::test(flavor = "multi_thread")]
async fn issue16_agent_update_job_refusals_fail_the_job_store_an_event_and_the_agent_serves_on() {
    let site = Site::new().await;
    let (new_version, new_build) = build_with_version(&site.original);
    site.publish(&new_version, &new_build, true);
    let port = common::free_tcp_port();
    let a = site.agent(port, &[]);
    let mut ws = a.events(0).await;
    let j = a.run_job("agent.update", serde_json::json!({})).await;
    assert_eq!(j["state"], "failed", "{j}");
    assert_eq!(j["error"]["code"], "bad_signature", "{j}");
    let ev = common::update_outcome(&mut ws, std::time::Duration::from_secs(30)).await;
    assert_eq!(ev["outcome"], "refused", "{ev}");
    assert_eq!(ev["code"], "bad_signature", "{ev}");
    site.assert_untouched();

    // Towerops' checksum-only update, while update.allow_unsigned_checksum is off.
    let sum = hex::encode(Sha256::digest(&new_build));
    site.server.put("builds/plain", new_build.clone());
    let j = a
        .run_job(
            "agent.update",
            serde_json::json!({"url": site.server.url("builds/plain"), "checksum": sum}),
        )
        .await;
    assert_eq!(j["error"]["code"], "unsigned_not_allowed", "{j}");
    let ev = common::update_outcome(&mut ws, std::time::Duration::from_secs(30)).await;
    assert_eq!(ev["code"], "unsigned_not_allowed", "{ev}");
    site.assert_untouched();

    // Bad params are named.
    let (st, body) = a
        .submit(
            serde_json::json!({"kind": "agent.update", "params": {"url": "http://x/y", "checksum": sum}}),
            Some(10.0),
        )
        .await;
    assert_eq!(st, 422, "{body}");
    assert!(body.to_string().contains("params.url"), "{body}");
    common::wait_version(port, CURRENT, std::time::Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn issue16_agent_update_checksum_only_when_allowed_updates_and_the_new_version_is_confirmed()
{
    let site = Site::new().await;
    let (new_version, new_build) = build_with_version(&site.original);
    site.server.put("builds/plain", new_build.clone());
    let sum = hex::encode(Sha256::digest(&new_build));
    let port = common::free_tcp_port();
    let a = site.agent(port, &[("OUTPOST_UPDATE_ALLOW_UNSIGNED_CHECKSUM", "true")]);
    let j = a
        .run_ok(
            "agent.update",
            serde_json::json!({"url": site.server.url("builds/plain"), "checksum": sum}),
        )
        .await;
    assert_eq!(j["updated"], true, "{j}");
    common::wait_version(port, &new_version, std::time::Duration::from_secs(30)).await;
    let mut ws = a.events(0).await;
    let ev = common::update_outcome(&mut ws, std::time::Duration::from_secs(30)).await;
    assert_eq!(ev["outcome"], "updated", "{ev}");
    assert_eq!(ev["to"], new_version.as_str(), "{ev}");
}

/// `outpost update apply` killed with SIGKILL (strace's syscall fault injection, on the
/// N-th call of `syscalls`, in any thread) at each step of the swap: staged file synced,
/// old binary linked as `.prev.tmp`, renamed to `.prev`, new renamed over the binary,
/// directory synced. After every kill the installed path runs and is the old build or the
/// new one, whole; a second apply then completes the update.
#[tokio::test(flavor = "multi_thread")]
async fn issue16_update_killed_at_every_step_of_the_swap_leaves_a_binary_that_runs() {
    let strace = outpost_test_support::peer::binary("strace", "scripts/deps/80-update.sh");
    let steps: &[(&str, &str, u32)] = &[
        ("the staged download synced", "fsync", 1),
        ("the old binary linked as .prev.tmp", "link,linkat", 1),
        (".prev.tmp renamed to .prev", "rename,renameat,renameat2", 1),
        (
            "the new binary renamed over the old",
            "rename,renameat,renameat2",
            2,
        ),
        ("the directory synced", "fsync", 2),
    ];
    for (step, syscalls, nth) in steps {
        let site = Site::new().await;
        let (new_version, new_build) = build_with_version(&site.original);
        site.publish(&new_version, &new_build, false);
        let out = tokio::task::block_in_place(|| {
            let mut cmd = Command::new(&strace);
            cmd.args(["-f", "-qq", "-o", "/dev/null", "-e"])
                .arg(format!("trace={syscalls}"))
                .arg("-e")
                .arg(format!("inject={syscalls}:signal=KILL:when={nth}"))
                .arg(&site.bin);
            site.update_command(&mut cmd, &["apply"]).output().unwrap()
        });
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal().or(out.status.code().map(|c| c - 128)),
            Some(9),
            "{step}: killed ({:?}; {})",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let installed = std::fs::read(&site.bin).unwrap();
        assert!(
            installed == site.original || installed == new_build,
            "{step}: the binary is neither build, whole"
        );
        let v = version_of(&site.bin);
        assert!(v == CURRENT || v == new_version, "{step}: runs as {v}");
        // The next apply finishes the job (or finds it done), whatever was left behind.
        let (code, again, err) = site_update(&site, &["apply"]).await;
        assert_eq!(code, 0, "{step}: {again} {err}");
        assert_eq!(version_of(&site.bin), new_version, "{step}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue16_update_check_interval_updates_the_agent_without_a_job_and_is_off_by_default() {
    let site = Site::new().await;
    let (new_version, new_build) = build_with_version(&site.original);
    site.publish(&new_version, &new_build, false);
    let port = common::free_tcp_port();
    let a = site.agent(port, &[("OUTPOST_UPDATE_CHECK_INTERVAL_SECS", "10")]);
    // Nothing asks: the timer's agent.update does, within its interval.
    common::wait_version(port, &new_version, std::time::Duration::from_secs(30)).await;
    let mut ws = a.events(0).await;
    let ev = common::update_outcome(&mut ws, std::time::Duration::from_secs(30)).await;
    assert_eq!(ev["outcome"], "updated", "{ev}");
    // Off by default, and a bad interval is refused naming the key.
    let out = Command::new(&site.bin)
        .args(["config", "show", "--json"])
        .env_remove("OUTPOST_CONFIG")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["update.check_interval_secs"]["value"], 0, "{v}");
    let out = Command::new(&site.bin)
        .args(["config", "show"])
        .env_remove("OUTPOST_CONFIG")
        .env("OUTPOST_UPDATE_CHECK_INTERVAL_SECS", "5")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("update.check_interval_secs"));
}
