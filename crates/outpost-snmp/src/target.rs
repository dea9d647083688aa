//! Target addresses in net-snmp's forms: `host`, `host:port`,
//! `udp:host:port`, `udp6:[::1]:161`, `tcp:host:port`, `tcp6:[::1]:port`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use crate::error::SnmpError;

/// Which transport carries the messages.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, serde::Serialize, serde::Deserialize)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Address family constraint from a `udp6:`/`tcp6:` prefix.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Family {
    Any,
    V4,
    V6,
}

/// A parsed, not yet resolved, target.
#[derive(Clone, PartialEq, Eq, Debug, Hash)]
pub struct TargetAddr {
    /// UDP or TCP.
    pub transport: Transport,
    /// Which address family the prefix asked for.
    pub family: Family,
    /// Host name or literal address (without brackets).
    pub host: String,
    /// Port; 161 when not given.
    pub port: u16,
}

/// The text is not a target net-snmp would accept, or names port 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid target {target:?}: {reason}")]
pub struct ParseTargetError {
    /// The text (at most 128 characters of it).
    pub target: String,
    /// What is wrong with it, in an operator's words.
    pub reason: &'static str,
}

/// The port an SNMP agent listens on when a target names none (RFC 3417).
pub const DEFAULT_PORT: u16 = 161;

const FORMS: &str = "expected host, host:port, udp6:[2001:db8::1]:161 or tcp:host:port";
const BAD_PORT: &str = "the port must be a number from 1 to 65535 (161 when omitted)";

impl FromStr for TargetAddr {
    type Err = ParseTargetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseTargetError {
            target: crate::oid::shown(s),
            reason,
        };
        let bad = || err(FORMS);
        let port = |p: &str| match p.parse::<u16>() {
            // Nothing can listen on port 0: sending there fails at every attempt.
            Ok(0) | Err(_) => Err(err(BAD_PORT)),
            Ok(n) => Ok(n),
        };
        let lower = s.to_ascii_lowercase();
        let (transport, family, rest) = [
            ("udp6:", Transport::Udp, Family::V6),
            ("udpv6:", Transport::Udp, Family::V6),
            ("udpipv6:", Transport::Udp, Family::V6),
            ("tcp6:", Transport::Tcp, Family::V6),
            ("tcpv6:", Transport::Tcp, Family::V6),
            ("tcpipv6:", Transport::Tcp, Family::V6),
            ("udp:", Transport::Udp, Family::V4),
            ("tcp:", Transport::Tcp, Family::V4),
        ]
        .iter()
        .find(|(p, _, _)| lower.starts_with(p))
        .map(|(p, t, f)| (*t, *f, &s[p.len()..]))
        .unwrap_or((Transport::Udp, Family::Any, s));
        if rest.is_empty() {
            return Err(bad());
        }
        let (host, port) = if let Some(r) = rest.strip_prefix('[') {
            let (h, after) = r.split_once(']').ok_or_else(bad)?;
            let port = match after {
                "" => DEFAULT_PORT,
                p => port(p.strip_prefix(':').ok_or_else(bad)?)?,
            };
            (h.to_string(), port)
        } else if rest.matches(':').count() > 1 {
            // A bare IPv6 literal; net-snmp reads `udp6:::1` the same way.
            if rest.parse::<IpAddr>().is_err() {
                return Err(bad());
            }
            (rest.to_string(), DEFAULT_PORT)
        } else if let Some((h, p)) = rest.split_once(':') {
            (h.to_string(), port(p)?)
        } else {
            (rest.to_string(), DEFAULT_PORT)
        };
        if host.is_empty() {
            return Err(bad());
        }
        let family = match (family, host.parse::<IpAddr>()) {
            (Family::V4, Ok(IpAddr::V6(_))) | (Family::Any, Ok(IpAddr::V6(_))) => Family::V6,
            (f, _) => f,
        };
        Ok(TargetAddr {
            transport,
            family,
            host,
            port,
        })
    }
}

impl fmt::Display for TargetAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = match (self.transport, self.family) {
            (Transport::Udp, Family::V6) => "udp6:",
            (Transport::Tcp, Family::V6) => "tcp6:",
            (Transport::Tcp, _) => "tcp:",
            (Transport::Udp, _) => "",
        };
        if self.host.contains(':') {
            write!(f, "{proto}[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{proto}{}:{}", self.host, self.port)
        }
    }
}

impl TargetAddr {
    /// Resolves to one socket address of the requested family.
    pub async fn resolve(&self) -> Result<SocketAddr, SnmpError> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, self.port));
        }
        let addrs = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|_| SnmpError::Resolve(self.to_string()))?;
        let want = self.family;
        addrs
            .into_iter()
            .find(|a| match want {
                Family::Any | Family::V4 => a.is_ipv4(),
                Family::V6 => a.is_ipv6(),
            })
            .ok_or_else(|| SnmpError::Resolve(self.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let t: TargetAddr = "localhost".parse().unwrap();
        assert_eq!(
            (t.transport, t.host.as_str(), t.port),
            (Transport::Udp, "localhost", 161)
        );
        let t: TargetAddr = "10.0.0.1:1161".parse().unwrap();
        assert_eq!((t.host.as_str(), t.port), ("10.0.0.1", 1161));
        let t: TargetAddr = "udp6:[::1]:161".parse().unwrap();
        assert_eq!(
            (t.family, t.host.as_str(), t.port),
            (Family::V6, "::1", 161)
        );
        let t: TargetAddr = "tcp:host:2000".parse().unwrap();
        assert_eq!(
            (t.transport, t.host.as_str(), t.port),
            (Transport::Tcp, "host", 2000)
        );
        let t: TargetAddr = "udp6:::1".parse().unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 161));
        assert!("tcp:".parse::<TargetAddr>().is_err());
        assert!("h:notaport".parse::<TargetAddr>().is_err());
    }

    /// Port 0 can only fail later, at every attempt: refused when the target is read.
    #[test]
    fn issue10_port_zero_is_refused() {
        for t in ["127.0.0.1:0", "udp6:[::1]:0", "tcp:host:0", "h:65536"] {
            let e = t.parse::<TargetAddr>().unwrap_err();
            assert!(e.to_string().contains("from 1 to 65535"), "{t}: {e}");
        }
        assert_eq!("h:65535".parse::<TargetAddr>().unwrap().port, 65535);
    }
}
