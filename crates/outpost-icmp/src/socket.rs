//! Opening the one ICMP socket a family uses: raw when the process may (CAP_NET_RAW), else
//! the kernel's unprivileged ping socket (`SOCK_DGRAM`/`IPPROTO_ICMP`, allowed by
//! `net.ipv4.ping_group_range`, which governs ICMPv6 ping sockets too), else one error that
//! names both. socket2 because it is already in the tree (outpost-snmp) and wraps socket(2)
//! and setsockopt without `unsafe`; the socket then becomes a tokio `UdpSocket`, whose
//! `send_to`/`recv_from` are plain sendto/recvfrom and work on any datagram-like socket.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::net::UdpSocket;

use crate::codec::Family;
use crate::error::IcmpError;

/// Which kind of socket serves a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// SOCK_RAW: we choose the identifier, see every ICMP message (errors included), and
    /// IPv4 reads carry the IP header.
    Raw,
    /// SOCK_DGRAM ping socket: the kernel sets the identifier to the socket's port and only
    /// hands us echo replies that carry it; ICMP errors go to the error queue, which we do
    /// not read, so an unreachable target is a timeout in this mode.
    Unprivileged,
}

/// Which socket kinds to try, for tests and operators who want one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModePreference {
    #[default]
    Auto,
    RawOnly,
    UnprivilegedOnly,
}

pub struct IcmpSocket {
    pub socket: UdpSocket,
    pub mode: Mode,
    /// The identifier replies carry: ours in raw mode, the kernel's port in ping mode.
    pub ident: u16,
}

const RECV_BUFFER: usize = 4 << 20;

fn proto(family: Family) -> (Domain, Protocol) {
    match family {
        Family::V4 => (Domain::IPV4, Protocol::ICMPV4),
        Family::V6 => (Domain::IPV6, Protocol::ICMPV6),
    }
}

fn is_permission(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::PermissionDenied | io::ErrorKind::Unsupported
    ) || e.raw_os_error() == Some(1) // EPERM
        || e.raw_os_error() == Some(13) // EACCES
        || e.raw_os_error() == Some(93) // EPROTONOSUPPORT (no ping sockets in this kernel)
}

pub fn open(family: Family, pref: ModePreference, raw_ident: u16) -> Result<IcmpSocket, IcmpError> {
    let (domain, protocol) = proto(family);
    let raw_err = if pref == ModePreference::UnprivilegedOnly {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            "not tried (unprivileged mode requested)",
        )
    } else {
        match Socket::new(domain, Type::RAW, Some(protocol)) {
            Ok(s) => return finish(family, s, Mode::Raw, raw_ident),
            Err(e) if is_permission(&e) => e,
            Err(source) => return Err(IcmpError::Socket { family, source }),
        }
    };
    let dgram_err = if pref == ModePreference::RawOnly {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            "not tried (raw mode requested)",
        )
    } else {
        match Socket::new(domain, Type::DGRAM, Some(protocol)) {
            Ok(s) => {
                // Bind now so the kernel picks our identifier (the "port") before any send.
                let any: SocketAddr = match family {
                    Family::V4 => (IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0).into(),
                    Family::V6 => (IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0).into(),
                };
                s.bind(&any.into())
                    .map_err(|source| IcmpError::Socket { family, source })?;
                let port = s
                    .local_addr()
                    .ok()
                    .and_then(|a| a.as_socket())
                    .map(|a| a.port())
                    .unwrap_or(0);
                return finish(family, s, Mode::Unprivileged, port);
            }
            Err(e) if is_permission(&e) => e,
            Err(source) => return Err(IcmpError::Socket { family, source }),
        }
    };
    Err(IcmpError::NotPermitted {
        family,
        raw: raw_err,
        dgram: dgram_err,
    })
}

fn finish(family: Family, s: Socket, mode: Mode, ident: u16) -> Result<IcmpSocket, IcmpError> {
    let err = |source| IcmpError::Socket { family, source };
    s.set_nonblocking(true).map_err(err)?;
    // A sweep's replies arrive in a burst; a small buffer would drop them as "loss". The
    // kernel caps this at rmem_max, which is fine: best effort.
    let _ = s.set_recv_buffer_size(RECV_BUFFER);
    let std_socket: std::net::UdpSocket = s.into();
    let socket = UdpSocket::from_std(std_socket).map_err(err)?;
    Ok(IcmpSocket {
        socket,
        mode,
        ident,
    })
}

/// Sets the TTL (v4) or unicast hop limit (v6) of the next packets sent on `socket`.
pub fn set_ttl(socket: &UdpSocket, family: Family, ttl: u32) -> io::Result<()> {
    let s = SockRef::from(socket);
    match family {
        Family::V4 => s.set_ttl(ttl),
        Family::V6 => s.set_unicast_hops_v6(ttl),
    }
}
