//! net-snmp's `snmptrapd`, the reference receiver, as `shared/peers.md` runs it: numeric
//! output (`-On`), logging to a file the tests read back record by record.
//!
//! The smallest complete harness, and the pattern for the next ones: find the binary, write
//! the config into a directory of its own, start it on an ephemeral port, wait until it
//! says it is up (with a deadline), expose its address and its output.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::peer::{self, Process};
use crate::ports::free_udp_port;
use crate::snmpd::INSTALL;
use crate::wait::wait_until;

/// A running snmptrapd on UDP 127.0.0.1; killed by PID on drop.
pub struct Snmptrapd {
    process: Process,
    /// The UDP port it receives on.
    pub port: u16,
    /// Its log (`-Lf`): the notifications it received.
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Snmptrapd {
    /// Starts snmptrapd with `config` (its `snmptrapd.conf`: users, authorization) and waits,
    /// up to 10 s, until it logs that it is up.
    pub fn start(config: &str) -> Snmptrapd {
        let bin = peer::binary("snmptrapd", INSTALL);
        let mut last = String::new();
        for _attempt in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let conf = dir.path().join("snmptrapd.conf");
            std::fs::write(&conf, config).unwrap();
            let port = free_udp_port();
            let log = dir.path().join("snmptrapd.log");
            let mut cmd = Command::new(&bin);
            cmd.args(["-f", "-C", "-c"])
                .arg(&conf)
                .arg("-Lf")
                .arg(&log)
                .args(["-On", &format!("udp:127.0.0.1:{port}")])
                .env("MIBS", "")
                .env("SNMP_PERSISTENT_DIR", dir.path().join("persist"));
            let mut t = Snmptrapd {
                process: Process::spawn("snmptrapd", cmd, dir.path()),
                port,
                log,
                _dir: dir,
            };
            let (mut exited, log) = (false, t.log.clone());
            wait_until("snmptrapd to start", Duration::from_secs(10), || {
                exited = t.process.exited().is_some();
                exited
                    || std::fs::read_to_string(&log)
                        .unwrap_or_default()
                        .contains("NET-SNMP version")
            });
            if !exited {
                return t;
            }
            // Port taken between probe and bind: try another.
            last = t.log_text() + &t.process.stderr();
        }
        panic!("snmptrapd did not start after 5 attempts; the last one said:\n{last}");
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its log so far split into notification records (see [`records`]).
    pub fn records(&self) -> Vec<Vec<String>> {
        records(&self.log_text())
    }
}

/// snmptrapd's log split into records: each starts with a dated line naming the
/// notification (`TRAP, SNMP v1` or `[UDP: ...]`), followed by its varbind lines.
pub fn records(text: &str) -> Vec<Vec<String>> {
    let mut recs: Vec<Vec<String>> = Vec::new();
    for l in text.lines() {
        let dated = l.len() > 20 && l.starts_with("20") && l.as_bytes()[4] == b'-';
        if dated && (l.contains("TRAP, SNMP v1") || l.contains("[UDP: ")) {
            recs.push(vec![l.to_owned()]);
        } else if let Some(r) = recs.last_mut() {
            if !l.is_empty() && !dated {
                r.push(l.to_owned());
            }
        }
    }
    recs
}
