//! Issue 17 (config backups over SSH): the in-suite Towerops server sends CONFIG_BACKUP
//! jobs on `backup_job` (and a legacy `backup:` MIKROTIK job on `jobs`) to a real agent,
//! which backs up a real OpenSSH server (Debian's sshd on a loopback port, test-support
//! `sshd.rs`) whose forced command answers like RouterOS 6 and 7. Checked: the gunzipped
//! config equals the device's export byte for byte, the `/export` form by version and
//! `include_secrets`, version/identity/model, the host key trusted on first use (recorded
//! in the host-keys file in the original's format) and a changed key refused, the job's
//! expected fingerprint in both its forms, and the failures by their published codes:
//! AUTH_FAILED (password nowhere in the answer or the data dir), TIMEOUT within the job's
//! bound, TOO_LARGE, EXPORT_EMPTY, PERMISSION_DENIED, CONNECTION_REFUSED,
//! UNSUPPORTED_VENDOR.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Read as _;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{free_tcp_port, wait_for, Agent, Options};
use outpost_proto::towerops::{
    AgentJob, AgentJobList, ConfigBackupErrorCode as Code, ConfigBackupJob, ConfigBackupMode,
    ConfigBackupResult, JobType, MikrotikDevice, MikrotikResult,
};
use outpost_test_support::sshd::{self, Mode, Sshd, PASSWORD, USER};
use outpost_test_support::towerops::Server;

const TOKEN: &str = "tok-issue17-backup";

struct Rig {
    server: Server,
    _agent: Agent,
    dir: tempfile::TempDir,
}

impl Rig {
    async fn start() -> Rig {
        let server = Server::start(TOKEN).await;
        let dir = tempfile::tempdir().unwrap();
        let agent = Agent::start(
            Options::new(dir.path())
                .env("TOWEROPS_API_URL", &server.api_url())
                .env("TOWEROPS_AGENT_TOKEN", TOKEN)
                .env("TOWEROPS_INSECURE", "true"),
        );
        wait_for("the join", Duration::from_secs(20), || async {
            server.accepted_joins() >= 1
        })
        .await;
        Rig {
            server,
            _agent: agent,
            dir,
        }
    }

    fn host_keys_file(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.dir.path().join("known_hosts.json"))
            .unwrap_or_else(|_| "{}".into());
        serde_json::from_str(&text).unwrap()
    }

    fn send(&self, jobs: Vec<AgentJob>) {
        assert!(self
            .server
            .send_binary("backup_job", &AgentJobList { jobs }));
    }

    async fn result(&self, id: &str, within: Duration) -> ConfigBackupResult {
        let find = || {
            self.server
                .decoded::<ConfigBackupResult>("config_backup_result")
                .into_iter()
                .find(|r| r.job_id == id)
        };
        wait_for(&format!("the result of {id}"), within, || async {
            find().is_some()
        })
        .await;
        find().unwrap()
    }
}

fn backup(id: &str, d: &Sshd, include_secrets: bool) -> AgentJob {
    AgentJob {
        job_id: id.into(),
        job_type: JobType::ConfigBackup as i32,
        device_id: format!("dev-{id}"),
        config_backup: Some(ConfigBackupJob {
            vendor: "mikrotik".into(),
            mode: ConfigBackupMode::Backup as i32,
            host: d.host().into(),
            ssh_port: u32::from(d.port),
            username: USER.into(),
            password: PASSWORD.into(),
            include_secrets,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn with(mut j: AgentJob, f: impl FnOnce(&mut ConfigBackupJob)) -> AgentJob {
    f(j.config_backup.as_mut().unwrap());
    j
}

fn gunzip(bytes: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut out)
        .unwrap();
    out
}

fn code(r: &ConfigBackupResult) -> Code {
    Code::try_from(r.error_code).unwrap()
}

/// Whether `needle` appears in any file under `dir` (the store, its WAL, the key file).
fn found_in(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            hits.extend(found_in(&p, needle));
        } else if let Ok(bytes) = std::fs::read(&p) {
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(p.display().to_string());
            }
        }
    }
    hits
}

const WITHIN: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_towerops_backup_routeros_6_and_7_exports_by_version_and_secrets() {
    let v6 = Sshd::start(Mode::RouterOs6);
    let v7 = Sshd::start(Mode::RouterOs7);
    let rig = Rig::start().await;
    rig.send(vec![
        backup("v7-secrets", &v7, true),
        backup("v7-plain", &v7, false),
        backup("v6-secrets", &v6, true),
        backup("v6-plain", &v6, false),
        with(backup("v7-probe", &v7, false), |b| {
            b.mode = ConfigBackupMode::Probe as i32
        }),
    ]);
    let cases = [
        ("v7-secrets", &v7, 7, "/export show-sensitive", true),
        ("v7-plain", &v7, 7, "/export", false),
        ("v6-secrets", &v6, 6, "/export", true),
        ("v6-plain", &v6, 6, "/export hide-sensitive", false),
    ];
    for (id, d, version, command, secrets) in cases {
        let r = rig.result(id, WITHIN).await;
        assert_eq!(code(&r), Code::ConfigBackupOk, "{id}: {}", r.error_detail);
        assert_eq!(r.device_id, format!("dev-{id}"));
        let config = gunzip(&r.config_gzip);
        assert_eq!(config, d.export(version, command), "{id}");
        assert_eq!(r.config_bytes, config.len() as u64);
        assert_eq!(config.contains(sshd::SECRET), secrets, "{id}");
        assert_eq!(r.includes_secrets, secrets, "{id}");
        let (os, model) = if version == 6 {
            (sshd::VERSION_6, sshd::MODEL_6)
        } else {
            (sshd::VERSION_7, sshd::MODEL_7)
        };
        assert_eq!(r.os_version, os);
        assert_eq!(r.model, model);
        assert_eq!(r.identity, sshd::IDENTITY);
        assert_eq!(r.host_key_fingerprint, d.fingerprint(), "{id}");
        assert!(r.timestamp > 1_700_000_000);
        assert!(r.error_detail.is_empty());
    }
    // PROBE: version, identity and the user's policies (denied ones left out), no export.
    let r = rig.result("v7-probe", WITHIN).await;
    assert_eq!(code(&r), Code::ConfigBackupOk, "{}", r.error_detail);
    assert_eq!(r.os_version, sshd::VERSION_7);
    assert_eq!(r.identity, sshd::IDENTITY);
    let wanted: Vec<&str> = sshd::POLICIES
        .split(';')
        .filter(|p| !p.starts_with('!'))
        .collect();
    assert_eq!(r.user_policies, wanted);
    assert!(r.config_gzip.is_empty() && r.config_bytes == 0 && !r.includes_secrets);
    // Each device was asked exactly the export form its version and the flag call for.
    for (d, forms) in [
        (&v7, ["/export show-sensitive", "/export"]),
        (&v6, ["/export", "/export hide-sensitive"]),
    ] {
        let cmds = d.commands();
        let exports: Vec<_> = cmds.iter().filter(|c| c.starts_with("/export")).collect();
        assert_eq!(exports.len(), 2, "{cmds:?}");
        for f in forms {
            assert!(exports.iter().any(|c| *c == f), "{f} not in {cmds:?}");
        }
        assert!(cmds
            .iter()
            .any(|c| c == ":put [/system resource get version]"));
        assert!(cmds.iter().any(|c| c == ":put [/system identity get name]"));
    }
    // Both host keys trusted on first use, in the original's file format (RSA for v6).
    let keys = rig.host_keys_file();
    assert_eq!(
        keys[format!("ssh:127.0.0.1:{}", v7.port)],
        v7.host_keys_value()
    );
    assert_eq!(
        keys[format!("ssh:127.0.0.1:{}", v6.port)],
        v6.host_keys_value()
    );
    assert!(v6.host_keys_value().starts_with("ssh-rsa "));
    // The password never reached the store (params redacted) or anything else on disk.
    let hits = found_in(rig.dir.path(), PASSWORD.as_bytes());
    assert!(hits.is_empty(), "the password is stored in {hits:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_towerops_backup_host_key_first_use_then_mismatch_and_expected_fingerprint() {
    let mut d = Sshd::start(Mode::RouterOs7);
    let rig = Rig::start().await;
    rig.send(vec![backup("first", &d, false)]);
    let r = rig.result("first", WITHIN).await;
    assert_eq!(code(&r), Code::ConfigBackupOk, "{}", r.error_detail);
    let entry = format!("ssh:127.0.0.1:{}", d.port);
    let trusted = d.host_keys_value();
    assert_eq!(rig.host_keys_file()[&entry], trusted);
    let old_fp = d.fingerprint();

    // The same address now presents another key: refused, the trusted key kept, nothing
    // exported (the password never sent).
    d.change_host_key();
    let before = d.commands().len();
    rig.send(vec![backup("changed", &d, false)]);
    let r = rig.result("changed", WITHIN).await;
    assert_eq!(code(&r), Code::HostKeyMismatch, "{r:?}");
    assert_eq!(r.host_key_fingerprint, d.fingerprint());
    assert!(
        r.error_detail.contains("possible MITM"),
        "{}",
        r.error_detail
    );
    assert!(r.config_gzip.is_empty());
    assert_eq!(rig.host_keys_file()[&entry], trusted);
    assert_eq!(d.commands().len(), before, "no command ran");
    // The restarted sshd's log: the agent hung up before sending the password.
    assert!(
        !d.log().contains("Accepted password"),
        "no login after the mismatch:\n{}",
        d.log()
    );

    // A job that names the key it expects decides alone: the new key in either form is
    // accepted, the old one refused.
    rig.send(vec![
        with(backup("expect-new", &d, false), |b| {
            b.expected_host_key_fingerprint = d.fingerprint()
        }),
        with(backup("expect-new-hex", &d, false), |b| {
            b.expected_host_key_fingerprint = d.fingerprint_hex()
        }),
        with(backup("expect-old", &d, false), |b| {
            b.expected_host_key_fingerprint = old_fp.clone()
        }),
    ]);
    for id in ["expect-new", "expect-new-hex"] {
        let r = rig.result(id, WITHIN).await;
        assert_eq!(code(&r), Code::ConfigBackupOk, "{id}: {}", r.error_detail);
        assert_eq!(gunzip(&r.config_gzip), d.export(7, "/export"));
    }
    let r = rig.result("expect-old", WITHIN).await;
    assert_eq!(code(&r), Code::HostKeyMismatch, "{r:?}");
    assert!(r.error_detail.contains(&old_fp), "{}", r.error_detail);
    assert_eq!(r.host_key_fingerprint, d.fingerprint());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_towerops_backup_failures_carry_their_codes() {
    let ok = Sshd::start(Mode::RouterOs7);
    let silent = Sshd::start(Mode::Silent);
    let huge = Sshd::start(Mode::Huge);
    let empty = Sshd::start(Mode::Empty);
    let denied = Sshd::start(Mode::Denied);
    let closed = free_tcp_port();
    let rig = Rig::start().await;
    let sent = Instant::now();
    rig.send(vec![
        with(backup("wrong-password", &ok, false), |b| {
            b.password = format!("{PASSWORD}-wrong")
        }),
        with(backup("silent", &silent, false), |b| b.timeout_ms = 3_000),
        with(backup("huge", &huge, false), |b| {
            b.max_config_bytes = 1 << 20
        }),
        backup("empty", &empty, false),
        backup("denied", &denied, false),
        with(backup("refused", &ok, false), |b| {
            b.ssh_port = u32::from(closed)
        }),
        with(backup("vendor", &ok, false), |b| b.vendor = "cisco".into()),
    ]);

    let r = rig.result("wrong-password", WITHIN).await;
    assert_eq!(code(&r), Code::AuthFailed, "{r:?}");
    assert!(!r.error_detail.contains(PASSWORD), "{}", r.error_detail);
    assert!(!r.error_detail.is_empty() && r.error_detail.len() <= 300);
    assert_eq!(r.host_key_fingerprint, ok.fingerprint());

    // TIMEOUT within the job's own 3 s bound (plus delivery), not the default 120 s.
    let r = rig.result("silent", Duration::from_secs(30)).await;
    assert_eq!(code(&r), Code::Timeout, "{r:?}");
    assert!(
        (3_000..6_000).contains(&r.duration_ms),
        "duration {} ms",
        r.duration_ms
    );
    assert!(sent.elapsed() < Duration::from_secs(30));
    assert_eq!(r.os_version, "", "the device never answered");

    let r = rig.result("huge", WITHIN).await;
    assert_eq!(code(&r), Code::TooLarge, "{r:?}");
    assert!(r.config_gzip.is_empty());
    assert_eq!(r.os_version, sshd::VERSION_7);

    let r = rig.result("empty", WITHIN).await;
    assert_eq!(code(&r), Code::ExportEmpty, "{r:?}");

    let r = rig.result("denied", WITHIN).await;
    assert_eq!(code(&r), Code::PermissionDenied, "{r:?}");
    assert!(r.error_detail.contains("not enough permissions"), "{r:?}");

    let r = rig.result("refused", WITHIN).await;
    assert_eq!(code(&r), Code::ConnectionRefused, "{r:?}");
    assert_eq!(r.host_key_fingerprint, "");

    let r = rig.result("vendor", WITHIN).await;
    assert_eq!(code(&r), Code::UnsupportedVendor, "{r:?}");

    // The wrong password is nowhere on disk either.
    let hits = found_in(rig.dir.path(), PASSWORD.as_bytes());
    assert!(hits.is_empty(), "the password is stored in {hits:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_towerops_backup_legacy_mikrotik_job_answers_mikrotik_result() {
    let d = Sshd::start(Mode::RouterOs6);
    let rig = Rig::start().await;
    let legacy = |id: &str, password: &str| AgentJob {
        job_id: id.into(),
        job_type: JobType::Mikrotik as i32,
        device_id: "dev-legacy".into(),
        mikrotik_device: Some(MikrotikDevice {
            ip: d.host().into(),
            port: 8728,
            username: USER.into(),
            password: password.into(),
            ssh_port: u32::from(d.port),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(rig.server.send_jobs(&AgentJobList {
        jobs: vec![
            legacy("backup:1", PASSWORD),
            legacy("backup:2", &format!("{PASSWORD}-nope")),
        ],
    }));
    let find = |id: &str| {
        rig.server
            .decoded::<MikrotikResult>("mikrotik_result")
            .into_iter()
            .find(|r| r.job_id == id)
    };
    wait_for("both legacy results", WITHIN, || async {
        find("backup:1").is_some() && find("backup:2").is_some()
    })
    .await;
    let ok = find("backup:1").unwrap();
    assert_eq!(ok.error, "", "{ok:?}");
    assert_eq!(ok.device_id, "dev-legacy");
    assert_eq!(ok.sentences.len(), 1);
    assert_eq!(
        ok.sentences[0].attributes.get("config").map(String::as_str),
        Some(d.export(6, "/export compact").as_str())
    );
    assert!(d.commands().iter().any(|c| c == "/export compact"));
    let bad = find("backup:2").unwrap();
    assert!(
        bad.error.starts_with("SSH backup failed: "),
        "{:?}",
        bad.error
    );
    assert!(!bad.error.contains(PASSWORD));
    assert!(bad.sentences.is_empty());
    // Trusted on first use like any SSH backup.
    assert_eq!(
        rig.host_keys_file()[format!("ssh:127.0.0.1:{}", d.port)],
        d.host_keys_value()
    );
}
