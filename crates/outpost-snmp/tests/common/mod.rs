//! Shared test harness: real peers (net-snmp snmpd, snmpsim) started on
//! ephemeral loopback ports, stopped by PID on drop. A missing peer binary
//! is a test failure, never a skip: run `scripts/deps/20-snmp.sh`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use outpost_snmp::engine::{Engine, EngineConfig, TargetConfig};
use outpost_snmp::security::{Security, UsmUser};
use outpost_snmp::{AuthProtocol, Oid, PrivProtocol, TargetAddr};
use secrecy::SecretString;
use tokio::process::{Child, Command};
use tokio::time::Instant;

pub const AUTH_PASS: &str = "authpass123";
pub const PRIV_PASS: &str = "privpass123";

/// Users created in every test snmpd: (name, auth, priv, net-snmp -a, -x).
pub const USERS: &[(&str, &str, Option<&str>)] = &[
    ("probeuser", "SHA", Some("AES")),
    ("probe256", "SHA-256", Some("AES256")),
    ("shaaes256", "SHA", Some("AES256")),
    ("md5des", "MD5", Some("DES")),
    ("sha512", "SHA-512", Some("AES192")),
    ("sha384", "SHA-384", Some("AES")),
    ("authonly", "SHA-224", None),
];

/// A port free for UDP (v4 and v6) and TCP on loopback right now. Another
/// process could take it before the peer binds it; peers then fail to start
/// and the caller retries with a new port.
pub fn free_port() -> u16 {
    loop {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        let ok = TcpListener::bind(("127.0.0.1", port)).is_ok()
            && UdpSocket::bind(("::1", port)).is_ok();
        drop(u);
        if ok {
            return port;
        }
    }
}

fn must_exist(bin: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"] {
        let p = Path::new(dir).join(bin);
        if p.exists() {
            return p;
        }
    }
    panic!("peer binary {bin:?} is missing: run scripts/deps/20-snmp.sh (tests never skip)");
}

/// A real net-snmp snmpd on a private port and persistent dir.
pub struct Snmpd {
    /// The running agent; killed by PID on drop.
    child: Child,
    /// Port it serves on: udp 127.0.0.1, udp6 ::1 and tcp 127.0.0.1.
    pub port: u16,
    /// Config, persistent dir and log; removed on drop.
    pub dir: tempfile::TempDir,
}

impl Snmpd {
    pub async fn start() -> Snmpd {
        Self::start_with("").await
    }

    /// Starts snmpd with the standard users plus `extra` config lines, and
    /// waits (with a deadline) until it answers a v2c GET.
    pub async fn start_with(extra: &str) -> Snmpd {
        let bin = must_exist("snmpd");
        for _attempt in 0..5 {
            let port = free_port();
            let dir = tempfile::tempdir().unwrap();
            let mut conf = format!(
                "agentAddress udp:127.0.0.1:{port},udp6:[::1]:{port},tcp:127.0.0.1:{port}\n\
                 rocommunity public 127.0.0.1 .1\nrocommunity6 public ::1 .1\n\
                 rwcommunity private 127.0.0.1 .1\nsysServices 72\nsysLocation \"Test lab\"\n"
            );
            for (u, a, p) in USERS {
                match p {
                    Some(p) => {
                        conf += &format!(
                            "createUser {u} {a} {AUTH_PASS} {p} {PRIV_PASS}\nrouser {u} priv .1\n"
                        )
                    }
                    None => {
                        conf += &format!("createUser {u} {a} {AUTH_PASS}\nrouser {u} auth .1\n")
                    }
                }
            }
            conf += extra;
            std::fs::write(dir.path().join("snmpd.conf"), conf).unwrap();
            std::fs::create_dir_all(dir.path().join("persist")).unwrap();
            let child = Command::new(&bin)
                .args(["-f", "-C", "-c"])
                .arg(dir.path().join("snmpd.conf"))
                .arg("-Lf")
                .arg(dir.path().join("snmpd.log"))
                .env("SNMP_PERSISTENT_DIR", dir.path().join("persist"))
                .env("MIBS", "")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("spawn snmpd");
            let mut s = Snmpd { child, port, dir };
            if s.wait_ready().await {
                return s;
            }
            // Port taken between probe and bind: try another.
        }
        panic!("snmpd did not start after 5 attempts");
    }

    async fn wait_ready(&mut self) -> bool {
        let engine = Engine::new(EngineConfig::default()).await.unwrap();
        let mut cfg = TargetConfig::new(self.udp().parse().unwrap(), Security::v2c("public"));
        cfg.timeout = Duration::from_millis(100);
        cfg.retries = 0;
        let s = engine.session(cfg).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        let oid: Oid = ".1.3.6.1.2.1.1.5.0".parse().unwrap();
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if s.get(std::slice::from_ref(&oid)).await.is_ok() {
                return true;
            }
        }
        false
    }

    pub fn udp(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    pub fn udp6(&self) -> String {
        format!("udp6:[::1]:{}", self.port)
    }
    pub fn tcp(&self) -> String {
        format!("tcp:127.0.0.1:{}", self.port)
    }
}

impl Drop for Snmpd {
    fn drop(&mut self) {
        // By PID: this child only.
        let _ = self.child.start_kill();
    }
}

/// Runs a net-snmp tool with no MIBs and returns stdout; fails loudly.
pub async fn netsnmp(bin: &str, args: &[&str]) -> String {
    let path = must_exist(bin);
    let out = Command::new(path)
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

/// net-snmp `-v3` arguments for one of [`USERS`].
pub fn v3_args(user: &str) -> Vec<String> {
    let (u, a, p) = USERS.iter().find(|(u, _, _)| *u == user).unwrap();
    let mut v: Vec<String> = ["-v3", "-u", u, "-a", a, "-A", AUTH_PASS]
        .iter()
        .map(|s| s.to_string())
        .collect();
    match p {
        Some(p) => v.extend(
            ["-l", "authPriv", "-x", p, "-X", PRIV_PASS]
                .iter()
                .map(|s| s.to_string()),
        ),
        None => v.extend(["-l", "authNoPriv"].iter().map(|s| s.to_string())),
    }
    v
}

/// Our security settings for one of [`USERS`].
pub fn v3_security(user: &str) -> Security {
    let (u, a, p) = USERS.iter().find(|(u, _, _)| *u == user).unwrap();
    let auth: AuthProtocol = a.parse().unwrap();
    let privacy = p.map(|p| {
        (
            p.parse::<PrivProtocol>().unwrap(),
            SecretString::from(PRIV_PASS.to_string()),
        )
    });
    Security::Usm(Arc::new(
        UsmUser::new(
            u,
            Some((auth, SecretString::from(AUTH_PASS.to_string()))),
            privacy,
        )
        .unwrap(),
    ))
}

pub fn target(addr: &str, security: Security) -> TargetConfig {
    let a: TargetAddr = addr.parse().unwrap();
    TargetConfig::new(a, security)
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
