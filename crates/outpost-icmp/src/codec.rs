//! Encoding and decoding of the ICMP messages the engine sends and reads: echo request and
//! reply, and the two errors that answer a probe (destination unreachable, time exceeded)
//! with the header of the probe they quote. Every byte here comes from the network, so the
//! decoder checks each length before it reads and returns a [`CodecError`] instead.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use thiserror::Error;

/// Which ICMP: v4 (RFC 792) or v6 (RFC 4443). The type numbers differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
    /// The echo request type number (8 or 128).
    pub fn echo_request(self) -> u8 {
        match self {
            Family::V4 => 8,
            Family::V6 => 128,
        }
    }
    fn echo_reply(self) -> u8 {
        match self {
            Family::V4 => 0,
            Family::V6 => 129,
        }
    }
    fn unreachable(self) -> u8 {
        match self {
            Family::V4 => 3,
            Family::V6 => 1,
        }
    }
    fn time_exceeded(self) -> u8 {
        match self {
            Family::V4 => 11,
            Family::V6 => 3,
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// An echo request or reply: the identifier, the sequence number and the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Echo {
    pub ident: u16,
    pub seq: u16,
    pub payload: Vec<u8>,
}

/// The probe an ICMP error quotes: where it was going and its echo header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted {
    pub destination: IpAddr,
    pub ident: u16,
    pub seq: u16,
}

/// One decoded ICMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    EchoRequest(Echo),
    EchoReply(Echo),
    /// Destination unreachable, with its code (net, host, port, admin...).
    Unreachable {
        code: u8,
        quoted: Quoted,
    },
    /// TTL / hop limit exceeded in transit (code 0) or reassembly (code 1).
    TimeExceeded {
        code: u8,
        quoted: Quoted,
    },
    /// Anything else (neighbour discovery, redirects, an error quoting something that is
    /// not an echo request): not ours, ignored by the engine.
    Other {
        kind: u8,
        code: u8,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecError {
    #[error("truncated: {what} needs {need} bytes, got {got}")]
    Truncated {
        what: &'static str,
        need: usize,
        got: usize,
    },
    #[error("bad IPv4 header: {0}")]
    BadIpHeader(&'static str),
    #[error("bad ICMP checksum")]
    Checksum,
}

const ICMP_HEADER: usize = 8;
const IPV4_MIN_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const PROTO_ICMP: u8 = 1;
const NEXT_HEADER_ICMPV6: u8 = 58;

fn need(what: &'static str, bytes: &[u8], n: usize) -> Result<(), CodecError> {
    if bytes.len() < n {
        return Err(CodecError::Truncated {
            what,
            need: n,
            got: bytes.len(),
        });
    }
    Ok(())
}

fn be16(b: &[u8], at: usize) -> u16 {
    // Callers checked the length; a short slice reads as zero rather than panicking.
    match (b.get(at), b.get(at + 1)) {
        (Some(hi), Some(lo)) => u16::from_be_bytes([*hi, *lo]),
        _ => 0,
    }
}

/// The Internet checksum (RFC 1071) of `bytes`.
pub fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        if let [a, b] = c {
            sum += u32::from(u16::from_be_bytes([*a, *b]));
        }
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The length of the IPv4 header at the start of `bytes` (what a raw IPv4 socket prepends).
pub fn ipv4_header_len(bytes: &[u8]) -> Result<usize, CodecError> {
    need("IPv4 header", bytes, IPV4_MIN_HEADER)?;
    let first = bytes.first().copied().unwrap_or(0);
    if first >> 4 != 4 {
        return Err(CodecError::BadIpHeader("version is not 4"));
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < IPV4_MIN_HEADER {
        return Err(CodecError::BadIpHeader("header length under 20"));
    }
    need("IPv4 header", bytes, ihl)?;
    Ok(ihl)
}

/// One ICMP message, borrowed from the packet: what the receive path reads, without copying
/// the payload. [`decode`] is its owned form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View<'a> {
    EchoRequest {
        ident: u16,
        seq: u16,
        payload: &'a [u8],
    },
    EchoReply {
        ident: u16,
        seq: u16,
        payload: &'a [u8],
    },
    /// `quoted_payload`: the probe's payload bytes the error quotes, as many as it does
    /// (none under RFC 792's minimum; all of a small probe from Linux and RFC 4443 routers).
    Unreachable {
        code: u8,
        quoted: Quoted,
        quoted_payload: &'a [u8],
    },
    TimeExceeded {
        code: u8,
        quoted: Quoted,
        quoted_payload: &'a [u8],
    },
    Other {
        kind: u8,
        code: u8,
    },
}

impl View<'_> {
    pub fn to_message(self) -> Message {
        let echo = |ident, seq, payload: &[u8]| Echo {
            ident,
            seq,
            payload: payload.to_vec(),
        };
        match self {
            View::EchoRequest {
                ident,
                seq,
                payload,
            } => Message::EchoRequest(echo(ident, seq, payload)),
            View::EchoReply {
                ident,
                seq,
                payload,
            } => Message::EchoReply(echo(ident, seq, payload)),
            View::Unreachable { code, quoted, .. } => Message::Unreachable { code, quoted },
            View::TimeExceeded { code, quoted, .. } => Message::TimeExceeded { code, quoted },
            View::Other { kind, code } => Message::Other { kind, code },
        }
    }
}

/// Decodes one ICMP message of `family` (its ICMP header first: strip a raw IPv4 socket's
/// IP header with [`ipv4_header_len`] before). IPv4 checksums are verified here; IPv6's
/// covers a pseudo-header we do not see, and the kernel verifies it.
pub fn decode(family: Family, bytes: &[u8]) -> Result<Message, CodecError> {
    view(family, bytes).map(View::to_message)
}

/// [`decode`], borrowing the payload from `bytes`.
pub fn view(family: Family, bytes: &[u8]) -> Result<View<'_>, CodecError> {
    need("ICMP header", bytes, ICMP_HEADER)?;
    if family == Family::V4 && checksum(bytes) != 0 {
        return Err(CodecError::Checksum);
    }
    let kind = bytes.first().copied().unwrap_or(0);
    let code = bytes.get(1).copied().unwrap_or(0);
    let (ident, seq) = (be16(bytes, 4), be16(bytes, 6));
    let body = bytes.get(ICMP_HEADER..).unwrap_or_default();
    Ok(if kind == family.echo_reply() {
        View::EchoReply {
            ident,
            seq,
            payload: body,
        }
    } else if kind == family.echo_request() {
        View::EchoRequest {
            ident,
            seq,
            payload: body,
        }
    } else if kind == family.unreachable() || kind == family.time_exceeded() {
        match decode_quoted(family, body)? {
            Some((quoted, quoted_payload)) if kind == family.unreachable() => View::Unreachable {
                code,
                quoted,
                quoted_payload,
            },
            Some((quoted, quoted_payload)) => View::TimeExceeded {
                code,
                quoted,
                quoted_payload,
            },
            None => View::Other { kind, code },
        }
    } else {
        View::Other { kind, code }
    })
}

/// The original datagram an ICMP error quotes: its IP header, then at least 8 bytes of its
/// payload (RFC 792; RFC 4443 quotes as much as fits). `None` when it quotes something other
/// than an ICMP echo request (a UDP packet, say): not an answer to a probe.
fn decode_quoted(family: Family, body: &[u8]) -> Result<Option<(Quoted, &[u8])>, CodecError> {
    let (destination, rest) = match family {
        Family::V4 => {
            let ihl = ipv4_header_len(body)?;
            if body.get(9) != Some(&PROTO_ICMP) {
                return Ok(None);
            }
            let d = ipv4_at(body, 16);
            (IpAddr::V4(d), body.get(ihl..).unwrap_or_default())
        }
        Family::V6 => {
            need("quoted IPv6 header", body, IPV6_HEADER)?;
            if body.get(6) != Some(&NEXT_HEADER_ICMPV6) {
                return Ok(None);
            }
            let d = ipv6_at(body, 24);
            (IpAddr::V6(d), body.get(IPV6_HEADER..).unwrap_or_default())
        }
    };
    need("quoted ICMP header", rest, ICMP_HEADER)?;
    if rest.first() != Some(&family.echo_request()) {
        return Ok(None);
    }
    Ok(Some((
        Quoted {
            destination,
            ident: be16(rest, 4),
            seq: be16(rest, 6),
        },
        rest.get(ICMP_HEADER..).unwrap_or_default(),
    )))
}

fn ipv4_at(b: &[u8], at: usize) -> Ipv4Addr {
    let mut o = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        o.copy_from_slice(s);
    }
    Ipv4Addr::from(o)
}

fn ipv6_at(b: &[u8], at: usize) -> Ipv6Addr {
    let mut o = [0u8; 16];
    if let Some(s) = b.get(at..at + 16) {
        o.copy_from_slice(s);
    }
    Ipv6Addr::from(o)
}

/// Encodes `msg` as `family`'s ICMP bytes. IPv4 gets its checksum; IPv6's is left zero for
/// the kernel, which computes it on raw and ping sockets (RFC 3542 §3.1). An error message
/// quotes a minimal IP header (source unspecified) and the probe's echo header, which is all
/// [`decode`] reads back. An [`Message::Other`] is encoded as a bare 8-byte header.
pub fn encode(family: Family, msg: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    let header = |out: &mut Vec<u8>, kind: u8, code: u8, ident: u16, seq: u16| {
        out.extend_from_slice(&[kind, code, 0, 0]);
        out.extend_from_slice(&ident.to_be_bytes());
        out.extend_from_slice(&seq.to_be_bytes());
    };
    match msg {
        Message::EchoRequest(e) | Message::EchoReply(e) => {
            let kind = if matches!(msg, Message::EchoRequest(_)) {
                family.echo_request()
            } else {
                family.echo_reply()
            };
            header(&mut out, kind, 0, e.ident, e.seq);
            out.extend_from_slice(&e.payload);
        }
        Message::Unreachable { code, quoted } | Message::TimeExceeded { code, quoted } => {
            let kind = if matches!(msg, Message::Unreachable { .. }) {
                family.unreachable()
            } else {
                family.time_exceeded()
            };
            header(&mut out, kind, *code, 0, 0);
            quote(family, &mut out, quoted);
        }
        Message::Other { kind, code } => header(&mut out, *kind, *code, 0, 0),
    }
    if family == Family::V4 {
        let sum = checksum(&out).to_be_bytes();
        if let Some(s) = out.get_mut(2..4) {
            s.copy_from_slice(&sum);
        }
    }
    out
}

fn quote(family: Family, out: &mut Vec<u8>, q: &Quoted) {
    match (family, q.destination) {
        (Family::V4, dst) => {
            let dst = match dst {
                IpAddr::V4(d) => d,
                IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
            };
            let mut ip = [0u8; IPV4_MIN_HEADER];
            ip[0] = 0x45;
            ip[3] = 28; // total length: this header and the 8 quoted bytes
            ip[8] = 1; // TTL
            ip[9] = PROTO_ICMP;
            ip[16..20].copy_from_slice(&dst.octets());
            out.extend_from_slice(&ip);
        }
        (Family::V6, dst) => {
            let dst = match dst {
                IpAddr::V6(d) => d,
                IpAddr::V4(_) => Ipv6Addr::UNSPECIFIED,
            };
            let mut ip = [0u8; IPV6_HEADER];
            ip[0] = 0x60;
            ip[5] = 8; // payload length
            ip[6] = NEXT_HEADER_ICMPV6;
            ip[7] = 1; // hop limit
            ip[24..40].copy_from_slice(&dst.octets());
            out.extend_from_slice(&ip);
        }
    }
    out.extend_from_slice(&[family.echo_request(), 0, 0, 0]);
    out.extend_from_slice(&q.ident.to_be_bytes());
    out.extend_from_slice(&q.seq.to_be_bytes());
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn checksum_of_rfc1071_example() {
        // RFC 1071 §3: the one's complement sum of these words is 0xddf2.
        let b = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&b), !0xddf2);
    }

    #[test]
    fn a_v4_echo_with_a_bad_checksum_is_refused() {
        let mut b = encode(
            Family::V4,
            &Message::EchoReply(Echo {
                ident: 1,
                seq: 2,
                payload: vec![1, 2, 3],
            }),
        );
        b[9] ^= 0xff;
        assert_eq!(decode(Family::V4, &b), Err(CodecError::Checksum));
    }
}
