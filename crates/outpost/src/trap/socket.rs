//! The sockets and their read loops. A read loop decodes and filters, then hands the
//! notification to a bounded queue with `try_send`: it never waits for the store. Bursts wait
//! in a large receive buffer; what the kernel still drops is counted from /proc.

use std::io;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;

use rustix::net::{self as rnet, sockopt, AddressFamily, SocketType};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;

use super::filter::{Decision, Filter};
use super::metrics::{DropReason, TrapMetrics};
use super::writer::Queued;

/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65535;
/// Datagrams read before the loop yields to other tasks.
const BURST: usize = 256;
/// A wake-up that found at least this many datagrams means traffic is steady...
const BUSY: usize = 2;
/// ...so the loop lets the buffer fill this long before it reads again: one wake-up per
/// batch instead of per datagram (the buffer holds seconds of traffic). Never when idle.
const COALESCE: std::time::Duration = std::time::Duration::from_millis(1);

/// Binds one UDP socket with the receive buffer asked for (forced past `rmem_max` when we
/// may, as root). A v6 socket is v6-only, so `0.0.0.0` and `::` can both be bound.
/// Returns the socket and the receive buffer the kernel granted.
pub fn bind(addr: SocketAddr, recv_buffer: usize) -> io::Result<(UdpSocket, usize)> {
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd: OwnedFd = rnet::socket_with(
        family,
        SocketType::DGRAM,
        rnet::SocketFlags::CLOEXEC | rnet::SocketFlags::NONBLOCK,
        None,
    )?;
    if addr.is_ipv6() {
        sockopt::set_ipv6_v6only(&fd, true)?;
    }
    if sockopt::set_socket_recv_buffer_size_force(&fd, recv_buffer).is_err() {
        sockopt::set_socket_recv_buffer_size(&fd, recv_buffer)?;
    }
    let granted = sockopt::socket_recv_buffer_size(&fd)?;
    rnet::bind(&fd, &addr)?;
    let std = StdUdpSocket::from(fd);
    Ok((UdpSocket::from_std(std)?, granted))
}

/// The socket's inode, which names its row in /proc/net/udp(6).
pub fn inode(sock: &UdpSocket) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", sock.as_fd().as_raw_fd())).ok()?;
    let s = link.to_str()?;
    s.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
}

/// Reads until `stop`, then drains what is already in the buffer and returns.
pub async fn read_loop(
    sock: Arc<UdpSocket>,
    filter: Arc<Filter>,
    queue: mpsc::Sender<Queued>,
    metrics: TrapMetrics,
    stop: CancellationToken,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut stopping = false;
    loop {
        if !stopping {
            tokio::select! {
                _ = stop.cancelled() => stopping = true,
                r = sock.readable() => {
                    if let Err(e) = r {
                        tracing::warn!(error = %e, "trap: socket failed; receiver stopped on it");
                        return;
                    }
                }
            }
        }
        let mut n = 0;
        loop {
            match sock.try_recv_from(&mut buf) {
                Ok((len, from)) => {
                    let data = buf.get(..len).unwrap_or_default();
                    handle(data, from, &sock, &filter, &queue, &metrics);
                    n += 1;
                    if n == BURST {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if stopping {
                        return;
                    }
                    if n >= BUSY {
                        tokio::time::sleep(COALESCE).await;
                    }
                    break;
                }
                Err(e) => {
                    // ICMP errors from an earlier send surface here; not fatal.
                    tracing::debug!(error = %e, "trap: receive error");
                    break;
                }
            }
        }
        if n == BURST {
            tokio::task::yield_now().await;
        }
    }
}

fn handle(
    data: &[u8],
    from: SocketAddr,
    sock: &Arc<UdpSocket>,
    filter: &Filter,
    queue: &mpsc::Sender<Queued>,
    metrics: &TrapMetrics,
) {
    match filter.check(data, from) {
        Decision::Accept(n, reply) => {
            let item = Queued {
                notification: n,
                reply: reply.map(|bytes| (Arc::clone(sock), bytes)),
            };
            match queue.try_send(item) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Closed(_)) => {
                    metrics.drop(DropReason::QueueFull)
                }
            }
        }
        Decision::Report(bytes) => {
            metrics.reports.inc();
            let _ = sock.try_send_to(&bytes, from);
        }
        Decision::Drop(reason) => metrics.drop(reason),
    }
}
