//! The receiver's configuration: the raw `trap.*` section as read, and the validated form
//! the receiver runs on (addresses resolved, networks parsed, v3 users built).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use outpost_snmp::mib::Mib;

use outpost_snmp::{AuthProtocol, PrivProtocol, UsmUser};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::Deserialize;

/// `trap.*` as the config layers deliver it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrapSection {
    /// Off by default: binding port 162 is a decision the operator makes.
    pub enabled: bool,
    /// Port used by every listen address that names none.
    pub port: u16,
    /// Comma-separated addresses, v4 and v6.
    pub listen: String,
    /// Comma-separated accepted communities; a secret, redacted by `config show`.
    pub communities: SecretString,
    /// Comma-separated CIDRs a notification may come from.
    pub allowed_networks: String,
    /// Comma-separated v3 users with their passwords; a secret.
    pub v3_users: Option<SecretString>,
    /// SO_RCVBUF asked for on every socket.
    pub recv_buffer_bytes: usize,
    /// Bound of the queue between the read loops and the store writer.
    pub queue_capacity: usize,
    /// Whether each notification is logged at info.
    pub log: bool,
    /// Whether events carry MIB names beside the numeric OIDs. Defaulted here too, so a
    /// section written before the key existed still reads.
    #[serde(default)]
    pub mib_names: bool,
}

/// An IP network in CIDR form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The network address (host bits are ignored).
    pub addr: IpAddr,
    /// Prefix length in bits.
    pub prefix: u8,
}

/// Why a `trap.allowed_networks` entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("{0:?} is not an address or CIDR")]
    NotAnAddress(String),
    #[error("{text:?}: prefix must be 0 to {max}")]
    Prefix { text: String, max: u8 },
}

/// Why a `trap.v3_users` entry was refused. Never holds a pass phrase.
#[derive(Debug, thiserror::Error)]
pub enum UserEntryError {
    #[error("expected NAME:ENGINE_ID[:AUTH:AUTHPASS[:PRIV:PRIVPASS]]")]
    Shape,
    #[error("ENGINE_ID must be hex (0x optional) or *")]
    EngineId,
    #[error("unknown auth protocol {0:?}")]
    Auth(String),
    #[error("unknown privacy protocol {0:?}")]
    Privacy(String),
    #[error(transparent)]
    User(#[from] outpost_snmp::UsmError),
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, CidrError> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| CidrError::NotAnAddress(s.to_owned()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| CidrError::Prefix {
                    text: s.to_owned(),
                    max,
                })?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }

    /// True when `ip` is inside the network. An IPv4-mapped IPv6 source matches v4 networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// One configured v3 user.
#[derive(Debug)]
pub struct V3User {
    /// Name, protocols and passwords (the passwords stay secret).
    pub user: UsmUser,
    /// The sender engine ID this user belongs to; None accepts any engine.
    pub engine_id: Option<Vec<u8>>,
}

/// The validated configuration the receiver runs on.
#[derive(Debug)]
pub struct TrapSettings {
    /// Sockets to bind (v4 and v6).
    pub listen: Vec<SocketAddr>,
    /// Accepted communities; None accepts any.
    pub communities: Option<Vec<SecretSlice<u8>>>,
    /// Accepted source networks.
    pub networks: Vec<Cidr>,
    /// Configured v3 users.
    pub users: Vec<V3User>,
    /// SO_RCVBUF asked for.
    pub recv_buffer_bytes: usize,
    /// Queue bound towards the store.
    pub queue_capacity: usize,
    /// One line per notification at info.
    pub log: bool,
    /// Our snmpEngineID, authoritative for v3 informs.
    pub engine_id: Vec<u8>,
    /// The MIB table events are named with, if `trap.mib_names`.
    pub mib: Option<Arc<Mib>>,
    /// Our snmpEngineBoots, for informs: 1 unless the daemon read and advanced the count
    /// kept in its data directory (`boots.rs`).
    pub engine_boots: i32,
}

use crate::config::KeyError;

impl TrapSettings {
    /// Validates the section. Errors name the key and never echo a secret.
    pub fn from_section(s: &TrapSection, engine_id: &[u8]) -> Result<TrapSettings, KeyError> {
        let mut listen = Vec::new();
        for a in split(&s.listen) {
            let addr = if let Ok(sa) = a.parse::<SocketAddr>() {
                sa
            } else {
                let ip: IpAddr = a
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse()
                    .map_err(|_| {
                        KeyError::new("trap.listen", format_args!("{a:?} is not an address"))
                    })?;
                SocketAddr::new(ip, s.port)
            };
            listen.push(addr);
        }
        if listen.is_empty() && s.enabled {
            return Err(KeyError::new("trap.listen", "names no address"));
        }
        let communities: Vec<&str> = split(s.communities.expose_secret()).collect();
        let communities = if communities.contains(&"*") {
            None
        } else {
            Some(
                communities
                    .iter()
                    .map(|c| SecretSlice::from(c.as_bytes().to_vec()))
                    .collect(),
            )
        };
        let networks = split(&s.allowed_networks)
            .map(Cidr::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| KeyError::new("trap.allowed_networks", e))?;
        let mut users = Vec::new();
        if let Some(u) = &s.v3_users {
            for (i, entry) in split(u.expose_secret()).enumerate() {
                users.push(parse_user(entry).map_err(|e| {
                    KeyError::new("trap.v3_users", format_args!("entry {}: {e}", i + 1))
                })?);
            }
        }
        if s.queue_capacity == 0 {
            return Err(KeyError::new("trap.queue_capacity", "must be at least 1"));
        }
        if s.recv_buffer_bytes < 65536 {
            return Err(KeyError::new(
                "trap.recv_buffer_bytes",
                "must be at least 65536",
            ));
        }
        Ok(TrapSettings {
            listen,
            communities,
            networks,
            users,
            recv_buffer_bytes: s.recv_buffer_bytes,
            queue_capacity: s.queue_capacity,
            log: s.log,
            engine_id: engine_id.to_vec(),
            mib: s.mib_names.then(|| Arc::new(Mib::builtin())),
            engine_boots: 1,
        })
    }
}

fn split(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty())
}

/// `NAME:ENGINE_ID[:AUTH:AUTHPASS[:PRIV:PRIVPASS]]`. Messages never include the passwords.
fn parse_user(entry: &str) -> Result<V3User, UserEntryError> {
    let f: Vec<&str> = entry.split(':').collect();
    if !matches!(f.len(), 2 | 4 | 6) || f[0].is_empty() {
        return Err(UserEntryError::Shape);
    }
    let engine_id = match f[1] {
        "" | "*" => None,
        hex => Some(parse_hex(hex).ok_or(UserEntryError::EngineId)?),
    };
    let auth = if f.len() >= 4 {
        let p: AuthProtocol = f[2]
            .parse()
            .map_err(|_| UserEntryError::Auth(f[2].to_owned()))?;
        Some((p, SecretString::from(f[3].to_owned())))
    } else {
        None
    };
    let privacy = if f.len() == 6 {
        let p: PrivProtocol = f[4]
            .parse()
            .map_err(|_| UserEntryError::Privacy(f[4].to_owned()))?;
        Some((p, SecretString::from(f[5].to_owned())))
    } else {
        None
    };
    let user = UsmUser::new(f[0], auth, privacy)?;
    Ok(V3User { user, engine_id })
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_start_matches("0x").trim_start_matches("0X");
    if s.is_empty() || s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cidr_matches() {
        let n = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(n.contains("10.1.2.3".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("1.2.3.4".parse().unwrap()));
        assert!(Cidr::parse("::/0")
            .unwrap()
            .contains("::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn users_parse_without_echoing_passwords() {
        let u = parse_user("trapuser:0x8000000001020304:SHA:authpass123:AES:privpass123").unwrap();
        assert_eq!(u.engine_id.unwrap(), vec![0x80, 0, 0, 0, 1, 2, 3, 4]);
        assert!(parse_user("u:*").unwrap().engine_id.is_none());
        let e = parse_user("u:*:NOPE:secretpw").unwrap_err();
        assert!(!e.to_string().contains("secretpw"));
    }
}
