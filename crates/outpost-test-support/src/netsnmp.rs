//! net-snmp's command-line tools as the reference side of a test: run one to completion
//! ([`netsnmp`], [`run`]), start a sender in the background ([`spawn`]), and compare a walk of
//! ours with theirs in `-On` form ([`assert_walks_match`]). Every tool runs with `MIBS=""`,
//! so output is numeric and no MIB file on the host changes it.

use std::process::{Output, Stdio};

use outpost_snmp::Oid;

use crate::peer;
use crate::snmpd::INSTALL;

/// Runs a net-snmp tool with no MIBs and returns stdout; a failure fails the test with the
/// tool's stderr.
pub async fn netsnmp(bin: &str, args: &[&str]) -> String {
    let out = tokio::process::Command::new(peer::binary(bin, INSTALL))
        .args(args)
        .env("MIBS", "")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run net-snmp tool");
    assert!(
        out.status.success(),
        "{bin} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs a net-snmp tool (a sender: `snmptrap`, `snmpinform`) to completion; returns
/// (success, stderr), for tests that expect it to fail as well as succeed.
pub fn run(bin: &str, args: &[&str]) -> (bool, String) {
    let out: Output = std::process::Command::new(peer::binary(bin, INSTALL))
        .args(args)
        .env("MIBS", "")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts a net-snmp tool in the background (stderr piped, killed on drop), for a test
/// that answers it while it runs (an inform waiting for our Response).
pub fn spawn(bin: &str, args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(peer::binary(bin, INSTALL))
        .args(args)
        .env("MIBS", "")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// One `OID = value` entry of `-On` output (hex strings span lines).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub oid: Oid,
    pub text: String,
}

impl Entry {
    /// The type label (`Counter32`, `STRING`, ...) or the whole text for
    /// values that have none (exceptions, NULL, `""`).
    pub fn type_label(&self) -> &str {
        match self.text.split_once(": ") {
            Some((t, _)) if !t.contains(' ') || t.starts_with("Opaque") => t,
            _ => &self.text,
        }
    }
}

pub fn parse_walk(text: &str) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    let mut lines: Vec<&str> = text.lines().collect();
    // snmpwalk's v1 trailer; both sides must have it, so compare it here.
    let trailer = lines.last() == Some(&"End of MIB");
    if trailer {
        lines.pop();
    }
    for line in lines {
        if let Some((oid, value)) = line.split_once(" = ").filter(|(o, _)| o.starts_with('.')) {
            if let Ok(oid) = oid.parse() {
                out.push(Entry {
                    oid,
                    text: value.to_string(),
                });
                continue;
            }
        }
        let last = out.last_mut().expect("continuation line before any entry");
        last.text.push('\n');
        last.text.push_str(line);
    }
    if trailer {
        out.push(Entry {
            oid: Oid(vec![]),
            text: "End of MIB".into(),
        });
    }
    out
}

fn under(oid: &Oid, prefixes: &[&str]) -> bool {
    prefixes
        .iter()
        .any(|p| oid.starts_with(&p.parse().unwrap()))
}

/// Tables whose rows come and go while a test runs: connections and
/// sockets (the walkers' own sockets appear in them), running processes
/// (the walker itself is one), and neighbour caches.
pub const DYNAMIC_ROWS: &[&str] = &[
    ".1.3.6.1.2.1.6.13",
    ".1.3.6.1.2.1.6.19",
    ".1.3.6.1.2.1.6.20",
    ".1.3.6.1.2.1.7.5",
    ".1.3.6.1.2.1.7.7",
    ".1.3.6.1.2.1.25.4.2",
    ".1.3.6.1.2.1.25.5.1",
    ".1.3.6.1.2.1.4.22",
    ".1.3.6.1.2.1.4.35",
];

/// Values that change between two walks without being a counter type:
/// sysUpTime-like clocks, load and memory figures, engine time.
pub const VOLATILE_VALUES: &[&str] = &[
    ".1.3.6.1.2.1.25.1.2",      // hrSystemDate
    ".1.3.6.1.2.1.25.2.3.1.6",  // hrStorageUsed
    ".1.3.6.1.2.1.25.3.3.1.2",  // hrProcessorLoad
    ".1.3.6.1.2.1.25.6.2",      // hrSWInstalledLastUpdateTime
    ".1.3.6.1.4.1.2021",        // UCD-SNMP memory, load, disk, systemStats
    ".1.3.6.1.6.3.10.2.1.3",    // snmpEngineTime
    ".1.3.6.1.2.1.31.1.1.1.15", // ifHighSpeed may flap on virtual links
];

/// Compares our walk with net-snmp's, both in `-On` form.
///
/// A full-tree walk of a live host cannot be byte-identical twice in a row,
/// even between two net-snmp runs: counters move, and the walkers' own
/// sockets and processes appear in the tables. So: (1) the OID sequence
/// must be identical outside [`DYNAMIC_ROWS`]; (2) every value must be
/// byte-identical except counters/gauges/timeticks and [`VOLATILE_VALUES`],
/// whose type label must still match; (3) the system group (less sysUpTime)
/// must be byte-identical, checked separately so it is never masked.
pub fn assert_walks_match(ours: &str, theirs: &str) {
    if let Err(e) = walks_match(ours, theirs) {
        panic!("{e}");
    }
}

/// [`assert_walks_match`] as a result, so a caller can retry when the host
/// itself changed between the two walks (an interface or mount appearing).
pub fn walks_match(ours: &str, theirs: &str) -> Result<(), String> {
    let keep = |e: &Entry| !under(&e.oid, DYNAMIC_ROWS);
    let a: Vec<Entry> = parse_walk(ours).into_iter().filter(keep).collect();
    let b: Vec<Entry> = parse_walk(theirs).into_iter().filter(keep).collect();
    if b.len() <= 100 {
        return Err(format!("net-snmp walk suspiciously short: {}", b.len()));
    }
    let ao: Vec<&Oid> = a.iter().map(|e| &e.oid).collect();
    let bo: Vec<&Oid> = b.iter().map(|e| &e.oid).collect();
    if ao != bo {
        let first = ao
            .iter()
            .zip(&bo)
            .position(|(x, y)| x != y)
            .unwrap_or(ao.len().min(bo.len()));
        return Err(format!(
            "OID sequences differ at {first}: ours {:?} theirs {:?} (lengths {} vs {})",
            ao.get(first),
            bo.get(first),
            ao.len(),
            bo.len()
        ));
    }
    let mut exact = 0;
    for (x, y) in a.iter().zip(&b) {
        let volatile = under(&x.oid, VOLATILE_VALUES)
            || [
                "Counter32",
                "Counter64",
                "Gauge32",
                "Timeticks",
                "Opaque: Float",
            ]
            .iter()
            .any(|t| y.text.starts_with(t));
        if volatile {
            if x.type_label() != y.type_label() {
                return Err(format!(
                    "type differs at {}: {:?} vs {:?}",
                    x.oid, x.text, y.text
                ));
            }
        } else {
            if x.text != y.text {
                return Err(format!(
                    "value differs at {}: ours {:?} theirs {:?}",
                    x.oid, x.text, y.text
                ));
            }
            exact += 1;
        }
    }
    if exact <= 50 {
        return Err(format!("too few exactly compared values: {exact}"));
    }
    let sys = |v: &[Entry]| -> Vec<String> {
        v.iter()
            .filter(|e| under(&e.oid, &[".1.3.6.1.2.1.1"]) && !under(&e.oid, &[".1.3.6.1.2.1.1.3"]))
            .map(|e| format!("{} = {}", e.oid, e.text))
            .collect()
    };
    if sys(&a) != sys(&b) {
        return Err(format!(
            "system group differs:\n{:?}\n{:?}",
            sys(&a),
            sys(&b)
        ));
    }
    Ok(())
}
