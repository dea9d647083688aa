//! snmpsim (from the test venv) serving real devices' recordings from snmpsim-data, each
//! under the community named after its file. The pattern for Python peers such as a
//! Crossbar router: the binary from [`peer::venv_binary`], the rest as for any peer.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use outpost_snmp::Oid;
use tokio::time::Instant;

use crate::peer::{self, Process};
use crate::ports::free_port;
use crate::snmpd::{v2c_session, INSTALL};

/// A running snmpsim command responder on UDP 127.0.0.1; killed by PID on drop.
pub struct Snmpsim {
    process: Process,
    pub port: u16,
    /// snmpsim-data's `data/` directory in the venv, where the recordings come from.
    pub site: PathBuf,
    _dir: tempfile::TempDir,
}

impl Snmpsim {
    /// Serves `recordings` (paths under snmpsim-data's `data/`), ready once the first one
    /// answers a GETNEXT (indexing takes a while: up to 120 s).
    pub async fn start(recordings: &[String]) -> Snmpsim {
        Self::start_subset(recordings, &[]).await
    }

    /// Like [`Snmpsim::start`], serving only the recorded lines under the OID prefixes
    /// `keep` (text such as `1.0.8802.1.1.2`; empty keeps everything): a large recording's
    /// subtrees of interest without the minutes snmpsim spends indexing the rest. The
    /// values stay the recorded ones; the community stays the file's name.
    pub async fn start_subset(recordings: &[String], keep: &[&str]) -> Snmpsim {
        let responder = peer::venv_binary("snmpsim-command-responder", INSTALL);
        let site = std::fs::read_dir(peer::venv().join("lib"))
            .unwrap()
            .map(|e| e.unwrap().path().join("site-packages/snmpsim_data/data"))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("snmpsim-data recordings missing: run {INSTALL}"));

        // snmpsim drops to nobody: the data must be readable and the cache writable by it.
        let tmp = tempfile::tempdir().unwrap();
        open_up(tmp.path(), 0o755);
        let data = tmp.path().join("data");
        let cache = tmp.path().join("cache");
        std::fs::create_dir_all(&cache).unwrap();
        open_up(&cache, 0o777);
        for rec in recordings {
            let dst = data.join(rec);
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            if keep.is_empty() {
                std::fs::copy(site.join(rec), &dst).unwrap();
            } else {
                subset(&site.join(rec), &dst, keep);
            }
        }
        for entry in walkdir(&data) {
            open_up(&entry, if entry.is_dir() { 0o755 } else { 0o644 });
        }

        let port = free_port();
        let mut cmd = Command::new(&responder);
        cmd.arg(format!("--data-dir={}", data.display()))
            .arg(format!("--cache-dir={}", cache.display()))
            .arg(format!("--agent-udpv4-endpoint=127.0.0.1:{port}"))
            .args(["--process-user=nobody", "--process-group=nogroup"]);
        let mut s = Snmpsim {
            process: Process::spawn("snmpsim", cmd, tmp.path()),
            port,
            site,
            _dir: tmp,
        };
        s.wait_ready(&community(&recordings[0])).await;
        s
    }

    async fn wait_ready(&mut self, community: &str) {
        let (_engine, probe) =
            v2c_session(&self.addr(), community, Duration::from_millis(250), 0).await;
        let deadline = Instant::now() + Duration::from_secs(120);
        let root: Oid = ".1".parse().unwrap();
        loop {
            self.process.assert_running();
            if probe.get_next(std::slice::from_ref(&root)).await.is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "snmpsim did not answer in time");
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// The community snmpsim serves a recording under: its file name without extensions.
pub fn community(rec: &str) -> String {
    rec.trim_end_matches(".bz2")
        .trim_end_matches(".snmprec")
        .to_string()
}

/// Writes the lines of recording `src` (bzip2 or plain) under one of the `keep` prefixes
/// to `dst` as a plain `.snmprec`.
fn subset(src: &Path, dst: &Path, keep: &[&str]) {
    let text = if src.extension().is_some_and(|e| e == "bz2") {
        let out = Command::new(peer::binary("bzcat", INSTALL))
            .arg(src)
            .output()
            .unwrap();
        assert!(out.status.success(), "bzcat {}", src.display());
        String::from_utf8_lossy(&out.stdout).into_owned()
    } else {
        std::fs::read_to_string(src).unwrap()
    };
    let under = |line: &str| {
        let oid = line.split('|').next().unwrap_or_default();
        keep.iter()
            .any(|k| oid == *k || oid.starts_with(&format!("{k}.")))
    };
    let lines: Vec<&str> = text.lines().filter(|l| under(l)).collect();
    assert!(
        !lines.is_empty(),
        "nothing under {keep:?} in {}",
        src.display()
    );
    let name = dst.to_string_lossy();
    let dst = PathBuf::from(name.trim_end_matches(".bz2"));
    std::fs::write(dst, lines.join("\n") + "\n").unwrap();
}

fn open_up(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
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
