//! Real-device recordings served by snmpsim: our bulkwalk of each device
//! must be byte-identical to `snmpbulkwalk -On` of the same simulated device.
//! The exception: values the recording generates with a variation module
//! (`type:numeric|...`) change between two walks, so for those OIDs only
//! the OID and the type label are compared.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{free_port, netsnmp};
use outpost_snmp::engine::{Engine, EngineConfig, TargetConfig};
use outpost_snmp::security::Security;
use outpost_snmp::{Oid, WalkMode};
use tokio::process::Command;
use tokio::time::Instant;

/// Small recordings of different vendors and device kinds.
const RECORDINGS: &[&str] = &[
    "network/wifi/ubiquiti-m5.snmprec.bz2",
    "network/switch/cts-media-converter.snmprec.bz2",
    "network/appliance/tripplite-poweralert.snmprec",
    "UPS/apc-8641.snmprec",
    "network/switch/metel-poe-box.snmprec.bz2",
];

/// More recordings to walk, comma-separated paths under snmpsim-data's
/// `data/` (e.g. `network/switch/cisco-c3560.snmprec.bz2`); for longer
/// manual runs, since snmpsim serves only ~5k OIDs/s.
fn recordings() -> Vec<String> {
    let mut v: Vec<String> = RECORDINGS.iter().map(|s| s.to_string()).collect();
    if let Ok(extra) = std::env::var("OUTPOST_SNMPSIM_EXTRA") {
        v.extend(
            extra
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
    }
    v
}

fn venv() -> PathBuf {
    match std::env::var_os("OUTPOST_TEST_VENV") {
        Some(v) => PathBuf::from(v),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../venv"),
    }
}

fn community(rec: &str) -> String {
    rec.trim_end_matches(".bz2")
        .trim_end_matches(".snmprec")
        .to_string()
}

fn open_up(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test]
async fn walks_of_recorded_devices_match_net_snmp() {
    let venv = venv();
    let responder = venv.join("bin/snmpsim-command-responder");
    assert!(
        responder.exists(),
        "{} missing: run scripts/deps/20-snmp.sh (tests never skip)",
        responder.display()
    );
    let site = std::fs::read_dir(venv.join("lib"))
        .unwrap()
        .map(|e| e.unwrap().path().join("site-packages/snmpsim_data/data"))
        .find(|p| p.exists())
        .expect("snmpsim-data recordings missing: run scripts/deps/20-snmp.sh");

    // snmpsim drops to nobody: the data must be readable and the cache writable by it.
    let tmp = tempfile::tempdir().unwrap();
    open_up(tmp.path(), 0o755);
    let data = tmp.path().join("data");
    let cache = tmp.path().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    open_up(&cache, 0o777);
    let recordings = recordings();
    for rec in &recordings {
        let dst = data.join(rec);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(site.join(rec), &dst).unwrap();
    }
    for entry in walkdir(&data) {
        open_up(&entry, if entry.is_dir() { 0o755 } else { 0o644 });
    }

    let port = free_port();
    let mut child = Command::new(&responder)
        .arg(format!("--data-dir={}", data.display()))
        .arg(format!("--cache-dir={}", cache.display()))
        .arg(format!("--agent-udpv4-endpoint=127.0.0.1:{port}"))
        .args(["--process-user=nobody", "--process-group=nogroup"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn snmpsim");

    let engine = Engine::new(EngineConfig::default()).await.unwrap();
    let addr = format!("127.0.0.1:{port}");
    let session = |c: &str, timeout: Duration, retries: u32| {
        let mut cfg = TargetConfig::new(addr.parse().unwrap(), Security::v2c(c));
        cfg.timeout = timeout;
        cfg.retries = retries;
        cfg
    };

    // Wait (with a deadline) until snmpsim has indexed and answers.
    let probe = engine
        .session(session(
            &community(RECORDINGS[0]),
            Duration::from_millis(250),
            0,
        ))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let root: Oid = ".1".parse().unwrap();
    loop {
        assert!(child.try_wait().unwrap().is_none(), "snmpsim exited early");
        if probe.get_next(std::slice::from_ref(&root)).await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "snmpsim did not answer in time");
    }

    for rec in &recordings {
        let c = community(rec);
        let s = engine
            .session(session(&c, Duration::from_secs(5), 2))
            .await
            .unwrap();
        let mut ours = String::new();
        s.walk_each(&root, WalkMode::Bulk(10), |vb| {
            ours.push_str(&vb.to_string());
            ours.push('\n');
        })
        .await
        .unwrap();
        let theirs = netsnmp(
            "snmpbulkwalk",
            &["-v2c", "-c", &c, "-On", "-Cr10", "-t", "5", &addr, ".1"],
        )
        .await;
        assert!(theirs.lines().count() > 50, "{rec}: walk too short");
        let dynamic = dynamic_oids(&site.join(rec));
        eprintln!("{rec}: {} varbinds", theirs.lines().count());
        let a = common::parse_walk(&ours);
        let b = common::parse_walk(&theirs);
        assert_eq!(a.len(), b.len(), "{rec}: different number of varbinds");
        let mut exact = 0;
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.oid, y.oid, "{rec}: OID sequences differ");
            if dynamic.contains(&x.oid) {
                assert_eq!(
                    x.type_label(),
                    y.type_label(),
                    "{rec}: type differs at {}",
                    x.oid
                );
            } else {
                assert_eq!(x.text, y.text, "{rec}: value differs at {}", x.oid);
                exact += 1;
            }
        }
        assert!(
            exact * 10 >= a.len() * 9,
            "{rec}: under 90% compared exactly"
        );
    }
    let _ = child.start_kill();
}

/// OIDs whose recorded value is produced by a variation module.
fn dynamic_oids(recording: &Path) -> std::collections::HashSet<Oid> {
    let out = std::process::Command::new("bzcat")
        .arg("-f")
        .arg(recording)
        .output()
        .expect("bzcat (bzip2) is needed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, '|');
            let (oid, ty) = (f.next()?, f.next()?);
            ty.contains(':')
                .then(|| format!(".{oid}").parse().ok())
                .flatten()
        })
        .collect()
}

fn walkdir(p: &Path) -> Vec<PathBuf> {
    let mut out = vec![p.to_path_buf()];
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            out.extend(walkdir(&e.unwrap().path()));
        }
    }
    out
}
