//! The shared UDP sockets, the reader task on each, and the table of requests waiting for
//! a reply. Many targets share a few sockets, so a reply is matched to its request here,
//! by request-id (msgID for v3) and source address, before any request sees it; whatever
//! matches nothing is counted, never credited. Ids and privacy salts are handed out here
//! too, because an id is only safe to use once it is in the table.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::{Engine, Session};
use crate::error::SnmpError;
use crate::message::Message;
use crate::stats::{bump, Stats};
use crate::target::Transport;

/// The reader's buffer: larger than any UDP payload (`size::UDP_V6_LIMIT` is the largest),
/// so no reply is ever truncated.
const RECV_BUFFER: usize = 1 << 16;

/// Candidate replies queued per request before the reader drops more as `queue_full`:
/// only a retransmitted request can have more than one legitimate reply in flight.
const REPLY_QUEUE: usize = 8;

/// request-id and msgID are INTEGER (0..2147483647): ids are kept to 31 bits.
const ID_MASK: u32 = 0x7fff_ffff;

/// A reply handed from a socket's reader to the request waiting for it.
pub(super) struct Incoming {
    /// The decoded message.
    pub(super) msg: Message,
    /// The raw bytes, kept for v3 HMAC verification only.
    pub(super) raw: Option<Vec<u8>>,
}

/// A request waiting for its reply.
pub(super) struct Waiter {
    /// Only replies from this address are credited.
    peer: SocketAddr,
    /// Where the reader delivers candidates.
    tx: mpsc::Sender<Incoming>,
}

/// State shared with the socket reader tasks.
#[derive(Default)]
pub(super) struct Shared {
    /// Outstanding requests by request id (msgID for v3).
    pending: Mutex<HashMap<i32, Waiter>>,
    /// Counters, including every dropped reply.
    pub(super) stats: Stats,
}

/// One engine's UDP sockets and the tasks reading them.
pub(super) struct Sockets {
    /// IPv4 sockets.
    v4: Vec<Arc<UdpSocket>>,
    /// IPv6 sockets; empty when the host has no IPv6.
    v6: Vec<Arc<UdpSocket>>,
    /// Reader tasks, stopped when the engine goes away.
    tasks: Vec<AbortHandle>,
}

impl Drop for Sockets {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Sockets {
    /// Binds `n` sockets per family and starts their readers. Must run inside a tokio
    /// runtime. A host without IPv6 gets no v6 sockets rather than an error.
    pub(super) fn bind(
        n: usize,
        rcvbuf: Option<usize>,
        shared: &Arc<Shared>,
    ) -> Result<Sockets, SnmpError> {
        let mut sockets = Sockets {
            v4: Vec::new(),
            v6: Vec::new(),
            tasks: Vec::new(),
        };
        for _ in 0..n {
            let any4: SocketAddr = SocketAddr::from(([0, 0, 0, 0], 0));
            let s = Arc::new(bind_udp(any4, rcvbuf).map_err(|e| SnmpError::io(&any4, e))?);
            sockets.spawn_reader(&s, shared);
            sockets.v4.push(s);
            let any6: SocketAddr = SocketAddr::from(([0u16; 8], 0));
            if let Ok(s) = bind_udp(any6, rcvbuf) {
                let s = Arc::new(s);
                sockets.spawn_reader(&s, shared);
                sockets.v6.push(s);
            }
        }
        Ok(sockets)
    }

    fn spawn_reader(&mut self, s: &Arc<UdpSocket>, shared: &Arc<Shared>) {
        let task = tokio::spawn(read_loop(s.clone(), shared.clone()));
        self.tasks.push(task.abort_handle());
    }

    /// The family's next socket in turn (`next` counts the turns), or None when the
    /// family has none.
    pub(super) fn pick(&self, ipv6: bool, next: &AtomicUsize) -> Option<Arc<UdpSocket>> {
        let pool = if ipv6 { &self.v6 } else { &self.v4 };
        if pool.is_empty() {
            return None;
        }
        pool.get(next.fetch_add(1, Relaxed) % pool.len()).cloned()
    }
}

/// A seed for ids and salts, different in two processes started together.
pub(super) fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // splitmix64 so ids from two processes started together differ.
    let mut z = t ^ u64::from(std::process::id()).rotate_left(32);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

/// The first request id of an engine seeded with `seed`.
pub(super) fn first_id(seed: u64) -> u32 {
    (seed as u32) & ID_MASK
}

impl Engine {
    /// A fresh non-zero id, not used by any pending request; `waiter`, if any, is
    /// registered under it before the lock is released.
    fn alloc_id(&self, waiter: Option<Waiter>) -> i32 {
        let mut pending = self
            .inner
            .shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        loop {
            let id = (self.inner.next_id.fetch_add(1, Relaxed) & ID_MASK) as i32;
            if id == 0 || pending.contains_key(&id) {
                continue;
            }
            if let Some(w) = waiter {
                pending.insert(id, w);
            }
            return id;
        }
    }

    /// A privacy salt: never repeats for a key within this engine's life.
    pub(super) fn next_salt(&self) -> u64 {
        self.inner.salt.fetch_add(1, Relaxed)
    }
}

/// A request's place in the table: its id, where candidate replies arrive, and the guard
/// that frees the id however the request ends.
pub(super) struct Slot<'a> {
    /// request-id (msgID for v3).
    pub(super) id: i32,
    /// Candidate replies, already matched by id and source address.
    pub(super) rx: mpsc::Receiver<Incoming>,
    /// Removes the entry on drop; keep it alive for the whole exchange.
    pub(super) guard: PendingGuard<'a>,
}

impl Session {
    /// Takes an id for one request (with its retransmissions). Over TCP the connection
    /// carries the replies, so nothing is registered with the readers.
    pub(super) fn slot(&self) -> Slot<'_> {
        let (tx, rx) = mpsc::channel(REPLY_QUEUE);
        let waiter = (self.inner.cfg.addr.transport == Transport::Udp).then(|| Waiter {
            peer: self.inner.addr,
            tx,
        });
        let shared = &self.inner.engine.inner.shared;
        let id = self.inner.engine.alloc_id(waiter);
        Slot {
            id,
            rx,
            guard: PendingGuard { shared, id },
        }
    }
}

/// Binds a non-blocking UDP socket with a larger receive buffer. IPv6
/// sockets are v6-only: v4 targets use the v4 sockets.
fn bind_udp(addr: SocketAddr, rcvbuf: Option<usize>) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    if let Some(n) = rcvbuf {
        // Best effort: a smaller buffer than asked for still works.
        let _ = s.set_recv_buffer_size(n);
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

async fn read_loop(sock: Arc<UdpSocket>, shared: Arc<Shared>) {
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        let (n, from) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            // ICMP errors surface here on some systems; they are not replies.
            Err(_) => continue,
        };
        let st = &shared.stats;
        bump(&st.datagrams_received);
        let data = buf.get(..n).unwrap_or_default();
        let msg = match Message::decode(data) {
            Ok(m) => m,
            Err(_) => {
                bump(&st.malformed);
                continue;
            }
        };
        let Some(id) = msg.match_id() else {
            bump(&st.unknown_request_id);
            continue;
        };
        let raw = matches!(msg, Message::V3(_)).then(|| data.to_vec());
        let pending = shared.pending.lock().unwrap_or_else(|e| e.into_inner());
        match pending.get(&id) {
            None => bump(&st.unknown_request_id),
            Some(w) if w.peer != from => bump(&st.wrong_source),
            Some(w) => {
                if w.tx.try_send(Incoming { msg, raw }).is_err() {
                    bump(&st.queue_full);
                }
            }
        }
    }
}

/// Removes a pending entry when the request finishes, however it finishes.
pub(super) struct PendingGuard<'a> {
    /// Where the entry lives.
    shared: &'a Shared,
    /// Which entry to remove.
    id: i32,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        let mut p = self
            .shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        p.remove(&self.id);
    }
}
