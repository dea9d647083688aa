//! A real net-snmp `snmpd` on a private port and persistent directory, serving UDP on
//! 127.0.0.1 and ::1 and TCP on 127.0.0.1, with a standard set of v3 users; or with a
//! config of the test's own ([`Snmpd::start_config`]).

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use outpost_snmp::engine::{Engine, EngineConfig, TargetConfig};
use outpost_snmp::security::{Security, UsmUser};
use outpost_snmp::{AuthProtocol, Oid, PrivProtocol, Session, TargetAddr};
use secrecy::SecretString;
use tokio::time::Instant;

use crate::peer::{self, Process};
use crate::ports::free_port;

/// What installs net-snmp's agent and tools.
pub const INSTALL: &str = "scripts/deps/20-snmp.sh";

pub const AUTH_PASS: &str = "authpass123";
pub const PRIV_PASS: &str = "privpass123";

/// Users created in every standard test snmpd: (name, net-snmp -a, -x).
pub const USERS: &[(&str, &str, Option<&str>)] = &[
    ("probeuser", "SHA", Some("AES")),
    ("probe256", "SHA-256", Some("AES256")),
    ("shaaes256", "SHA", Some("AES256")),
    ("md5des", "MD5", Some("DES")),
    ("sha512", "SHA-512", Some("AES192")),
    ("sha384", "SHA-384", Some("AES")),
    ("authonly", "SHA-224", None),
];

/// A running snmpd; killed by PID on drop.
pub struct Snmpd {
    // Declared first: dropped (killed) before its directory is removed.
    process: Process,
    /// Port it serves on.
    pub port: u16,
    /// Config, persistent dir, log and stderr; removed on drop.
    pub dir: tempfile::TempDir,
}

impl Snmpd {
    /// The standard snmpd: communities `public` (read) and `private` (write), [`USERS`].
    pub async fn start() -> Snmpd {
        Self::start_with("").await
    }

    /// The standard snmpd plus `extra` config lines.
    pub async fn start_with(extra: &str) -> Snmpd {
        Self::start_config("public", |port| standard_config(port) + extra).await
    }

    /// An snmpd on the config `config(port)` builds; ready once it answers a v2c GET for
    /// `community`, with a deadline.
    pub async fn start_config(community: &str, config: impl Fn(u16) -> String) -> Snmpd {
        let bin = peer::binary("snmpd", INSTALL);
        let mut last = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("snmpd.conf"), config(port)).unwrap();
            std::fs::create_dir_all(dir.path().join("persist")).unwrap();
            let mut cmd = Command::new(&bin);
            cmd.args(["-f", "-C", "-c"])
                .arg(dir.path().join("snmpd.conf"))
                .arg("-Lf")
                .arg(dir.path().join("snmpd.log"))
                .env("SNMP_PERSISTENT_DIR", dir.path().join("persist"))
                .env("MIBS", "");
            let process = Process::spawn("snmpd", cmd, dir.path());
            let mut s = Snmpd { process, port, dir };
            if s.wait_ready(community).await {
                return s;
            }
            // Port taken between probe and bind: try another.
            last = std::fs::read_to_string(s.dir.path().join("snmpd.log")).unwrap_or_default()
                + &s.process.stderr();
        }
        panic!("snmpd did not start after 5 attempts; the last one said:\n{last}");
    }

    /// An snmpd answering `public` on UDP at `n` loopback addresses ([`loopback`] 0 to
    /// n - 1), one port: `n` devices as a per-device-IP gate sees them.
    pub async fn start_on_loopbacks(n: usize) -> Snmpd {
        Self::start_config("public", |port| {
            let listen: Vec<String> = (0..n.max(1))
                .map(|i| format!("udp:{}:{port}", loopback(i)))
                .collect();
            format!(
                "agentAddress {}\nrocommunity public 127.0.0.0/8 .1\nsysLocation \"Test lab\"\n",
                listen.join(",")
            )
        })
        .await
    }

    async fn wait_ready(&mut self, community: &str) -> bool {
        let (_engine, s) = v2c_session(&self.udp(), community, Duration::from_millis(100), 0).await;
        let deadline = Instant::now() + Duration::from_secs(15);
        let oid: Oid = ".1.3.6.1.2.1.1.5.0".parse().unwrap();
        while Instant::now() < deadline {
            if self.process.exited().is_some() {
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

/// The `i`th loopback address of [`Snmpd::start_on_loopbacks`]: 127.0.0.1, 127.0.0.2, ...
/// (snmpd's config parser cuts a long `agentAddress` line short: keep `n` small).
pub fn loopback(i: usize) -> String {
    format!("127.0.0.{}", 1 + i % 250)
}

/// A v2c session to `addr` (any form `outpost snmp` takes) with this timeout and retries;
/// the engine must be kept as long as the session.
pub async fn v2c_session(
    addr: &str,
    community: &str,
    timeout: Duration,
    retries: u32,
) -> (Engine, Session) {
    let engine = Engine::new(EngineConfig::default()).await.unwrap();
    let mut cfg = TargetConfig::new(addr.parse().unwrap(), Security::v2c(community));
    cfg.timeout = timeout;
    cfg.retries = retries;
    let session = engine.session(cfg).await.unwrap();
    (engine, session)
}

/// The standard config: all three transports, `public`/`private`, and [`USERS`].
fn standard_config(port: u16) -> String {
    let mut conf = format!(
        "agentAddress udp:127.0.0.1:{port},udp6:[::1]:{port},tcp:127.0.0.1:{port}\n\
         rocommunity public 127.0.0.1 .1\nrocommunity6 public ::1 .1\n\
         rwcommunity private 127.0.0.1 .1\nsysServices 72\nsysLocation \"Test lab\"\n"
    );
    for (u, a, p) in USERS {
        match p {
            Some(p) => {
                conf +=
                    &format!("createUser {u} {a} {AUTH_PASS} {p} {PRIV_PASS}\nrouser {u} priv .1\n")
            }
            None => conf += &format!("createUser {u} {a} {AUTH_PASS}\nrouser {u} auth .1\n"),
        }
    }
    conf
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

/// Our target config for `addr` (any form `outpost snmp` takes).
pub fn target(addr: &str, security: Security) -> TargetConfig {
    let a: TargetAddr = addr.parse().unwrap();
    TargetConfig::new(a, security)
}
