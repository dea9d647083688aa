//! The DNS probe's one query: an A question over UDP to one resolver, and the few header
//! fields of the answer that say whether it resolved. Hand-written (about 60 lines) rather
//! than a resolver library: the probe must ask exactly one server, with no cache and no
//! fallback, and know which server it asked, because that server is the target a failure
//! is charged to.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

/// The first `nameserver` of a resolv.conf text that parses as an IP address (a link-local
/// IPv6 one with a `%scope` is skipped: it names an interface, not just an address).
pub fn first_nameserver(resolv_conf: &str) -> Option<IpAddr> {
    resolv_conf.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        (words.next() == Some("nameserver"))
            .then(|| words.next()?.parse().ok())
            .flatten()
    })
}

/// The resolver: configured, or the first nameserver of /etc/resolv.conf (read each time:
/// DHCP rewrites it, and `ip netns exec` mounts a namespace's own over it).
pub fn resolver(configured: Option<SocketAddr>) -> Option<SocketAddr> {
    configured.or_else(|| {
        let text = std::fs::read_to_string("/etc/resolv.conf").ok()?;
        first_nameserver(&text).map(|ip| SocketAddr::new(ip, 53))
    })
}

/// An A query for `name` with id `id`, recursion desired.
pub fn query(id: u16, name: &str) -> Option<Vec<u8>> {
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&[0, 1, 0, 1]);
    Some(q)
}

/// What an answer said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// NOERROR with this many answer records.
    Records(u16),
    /// Another response code (NXDOMAIN 3, SERVFAIL 2, REFUSED 5, ...).
    Rcode(u8),
}

/// The answer to query `id`, or `None` for a datagram that is not it.
pub fn answer(id: u16, bytes: &[u8]) -> Option<Answer> {
    if bytes.len() < 12 || bytes[..2] != id.to_be_bytes() || bytes[2] & 0x80 == 0 {
        return None;
    }
    let rcode = bytes[3] & 0x0f;
    if rcode != 0 {
        return Some(Answer::Rcode(rcode));
    }
    Some(Answer::Records(u16::from_be_bytes([bytes[6], bytes[7]])))
}

pub fn rcode_name(rcode: u8) -> &'static str {
    match rcode {
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        _ => "error",
    }
}

/// Asks `server` for `name`'s A records within `timeout`. Datagrams that are not the
/// answer (another id, another source: `connect` filters those) are ignored.
pub async fn resolve(server: SocketAddr, name: &str, timeout: Duration) -> Result<Answer, String> {
    let id = getrandom::u32().map(|r| r as u16).unwrap_or(0x4f50);
    let q = query(id, name).ok_or_else(|| format!("{name:?} is not a valid DNS name"))?;
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let work = async {
        let sock = UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
        sock.connect(server).await.map_err(|e| e.to_string())?;
        sock.send(&q).await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 1500];
        loop {
            let n = sock.recv(&mut buf).await.map_err(|e| e.to_string())?;
            if let Some(a) = answer(id, &buf[..n]) {
                return Ok(a);
            }
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("no answer within {} ms", timeout.as_millis()))?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn query_and_answer_headers() {
        let q = query(0x1234, "example.com").unwrap();
        assert_eq!(&q[..4], &[0x12, 0x34, 0x01, 0x00]);
        assert_eq!(&q[12..], b"\x07example\x03com\x00\x00\x01\x00\x01");
        assert_eq!(query(1, "a..b"), None);
        let mut r = q.clone();
        r[2] |= 0x80;
        r[7] = 2;
        assert_eq!(answer(0x1234, &r), Some(Answer::Records(2)));
        assert_eq!(answer(0x1235, &r), None, "another id");
        assert_eq!(answer(0x1234, &q), None, "a query, not a response");
        r[3] = 0x83;
        assert_eq!(answer(0x1234, &r), Some(Answer::Rcode(3)));
        assert_eq!(answer(0x1234, &r[..5]), None);
        assert_eq!(
            first_nameserver("# x\nsearch lan\nnameserver fe80::1%eth0\nnameserver 192.0.2.53\n"),
            Some("192.0.2.53".parse().unwrap())
        );
    }
}
