//! Interfaces and their addresses: name, index, MAC, link type and state from
//! `/sys/class/net`, addresses (IPv4 and IPv6, with their prefix) from the kernel's
//! `RTM_GETADDR` dump over rtnetlink. Nothing in /proc names IPv4 addresses by interface,
//! and running `ip` would be a command outside the allowlist.
//!
//! The dump's bytes come from the kernel, but they are decoded as carefully as network
//! bytes: every length is checked, a bad message is an error, never a panic
//! (`issue19_links_*` proptests).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

/// One address of an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    pub ip: IpAddr,
    pub prefix: u8,
}

/// One interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    pub name: String,
    pub index: u32,
    /// `aa:bb:cc:dd:ee:ff`, as sysfs writes it; empty when the link has none.
    pub mac: String,
    /// An Ethernet link (ARPHRD_ETHER), not a wireless one and not a bridge.
    pub ethernet: bool,
    pub loopback: bool,
    /// `operstate` is `up`.
    pub up: bool,
    pub addresses: Vec<Address>,
}

/// Why the dump could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinksError {
    #[error("netlink: {0}")]
    Io(String),
    #[error("netlink message {offset}: {what}")]
    Malformed { offset: usize, what: &'static str },
    #[error("netlink: the kernel answered error {0}")]
    Kernel(i32),
}

const NLMSG_HDR: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const IFADDRMSG: usize = 8;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
/// How long the kernel may take to answer one read of the dump.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// The most messages read for one dump (a host with thousands of addresses still fits).
const MAX_READS: usize = 4096;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Decodes one read of an `RTM_GETADDR` dump into `(interface index, address)` pairs;
/// `Ok(true)` once the dump's end (`NLMSG_DONE`) is in it.
pub fn decode_addresses(buf: &[u8], out: &mut Vec<(u32, Address)>) -> Result<bool, LinksError> {
    let mut at = 0;
    while at < buf.len() {
        let bad = |what| LinksError::Malformed { offset: at, what };
        let len = u32_at(buf, at).ok_or(bad("shorter than its header"))? as usize;
        if len < NLMSG_HDR || len > buf.len() - at {
            return Err(bad("length outside the read"));
        }
        let msg = &buf[at..at + len];
        match u16_at(msg, 4).ok_or(bad("no type"))? {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let code = u32_at(msg, NLMSG_HDR).ok_or(bad("error without a code"))? as i32;
                if code != 0 {
                    return Err(LinksError::Kernel(code));
                }
            }
            RTM_NEWADDR => {
                let body = &msg[NLMSG_HDR..];
                if body.len() < IFADDRMSG {
                    return Err(bad("address message shorter than ifaddrmsg"));
                }
                let (family, prefix) = (body[0], body[1]);
                let index = u32_at(body, 4).ok_or(bad("no interface index"))?;
                let (mut address, mut local) = (None, None);
                let mut a = IFADDRMSG;
                while a + 4 <= body.len() {
                    let alen = u16_at(body, a).ok_or(bad("attribute header"))? as usize;
                    let kind = u16_at(body, a + 2).ok_or(bad("attribute header"))?;
                    if alen < 4 || alen > body.len() - a {
                        return Err(bad("attribute length outside the message"));
                    }
                    let data = &body[a + 4..a + alen];
                    let ip = match (family, data.len()) {
                        (AF_INET, 4) => <[u8; 4]>::try_from(data)
                            .ok()
                            .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
                        (AF_INET6, 16) => <[u8; 16]>::try_from(data)
                            .ok()
                            .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
                        _ => None,
                    };
                    match kind {
                        IFA_ADDRESS => address = ip,
                        IFA_LOCAL => local = ip,
                        _ => {}
                    }
                    a += align4(alen);
                }
                // On a point-to-point link IFA_ADDRESS is the peer; IFA_LOCAL is ours.
                if let Some(ip) = local.or(address) {
                    out.push((index, Address { ip, prefix }));
                }
            }
            _ => {}
        }
        at += align4(len).min(buf.len() - at);
    }
    Ok(false)
}

/// Every address of every interface, from the kernel (blocking; each read bounded).
pub fn addresses() -> Result<Vec<(u32, Address)>, LinksError> {
    use rustix::net::{self as n, netlink::SocketAddrNetlink};
    let io = |e: rustix::io::Errno| LinksError::Io(e.to_string());
    let fd = n::socket_with(
        n::AddressFamily::NETLINK,
        n::SocketType::RAW,
        n::SocketFlags::CLOEXEC,
        None,
    )
    .map_err(io)?;
    n::sockopt::set_socket_timeout(&fd, n::sockopt::Timeout::Recv, Some(READ_TIMEOUT))
        .map_err(io)?;
    let mut req = Vec::with_capacity(NLMSG_HDR + IFADDRMSG);
    req.extend_from_slice(&((NLMSG_HDR + IFADDRMSG) as u32).to_ne_bytes());
    req.extend_from_slice(&RTM_GETADDR.to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req.extend_from_slice(&1u32.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    req.extend_from_slice(&[0u8; IFADDRMSG]);
    n::sendto(
        &fd,
        &req,
        n::SendFlags::empty(),
        &SocketAddrNetlink::new(0, 0),
    )
    .map_err(io)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    for _ in 0..MAX_READS {
        let (got, _) = n::recv(&fd, &mut buf[..], n::RecvFlags::empty()).map_err(io)?;
        if got == 0 || decode_addresses(&buf[..got.min(buf.len())], &mut out)? {
            return Ok(out);
        }
    }
    Err(LinksError::Io(format!(
        "the dump did not end within {MAX_READS} reads"
    )))
}

fn read_trim(p: &Path) -> String {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The interfaces under `sys_root/class/net`, with the kernel's addresses.
pub fn links(sys_root: &Path) -> Result<Vec<Link>, LinksError> {
    let addrs = addresses()?;
    let dir = sys_root.join("class/net");
    let entries =
        std::fs::read_dir(&dir).map_err(|e| LinksError::Io(format!("{}: {e}", dir.display())))?;
    let mut links: Vec<Link> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_owned();
            let p = e.path();
            let index: u32 = read_trim(&p.join("ifindex")).parse().ok()?;
            let kind: u32 = read_trim(&p.join("type")).parse().unwrap_or(0);
            let wireless = p.join("wireless").exists() || p.join("phy80211").exists();
            let bridge = p.join("bridge").exists();
            Some(Link {
                name,
                index,
                mac: read_trim(&p.join("address")),
                ethernet: kind == 1 && !wireless && !bridge,
                loopback: kind == 772,
                up: read_trim(&p.join("operstate")) == "up",
                addresses: addrs
                    .iter()
                    .filter(|(i, _)| *i == index)
                    .map(|(_, a)| a.clone())
                    .collect(),
            })
        })
        .collect();
    links.sort_by_key(|l| l.index);
    Ok(links)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One RTM_NEWADDR message, as the kernel writes it.
    fn newaddr(index: u32, a: &Address) -> Vec<u8> {
        let (family, bytes) = match a.ip {
            IpAddr::V4(v) => (AF_INET, v.octets().to_vec()),
            IpAddr::V6(v) => (AF_INET6, v.octets().to_vec()),
        };
        let mut body = vec![family, a.prefix, 0, 0];
        body.extend_from_slice(&index.to_ne_bytes());
        for kind in [IFA_ADDRESS, IFA_LOCAL] {
            body.extend_from_slice(&((4 + bytes.len()) as u16).to_ne_bytes());
            body.extend_from_slice(&kind.to_ne_bytes());
            body.extend_from_slice(&bytes);
        }
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDR + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&RTM_NEWADDR.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&body);
        m
    }

    fn done() -> Vec<u8> {
        let mut m = (NLMSG_HDR as u32 + 4).to_ne_bytes().to_vec();
        m.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        m.extend_from_slice(&[0; 14]);
        m
    }

    fn address() -> impl Strategy<Value = Address> {
        prop_oneof![
            (any::<[u8; 4]>(), 0u8..=32).prop_map(|(b, p)| Address {
                ip: IpAddr::from(b),
                prefix: p
            }),
            (any::<[u8; 16]>(), 0u8..=128).prop_map(|(b, p)| Address {
                ip: IpAddr::from(b),
                prefix: p
            }),
        ]
    }

    proptest! {
        #[test]
        fn issue19_links_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut out = Vec::new();
            let _ = decode_addresses(&bytes, &mut out);
        }

        #[test]
        fn issue19_links_dump_round_trips(addrs in proptest::collection::vec((any::<u32>(), address()), 0..20)) {
            let mut buf = Vec::new();
            for (i, a) in &addrs {
                buf.extend(newaddr(*i, a));
            }
            buf.extend(done());
            let mut out = Vec::new();
            prop_assert_eq!(decode_addresses(&buf, &mut out), Ok(true));
            prop_assert_eq!(out, addrs);
        }
    }

    #[test]
    fn issue19_links_of_this_host_include_loopback() {
        let links = links(Path::new("/sys")).unwrap();
        let lo = links.iter().find(|l| l.loopback).unwrap();
        assert!(
            lo.addresses
                .iter()
                .any(|a| a.ip == IpAddr::V4(Ipv4Addr::LOCALHOST) && a.prefix == 8),
            "{lo:?}"
        );
        assert!(!lo.ethernet);
    }
}
