//! `check.dns`: one query to exactly one server, no cache: what that server answers now.
//!
//! hickory-proto builds and reads the messages; the I/O is ours (UDP, then TCP when the
//! answer is truncated), so nothing retries another server or serves a cached answer, which
//! a check of *this* server must not do. hickory-proto is pinned to 0.25: its API changes
//! between 0.x minors, and only this module touches it.
//!
//! States (as check_dig/check_dns): no answer in time, a REFUSED/SERVFAIL/NXDOMAIN answer,
//! no record of the asked type, or an expected value missing: CRITICAL. Response time past
//! the thresholds: WARNING/CRITICAL.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Instant;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::result::{CheckResult, Status};
use crate::spec::{ms, seconds_text, SpecError, Timing};

/// The record types a check may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum Kind {
    #[default]
    A,
    Aaaa,
    Cname,
    Mx,
    Txt,
    Srv,
    Ptr,
}

impl Kind {
    fn record_type(self) -> RecordType {
        match self {
            Kind::A => RecordType::A,
            Kind::Aaaa => RecordType::AAAA,
            Kind::Cname => RecordType::CNAME,
            Kind::Mx => RecordType::MX,
            Kind::Txt => RecordType::TXT,
            Kind::Srv => RecordType::SRV,
            Kind::Ptr => RecordType::PTR,
        }
    }
}

/// One value or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn values(&self) -> &[String] {
        match self {
            OneOrMany::One(v) => std::slice::from_ref(v),
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSpec {
    /// The name to look up; for PTR, an IP address is turned into its reverse name.
    pub hostname: String,
    /// `IP` or `IP:PORT` / `[IPv6]:PORT`; default the first `nameserver` of
    /// /etc/resolv.conf.
    #[serde(default)]
    pub server: Option<String>,
    #[serde(default)]
    pub record_type: Kind,
    /// Values that must all be in the answer, in the form `details.answers` shows:
    /// `192.0.2.1`, `mail.example.test` (or `10 mail.example.test` for MX), the text of a
    /// TXT record, `PRIORITY WEIGHT PORT TARGET` for SRV. Names compare case-insensitively,
    /// without the trailing dot; addresses as addresses.
    #[serde(default)]
    pub expect: Option<OneOrMany>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub warn_ms: Option<f64>,
    #[serde(default)]
    pub crit_ms: Option<f64>,
}

impl DnsSpec {
    pub fn timing(&self) -> Timing {
        Timing {
            timeout_ms: self.timeout_ms,
            warn_ms: self.warn_ms,
            crit_ms: self.crit_ms,
        }
    }

    fn name(&self) -> Result<Name, String> {
        if self.record_type == Kind::Ptr {
            if let Ok(ip) = self.hostname.parse::<IpAddr>() {
                return Ok(Name::from(ip));
            }
        }
        let mut n = Name::from_str(&self.hostname).map_err(|e| e.to_string())?;
        n.set_fqdn(true);
        Ok(n)
    }

    pub fn validate(&self) -> Result<(), SpecError> {
        if self.hostname.is_empty() || self.hostname.len() > 253 {
            return Err(SpecError::new("hostname", "a DNS name"));
        }
        self.name().map_err(|e| SpecError::new("hostname", e))?;
        if let Some(s) = &self.server {
            parse_server(s).map_err(|e| SpecError::new("server", e))?;
        }
        if let Some(e) = &self.expect {
            if e.values().is_empty() || e.values().iter().any(String::is_empty) {
                return Err(SpecError::new("expect", "one or more non-empty values"));
            }
        }
        self.timing().validate()
    }
}

/// `IP`, `IP:PORT` or `[IPv6]:PORT` (port default 53).
pub fn parse_server(s: &str) -> Result<SocketAddr, String> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    s.parse::<SocketAddr>()
        .map_err(|_| format!("{s:?} is not an address (IP, IP:PORT or [IPv6]:PORT)"))
}

/// The system's resolver: the first usable `nameserver` of /etc/resolv.conf, port 53.
/// Read at each call, never cached: DHCP rewrites the file, and `ip netns exec` mounts a
/// namespace's own over it. The codebase's one reader of that file (the checks and the
/// connectivity monitor both ask here).
pub fn system_server() -> Result<SocketAddr, String> {
    let text = std::fs::read_to_string("/etc/resolv.conf")
        .map_err(|e| format!("/etc/resolv.conf: {e}"))?;
    first_nameserver(&text)
        .map(|ip| SocketAddr::new(ip, 53))
        .ok_or_else(|| "/etc/resolv.conf names no usable nameserver".into())
}

/// The first `nameserver` of a resolv.conf text that is an IP address. A link-local IPv6
/// one with a `%scope` is skipped: without its interface it cannot be reached, and a
/// later entry can.
pub fn first_nameserver(resolv_conf: &str) -> Option<IpAddr> {
    resolv_conf.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        (words.next() == Some("nameserver"))
            .then(|| words.next()?.parse().ok())
            .flatten()
    })
}

pub async fn check(spec: &DnsSpec) -> CheckResult {
    let timing = spec.timing();
    let start = Instant::now();
    let server = match spec.server.as_deref().map(parse_server) {
        Some(s) => s,
        None => system_server(),
    };
    let server = match server {
        Ok(s) => s,
        Err(e) => {
            let mut r = CheckResult::new(
                Status::Unknown,
                format!("DNS UNKNOWN - {e}"),
                start.elapsed(),
            );
            timing.add_time(&mut r);
            return r;
        }
    };
    timing
        .bounded(start, run(spec, server, start), |secs| {
            (
                format!("DNS CRITICAL - no answer from {server} within {secs} seconds"),
                json!({"server": server.to_string(), "hostname": spec.hostname,
                    "timeout": true}),
            )
        })
        .await
}

async fn run(spec: &DnsSpec, server: SocketAddr, start: Instant) -> CheckResult {
    let unknown = |m: String| CheckResult::new(Status::Unknown, m, start.elapsed());
    let name = match spec.name() {
        Ok(n) => n,
        Err(e) => return unknown(format!("DNS UNKNOWN - hostname: {e}")),
    };
    let rtype = spec.record_type.record_type();
    let id = query_id();
    let mut msg = Message::new();
    msg.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(name.clone(), rtype));
    let wire = match msg.to_vec() {
        Ok(w) => w,
        Err(e) => return unknown(format!("DNS UNKNOWN - encoding the query: {e}")),
    };
    let critical = |m: String, e: String| {
        let mut r = CheckResult::new(Status::Critical, m, start.elapsed());
        r.details = json!({"server": server.to_string(), "hostname": spec.hostname, "error": e});
        r
    };
    let mut transport = "udp";
    let mut answer = match udp(server, &wire, id, &name, rtype).await {
        Ok(a) => a,
        Err(e) => return critical(format!("DNS CRITICAL - {server}: {e}"), e),
    };
    if answer.truncated() {
        transport = "tcp";
        answer = match tcp(server, &wire, id).await {
            Ok(a) => a,
            Err(e) => return critical(format!("DNS CRITICAL - {server} over TCP: {e}"), e),
        };
    }
    let elapsed = start.elapsed();
    let rcode = answer.response_code();
    let all: Vec<(String, String)> = answer
        .answers()
        .iter()
        .map(|r| (r.record_type().to_string(), text(r.data())))
        .collect();
    let values: Vec<&String> = all
        .iter()
        .filter(|(t, _)| *t == rtype.to_string())
        .map(|(_, v)| v)
        .collect();
    let expected = spec.expect.as_ref().map(OneOrMany::values).unwrap_or(&[]);
    let missing: Vec<&String> = expected
        .iter()
        .filter(|e| !values.iter().any(|v| matches(spec.record_type, e, v)))
        .collect();

    let mut status = spec.timing().judge(elapsed);
    let mut problem = None;
    if rcode != ResponseCode::NoError {
        status = Status::Critical;
        problem = Some(format!("server answered {rcode}"));
    } else if values.is_empty() {
        status = Status::Critical;
        problem = Some(format!("no {rtype} record"));
    } else if !missing.is_empty() {
        status = Status::Critical;
        problem = Some(format!(
            "expected {} not in the answer",
            missing
                .iter()
                .map(|m| format!("'{m}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let shown = values
        .iter()
        .map(|v| v.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let output = match &problem {
        Some(p) => format!(
            "DNS {status} - {} {rtype}: {p} ({})",
            spec.hostname,
            seconds_text(elapsed)
        ),
        None => format!(
            "DNS {status} - {} {rtype} {shown} ({})",
            spec.hostname,
            seconds_text(elapsed)
        ),
    };
    let mut r = CheckResult::new(status, output, elapsed);
    r.details = json!({
        "server": server.to_string(),
        "hostname": spec.hostname,
        "query": name.to_ascii(),
        "record_type": rtype.to_string(),
        "rcode": rcode.to_string(),
        "transport": transport,
        "answers": values,
        "all_answers": all.iter().map(|(t, v)| json!({"type": t, "value": v})).collect::<Vec<_>>(),
        "missing": missing,
        "query_ms": ms(elapsed),
    });
    r
}

/// A query id that an off-path sender cannot guess from the last one: hashed from a
/// randomly keyed hasher (std's RandomState, seeded from the OS), no RNG crate needed.
fn query_id() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish() as u16
}

/// Sends the query and waits for the answer to it: a datagram from another address, with
/// another id or for another question is ignored (not the answer; maybe a spoof).
async fn udp(
    server: SocketAddr,
    wire: &[u8],
    id: u16,
    name: &Name,
    rtype: RecordType,
) -> Result<Message, String> {
    let local: SocketAddr = if server.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(local).await.map_err(|e| e.to_string())?;
    sock.connect(server).await.map_err(|e| e.to_string())?;
    sock.send(wire).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = sock.recv(&mut buf).await.map_err(|e| e.to_string())?;
        let Ok(m) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        let same_question = m
            .queries()
            .first()
            .is_some_and(|q| q.name() == name && q.query_type() == rtype);
        if m.id() == id && m.message_type() == MessageType::Response && same_question {
            return Ok(m);
        }
    }
}

/// The same query over TCP (RFC 1035 4.2.2: a two-byte length before each message).
async fn tcp(server: SocketAddr, wire: &[u8], id: u16) -> Result<Message, String> {
    let mut s = TcpStream::connect(server)
        .await
        .map_err(|e| e.to_string())?;
    let len = u16::try_from(wire.len()).map_err(|_| "query too long".to_string())?;
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(wire);
    s.write_all(&out).await.map_err(|e| e.to_string())?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
    let m = Message::from_vec(&buf).map_err(|e| e.to_string())?;
    if m.id() != id {
        return Err("answer with another id".into());
    }
    Ok(m)
}

/// A record's value as the check shows it and matches `expect` against.
fn text(data: &RData) -> String {
    match data {
        RData::A(a) => a.0.to_string(),
        RData::AAAA(a) => a.0.to_string(),
        RData::CNAME(n) => bare(&n.0),
        RData::PTR(n) => bare(&n.0),
        RData::MX(mx) => format!("{} {}", mx.preference(), bare(mx.exchange())),
        RData::TXT(t) => t
            .txt_data()
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect::<String>(),
        RData::SRV(s) => format!(
            "{} {} {} {}",
            s.priority(),
            s.weight(),
            s.port(),
            bare(s.target())
        ),
        other => other.to_string(),
    }
}

fn bare(n: &Name) -> String {
    n.to_ascii().trim_end_matches('.').to_ascii_lowercase()
}

/// Does an answer's value satisfy an expected one?
fn matches(kind: Kind, expected: &str, value: &str) -> bool {
    let e = expected.trim();
    match kind {
        Kind::A | Kind::Aaaa => match (e.parse::<IpAddr>(), value.parse::<IpAddr>()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        },
        Kind::Txt => e == value,
        Kind::Cname | Kind::Ptr => norm(e) == value,
        // `10 mx.example.test` or just `mx.example.test`.
        Kind::Mx => {
            norm(e) == value
                || value
                    .split_once(' ')
                    .is_some_and(|(_, host)| norm(e) == host)
        }
        Kind::Srv => {
            let (e_parts, v_parts): (Vec<_>, Vec<_>) =
                (e.split_whitespace().collect(), value.split(' ').collect());
            e_parts.len() == 4
                && e_parts[..3] == v_parts[..3.min(v_parts.len())]
                && v_parts.get(3).is_some_and(|t| norm(e_parts[3]) == *t)
        }
    }
}

fn norm(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_values_match_as_documented() {
        assert!(matches(Kind::A, "192.0.2.1", "192.0.2.1"));
        assert!(matches(Kind::Aaaa, "2001:DB8::1", "2001:db8::1"));
        assert!(!matches(Kind::A, "192.0.2.2", "192.0.2.1"));
        assert!(matches(Kind::Cname, "Target.Example.", "target.example"));
        assert!(matches(Kind::Mx, "mail.example", "10 mail.example"));
        assert!(matches(Kind::Mx, "10 mail.example", "10 mail.example"));
        assert!(!matches(Kind::Mx, "20 mail.example", "10 mail.example"));
        assert!(matches(
            Kind::Srv,
            "0 5 5060 sip.example.",
            "0 5 5060 sip.example"
        ));
        assert!(!matches(
            Kind::Srv,
            "0 5 5061 sip.example",
            "0 5 5060 sip.example"
        ));
        assert!(matches(Kind::Txt, "v=spf1 -all", "v=spf1 -all"));
    }

    #[test]
    fn issue14_resolv_conf_first_usable_nameserver() {
        let text = "# generated\nsearch lan\nnameserverx 192.0.2.1\n  nameserver fe80::1%eth0\n\
                    nameserver 192.0.2.53 # the router\nnameserver 192.0.2.54\n";
        assert_eq!(
            first_nameserver(text),
            Some("192.0.2.53".parse().unwrap()),
            "another keyword and a scoped link-local address are skipped"
        );
        assert_eq!(
            first_nameserver("nameserver 2001:db8::53\n"),
            Some("2001:db8::53".parse().unwrap())
        );
        assert_eq!(
            first_nameserver("nameserver\nnameserver dns.example\n"),
            None
        );
        assert_eq!(first_nameserver(""), None);
    }

    #[test]
    fn servers_parse_with_and_without_port() {
        assert_eq!(parse_server("127.0.0.1").unwrap().port(), 53);
        assert_eq!(parse_server("127.0.0.1:5353").unwrap().port(), 5353);
        assert_eq!(parse_server("[::1]:5353").unwrap().port(), 5353);
        assert!(parse_server("::1").unwrap().is_ipv6());
        assert!(parse_server("dns.example").is_err());
    }
}
