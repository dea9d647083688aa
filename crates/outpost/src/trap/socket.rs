//! The sockets and their read loop. The read loop runs on a thread of its own, decodes and
//! filters, adds each accepted notification to the pass it is building (`pass.rs`: for the
//! daemon, written straight into outbox text), then hands the pass to a bounded queue with
//! `try_send`: it never waits for the store or for standard output. Bursts wait in a large receive buffer; what the kernel still drops is
//! counted from /proc.
//!
//! A plain thread rather than a task: under load the loop lets the buffer fill for a few
//! milliseconds between reads, and while a tokio task sleeps its socket stays registered
//! with the runtime's epoll, which then woke for every arriving burst to no purpose
//! (measured: ~8,000 wake-ups a second at 50k traps/s). A thread that sleeps is woken by
//! nothing; when traffic is light it waits in `poll` on its sockets and a stop signal.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;

use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags};
use rustix::net::{self as rnet, sockopt, AddressFamily, SocketType};

use super::filter::{Decision, Filter};
use super::metrics::{DropReason, TrapMetrics};
use super::pass::PassBuilder;
use super::queue::QueueSender;

/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65535;
/// Datagrams read from one socket before the loop turns to the next: more than a
/// coalescing wait lets in at 400k/s, so waiting never caps the rate.
const BURST: usize = 2048;
/// A pass that found at least this many datagrams means traffic is steady...
const BUSY: usize = 2;
/// ...so the loop lets the buffer fill this long before it reads again: one wake-up per
/// batch instead of per datagram (the buffer holds seconds of traffic). Never when idle.
/// 4 ms rather than 1: each pass becomes one store transaction, and every transaction
/// rewrites the outbox's last, partly filled page and its parents in the WAL; measured at
/// 50k traps/s, 4 ms took ~12% off the CPU per trap. The cost is up to 4 ms of latency.
const COALESCE_TS: rustix::time::Timespec = rustix::time::Timespec {
    tv_sec: 0,
    tv_nsec: 4_000_000,
};

/// Tells the read loop to drain its sockets and end. Raised once; an eventfd, so the loop
/// waits on it together with its sockets and idles without a timer.
#[derive(Debug)]
pub struct StopSignal(OwnedFd);

impl StopSignal {
    pub fn new() -> io::Result<StopSignal> {
        Ok(StopSignal(eventfd(
            0,
            EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK,
        )?))
    }

    pub fn raise(&self) {
        // Can only fail if the counter would overflow, which one raise per stop cannot do.
        let _ = rustix::io::write(&self.0, &1u64.to_ne_bytes());
    }
}

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
    Ok((UdpSocket::from(fd), granted))
}

/// The socket's inode, which names its row in /proc/net/udp(6).
pub fn inode(sock: &UdpSocket) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", sock.as_fd().as_raw_fd())).ok()?;
    let s = link.to_str()?;
    s.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
}

/// Reads until `stop` is raised, then drains what is already in the buffers and returns,
/// with the kernel's drop count read one last time before the sockets close.
pub fn read_loop(
    socks: Vec<Arc<UdpSocket>>,
    filter: Arc<Filter>,
    pass: PassBuilder,
    queue: QueueSender,
    metrics: TrapMetrics,
    stop: Arc<StopSignal>,
) {
    read_until_stopped(&socks, &filter, pass, &queue, &metrics, &stop);
    metrics.sockets.freeze();
}

fn read_until_stopped(
    socks: &[Arc<UdpSocket>],
    filter: &Filter,
    mut pass: PassBuilder,
    queue: &QueueSender,
    metrics: &TrapMetrics,
    stop: &StopSignal,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut stopping = false;
    loop {
        // What the queue can take now bounds the pass: the rest is dropped before it is
        // encoded.
        let room = queue.room();
        let n: usize = socks
            .iter()
            .map(|sock| drain(sock, &mut buf, filter, &mut pass, room, metrics))
            .sum();
        if let Some(p) = pass.take() {
            queue.send(p, metrics);
        }
        if stopping {
            if n == 0 {
                return;
            }
            continue;
        }
        if n >= BUSY {
            // Let the buffer fill, waiting on the stop signal alone: no datagram wakes us.
            let mut only_stop = [PollFd::new(&stop.0, PollFlags::IN)];
            let _ = poll(&mut only_stop, Some(&COALESCE_TS));
            if only_stop[0].revents().contains(PollFlags::IN) {
                stopping = true;
            }
            continue;
        }
        let mut fds: Vec<PollFd<'_>> = socks
            .iter()
            .map(|s| PollFd::new(s.as_ref(), PollFlags::IN))
            .collect();
        fds.push(PollFd::new(&stop.0, PollFlags::IN));
        match poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "trap: cannot wait on the sockets; receiver stopped");
                return;
            }
        }
        if fds.iter().any(|f| f.revents().contains(PollFlags::NVAL)) {
            tracing::warn!("trap: a socket was closed under the receiver; receiver stopped");
            return;
        }
        if fds
            .last()
            .is_some_and(|f| f.revents().contains(PollFlags::IN))
        {
            stopping = true;
        }
    }
}

/// Reads up to [`BURST`] datagrams from one socket into `pass`; returns how many were read.
fn drain(
    sock: &Arc<UdpSocket>,
    buf: &mut [u8],
    filter: &Filter,
    pass: &mut PassBuilder,
    room: usize,
    metrics: &TrapMetrics,
) -> usize {
    let mut n = 0;
    while n < BURST {
        match sock.recv_from(buf) {
            Ok((len, from)) => {
                let data = buf.get(..len).unwrap_or_default();
                handle(data, from, sock, filter, pass, room, metrics);
                n += 1;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => {
                // ICMP errors from an earlier send surface here; not fatal.
                tracing::debug!(error = %e, "trap: receive error");
                break;
            }
        }
    }
    n
}

fn handle(
    data: &[u8],
    from: SocketAddr,
    sock: &Arc<UdpSocket>,
    filter: &Filter,
    pass: &mut PassBuilder,
    room: usize,
    metrics: &TrapMetrics,
) {
    match filter.check(data, from) {
        Decision::Accept(n, reply) => {
            if pass.count() < room {
                pass.add(n, reply.map(|bytes| (Arc::clone(sock), bytes)));
            } else {
                metrics.drop(DropReason::QueueFull);
            }
        }
        Decision::Report(bytes) => {
            metrics.reports.inc();
            let _ = sock.send_to(&bytes, from);
        }
        Decision::Refuse(reason, bytes) => {
            metrics.drop(reason);
            let _ = sock.send_to(&bytes, from);
        }
        Decision::Drop(reason) => metrics.drop(reason),
    }
}
