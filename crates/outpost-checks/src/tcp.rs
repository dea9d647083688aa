//! `check.tcp`: connect, optionally send, optionally expect a substring, as check_tcp.
//!
//! States follow check_tcp (monitoring-plugins 2.3.3, checked on this machine): a name that
//! does not resolve is CRITICAL ("Invalid hostname, address or socket"), a refused connect
//! is `refuse` (default CRITICAL), an answer without the expected text is `mismatch`
//! (default WARNING, check_tcp's `-M` default), no answer before the timeout is CRITICAL.

use std::net::SocketAddr;
use std::time::Instant;

use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::perfdata::Perfdata;
use crate::result::{CheckResult, Status};
use crate::spec::{ms, seconds_text, validate_host, SpecError, StateName, Timing};

/// Bytes read while looking for `expect` (check_tcp's `-m` has no default; 4 KiB covers
/// every banner we know).
pub const DEFAULT_MAX_BYTES: usize = 4096;
pub const MAX_MAX_BYTES: usize = 1 << 20;
/// How long to wait for more of an answer that has started but lacks `expect`.
pub const READ_IDLE: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpSpec {
    pub host: String,
    pub port: u16,
    /// Sent once connected.
    #[serde(default)]
    pub send: Option<String>,
    /// A substring the answer must contain.
    #[serde(default)]
    pub expect: Option<String>,
    /// Most bytes read while waiting for `expect`.
    #[serde(default)]
    pub max_bytes: Option<usize>,
    /// State when the answer lacks `expect` (default warning, as check_tcp).
    #[serde(default)]
    pub mismatch: Option<StateName>,
    /// State when the connection is refused (default critical, as check_tcp).
    #[serde(default)]
    pub refuse: Option<StateName>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub warn_ms: Option<f64>,
    #[serde(default)]
    pub crit_ms: Option<f64>,
}

impl TcpSpec {
    pub fn timing(&self) -> Timing {
        Timing {
            timeout_ms: self.timeout_ms,
            warn_ms: self.warn_ms,
            crit_ms: self.crit_ms,
        }
    }

    pub fn validate(&self) -> Result<(), SpecError> {
        validate_host("host", &self.host)?;
        if self.port == 0 {
            return Err(SpecError::new("port", "1 to 65535"));
        }
        if self.expect.as_deref() == Some("") {
            return Err(SpecError::new("expect", "must not be empty"));
        }
        if let Some(m) = self.max_bytes {
            if m == 0 || m > MAX_MAX_BYTES {
                return Err(SpecError::new("max_bytes", format!("1 to {MAX_MAX_BYTES}")));
            }
        }
        self.timing().validate()
    }
}

/// The addresses of `host:port` (an IP literal needs no lookup).
pub(crate) async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    match tokio::net::lookup_host((bare, port)).await {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            if addrs.is_empty() {
                Err("no address".to_string())
            } else {
                Ok(addrs)
            }
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Connects to each address in turn, as the plugins do with getaddrinfo's list: the first
/// that accepts wins; else the last address's error.
pub(crate) async fn connect_any(
    addrs: &[SocketAddr],
) -> Result<(TcpStream, SocketAddr), (SocketAddr, std::io::Error)> {
    let mut last = None;
    for &a in addrs {
        match TcpStream::connect(a).await {
            Ok(s) => return Ok((s, a)),
            Err(e) => last = Some((a, e)),
        }
    }
    Err(last.unwrap_or_else(|| {
        (
            SocketAddr::from(([0, 0, 0, 0], 0)),
            std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
        )
    }))
}

pub async fn check(spec: &TcpSpec) -> CheckResult {
    let timing = spec.timing();
    let start = Instant::now();
    timing
        .bounded(start, run(spec, start), |secs| {
            (
                format!("TCP CRITICAL - Socket timeout after {secs} seconds"),
                json!({"host": spec.host, "port": spec.port, "timeout": true}),
            )
        })
        .await
}

async fn run(spec: &TcpSpec, start: Instant) -> CheckResult {
    let timing = spec.timing();
    let addrs = match resolve(&spec.host, spec.port).await {
        Ok(a) => a,
        Err(e) => {
            let mut r = CheckResult::new(
                Status::Critical,
                format!(
                    "TCP CRITICAL - Invalid hostname, address or socket: {} ({e})",
                    spec.host
                ),
                start.elapsed(),
            );
            r.details = json!({"host": spec.host, "port": spec.port, "resolve_error": e});
            return r;
        }
    };
    let (mut sock, addr) = match connect_any(&addrs).await {
        Ok(s) => s,
        Err((addr, e)) => {
            let refused = e.kind() == std::io::ErrorKind::ConnectionRefused;
            let status = if refused {
                spec.refuse.map_or(Status::Critical, Status::from)
            } else {
                Status::Critical
            };
            let mut r = CheckResult::new(
                status,
                format!("TCP {status} - connect to address {addr}: {e}"),
                start.elapsed(),
            );
            r.details = json!({"address": addr.to_string(), "connect_error": e.to_string(), "refused": refused});
            return r;
        }
    };
    let connect_ms = ms(start.elapsed());
    let _ = sock.set_nodelay(true);
    if let Some(send) = &spec.send {
        if let Err(e) = sock.write_all(send.as_bytes()).await {
            let mut r = CheckResult::new(
                Status::Critical,
                format!("TCP CRITICAL - sending to {addr}: {e}"),
                start.elapsed(),
            );
            r.details = json!({"address": addr.to_string(), "send_error": e.to_string()});
            return r;
        }
    }
    let mut received = Vec::new();
    let mut found = None;
    if let Some(expect) = &spec.expect {
        let cap = spec.max_bytes.unwrap_or(DEFAULT_MAX_BYTES);
        let mut buf = vec![0u8; 4096.min(cap)];
        loop {
            let want = buf.len().min(cap - received.len());
            // The first answer may take the whole timeout; once some has come, a pause of
            // READ_IDLE ends the wait (check_tcp's READ_TIMEOUT): the server has said all.
            let read = sock.read(&mut buf[..want]);
            let n = if received.is_empty() {
                read.await
            } else {
                match tokio::time::timeout(READ_IDLE, read).await {
                    Ok(r) => r,
                    Err(_) => break,
                }
            };
            match n {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
            if contains(&received, expect.as_bytes()) {
                found = Some(true);
                break;
            }
            if received.len() >= cap {
                break;
            }
        }
        found = Some(found.unwrap_or(false));
    }
    let elapsed = start.elapsed();
    let answer: String = String::from_utf8_lossy(&received)
        .chars()
        .take(256)
        .collect();
    let (mut status, mut what) = (timing.judge(elapsed), String::new());
    if found == Some(false) {
        let m = spec.mismatch.map_or(Status::Warning, Status::from);
        status = status.worst(m);
        what = if received.is_empty() {
            " - No data received from host".to_string()
        } else {
            format!(" - Unexpected response from host: {}", answer.trim_end())
        };
    }
    let mut r = CheckResult::new(
        status,
        format!("TCP {status} - {} on {addr}{what}", seconds_text(elapsed)),
        elapsed,
    );
    r.details = json!({
        "address": addr.to_string(),
        "connect_ms": connect_ms,
        "bytes_received": received.len(),
        "expect_found": found,
        "response": answer,
    });
    if spec.expect.is_some() {
        r.perfdata
            .push(Perfdata::new("size", received.len() as f64, "B"));
    }
    r
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
