//! The engine: one socket per family, opened on first use, and one receive task per socket
//! that demultiplexes every reply to the probe waiting for it.
//!
//! A probe waits under the key (target address, sequence number); the identifier is the
//! socket's. A reply is credited only when its identifier is ours, its source and sequence
//! name a probe still waiting, and its payload is byte for byte what that probe carried
//! (cookie, send timestamp, filler): anything else is dropped and counted in [`Counters`].
//! A forged reply therefore cannot consume a waiting probe either: the probe stays pending
//! for the genuine reply.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{oneshot, OnceCell};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::codec::{self, Echo, Family, Message, View};
use crate::error::IcmpError;
use crate::payload;
use crate::rate::Rate;
use crate::result::{Outcome, PingResult, PingSpec};
use crate::socket::{self, IcmpSocket, Mode, ModePreference};

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Packets per second across every caller of this engine (default 1,000).
    pub max_pps: u32,
    /// Which sockets to try (default: raw, then unprivileged).
    pub mode: ModePreference,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_pps: 1000,
            mode: ModePreference::Auto,
        }
    }
}

/// What the receive tasks dropped, and why, plus what was sent and credited.
#[derive(Debug, Default)]
struct AtomicCounters {
    sent: AtomicU64,
    send_errors: AtomicU64,
    replies: AtomicU64,
    errors_matched: AtomicU64,
    malformed: AtomicU64,
    foreign: AtomicU64,
    unmatched: AtomicU64,
    bad_payload: AtomicU64,
    recv_errors: AtomicU64,
}

/// A snapshot of the engine's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Echo requests handed to the kernel.
    pub sent: u64,
    /// Probes the kernel refused to send.
    pub send_errors: u64,
    /// Echo replies credited to a probe.
    pub replies: u64,
    /// Unreachable / time exceeded messages credited to a probe.
    pub errors_matched: u64,
    /// Packets that do not decode: truncated, bad checksum, bad IP header.
    pub malformed: u64,
    /// Replies (or errors quoting a probe) with another identifier than ours.
    pub foreign: u64,
    /// Ours by identifier, but no probe waits for this source and sequence: replayed,
    /// duplicated, late (after its timeout) or from the wrong source.
    pub unmatched: u64,
    /// Source and sequence of a waiting probe, but not its payload (cookie, timestamp,
    /// length or filler differ): forged or corrupted.
    pub bad_payload: u64,
    /// recvfrom failures.
    pub recv_errors: u64,
}

impl AtomicCounters {
    fn snapshot(&self) -> Counters {
        Counters {
            sent: self.sent.load(Relaxed),
            send_errors: self.send_errors.load(Relaxed),
            replies: self.replies.load(Relaxed),
            errors_matched: self.errors_matched.load(Relaxed),
            malformed: self.malformed.load(Relaxed),
            foreign: self.foreign.load(Relaxed),
            unmatched: self.unmatched.load(Relaxed),
            bad_payload: self.bad_payload.load(Relaxed),
            recv_errors: self.recv_errors.load(Relaxed),
        }
    }
}

struct Pending {
    sent_at: Instant,
    stamp: u64,
    size: usize,
    tx: oneshot::Sender<(Outcome, Instant)>,
}

type Key = (IpAddr, u16);

struct FamilySocket {
    family: Family,
    sock: IcmpSocket,
    pending: Mutex<HashMap<Key, Pending>>,
    next_seq: Mutex<u16>,
    /// Held across "set TTL, send" so one target's TTL never leaks onto another's probe.
    /// The value is the TTL last set (0 = the system default, never changed).
    send_lock: tokio::sync::Mutex<u32>,
}

impl FamilySocket {
    fn pending(&self) -> MutexGuard<'_, HashMap<Key, Pending>> {
        match self.pending.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

struct Shared {
    cookie: [u8; 8],
    counters: AtomicCounters,
    epoch: Instant,
}

struct Inner {
    config: EngineConfig,
    shared: Arc<Shared>,
    raw_ident: u16,
    rate: Rate,
    v4: OnceCell<Arc<FamilySocket>>,
    v6: OnceCell<Arc<FamilySocket>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(tasks) = self.tasks.get_mut() {
            for t in tasks.drain(..) {
                t.abort();
            }
        }
    }
}

/// The ICMP engine. Cheap to clone; every clone shares the sockets, the rate cap and the
/// counters. Sockets are opened on the first probe of their family, so an engine that never
/// pings opens none. Dropping the last clone stops the receive tasks.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    pub fn new(config: EngineConfig) -> Result<Engine, IcmpError> {
        if config.max_pps == 0 {
            return Err(IcmpError::InvalidParam {
                field: "max_pps",
                reason: "must be at least 1".into(),
            });
        }
        let mut random = [0u8; 10];
        getrandom::fill(&mut random).map_err(|e| IcmpError::Random(e.to_string()))?;
        let mut cookie = [0u8; 8];
        cookie.copy_from_slice(&random[..8]);
        Ok(Engine {
            inner: Arc::new(Inner {
                rate: Rate::new(config.max_pps),
                config,
                shared: Arc::new(Shared {
                    cookie,
                    counters: AtomicCounters::default(),
                    epoch: Instant::now(),
                }),
                raw_ident: u16::from_be_bytes([random[8], random[9]]),
                v4: OnceCell::new(),
                v6: OnceCell::new(),
                tasks: Mutex::new(Vec::new()),
            }),
        })
    }

    pub fn counters(&self) -> Counters {
        self.inner.shared.counters.snapshot()
    }

    /// Opens `family`'s socket now (it is otherwise opened by the first probe) and says
    /// which kind it is: a caller can report a privilege problem before any target.
    pub async fn open(&self, family: Family) -> Result<(Mode, u16), IcmpError> {
        let fs = self.socket(family).await?;
        Ok((fs.sock.mode, fs.sock.ident))
    }

    async fn socket(&self, family: Family) -> Result<Arc<FamilySocket>, IcmpError> {
        let cell = match family {
            Family::V4 => &self.inner.v4,
            Family::V6 => &self.inner.v6,
        };
        cell.get_or_try_init(|| async {
            let sock = socket::open(family, self.inner.config.mode, self.inner.raw_ident)?;
            let fs = Arc::new(FamilySocket {
                family,
                sock,
                pending: Mutex::new(HashMap::new()),
                next_seq: Mutex::new(0),
                send_lock: tokio::sync::Mutex::new(0),
            });
            let task = tokio::spawn(receive(fs.clone(), self.inner.shared.clone()));
            match self.inner.tasks.lock() {
                Ok(mut t) => t.push(task),
                Err(p) => p.into_inner().push(task),
            }
            Ok(fs)
        })
        .await
        .cloned()
    }

    /// Pings every target concurrently (each at its own interval, all under the engine's
    /// packets-per-second cap) and returns their results in the same order.
    pub async fn ping_many(&self, specs: &[PingSpec]) -> Vec<Result<PingResult, IcmpError>> {
        futures_util::future::join_all(specs.iter().map(|s| self.ping(s))).await
    }

    /// Pings one target: `count` probes `interval` apart, each waiting up to `timeout`.
    pub async fn ping(&self, spec: &PingSpec) -> Result<PingResult, IcmpError> {
        spec.validate()?;
        let fs = self.socket(Family::of(&spec.target)).await?;
        let start = Instant::now();
        let mut waits = Vec::with_capacity(spec.count as usize);
        for i in 0..spec.count {
            if i > 0 {
                tokio::time::sleep_until(start + spec.interval * i).await;
            }
            waits.push(self.send(&fs, spec).await);
        }
        let mut outcomes = Vec::with_capacity(waits.len());
        for w in waits {
            outcomes.push(match w {
                Err(outcome) => outcome,
                Ok((key, mut rx, deadline)) => {
                    match tokio::time::timeout_at(deadline, &mut rx).await {
                        Ok(Ok((outcome, _))) => outcome,
                        Ok(Err(_)) => Outcome::Timeout,
                        Err(_) => {
                            // Too late: withdraw the probe, unless the receive task credited
                            // it between the deadline and this line.
                            let withdrawn = fs.pending().remove(&key).is_some();
                            match rx.try_recv() {
                                Ok((outcome, _)) if !withdrawn => outcome,
                                _ => Outcome::Timeout,
                            }
                        }
                    }
                }
            });
        }
        Ok(PingResult::from_outcomes(spec.target, outcomes))
    }

    #[allow(clippy::type_complexity)]
    async fn send(
        &self,
        fs: &FamilySocket,
        spec: &PingSpec,
    ) -> Result<(Key, oneshot::Receiver<(Outcome, Instant)>, Instant), Outcome> {
        self.inner.rate.acquire().await;
        let shared = &self.inner.shared;
        let ttl = spec.ttl.map_or(0, u32::from);
        let mut last_ttl = fs.send_lock.lock().await;
        if *last_ttl != ttl {
            // 0 = back to the default: 64 is Linux's, and what ping uses.
            let effective = if ttl == 0 { 64 } else { ttl };
            if let Err(e) = socket::set_ttl(&fs.sock.socket, fs.family, effective) {
                shared.counters.send_errors.fetch_add(1, Relaxed);
                return Err(Outcome::SendError {
                    error: format!("setting the TTL: {e}"),
                });
            }
            *last_ttl = ttl;
        }
        let (tx, rx) = oneshot::channel();
        let key = {
            let mut pending = fs.pending();
            let mut next = match fs.next_seq.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            // Skip sequence numbers still waiting for this target after a wrap.
            let mut seq = *next;
            for _ in 0..=u16::MAX {
                if !pending.contains_key(&(spec.target, seq)) {
                    break;
                }
                seq = seq.wrapping_add(1);
            }
            *next = seq.wrapping_add(1);
            let key = (spec.target, seq);
            let sent_at = Instant::now();
            let stamp = u64::try_from((sent_at - shared.epoch).as_nanos()).unwrap_or(u64::MAX);
            let bytes = codec::encode(
                fs.family,
                &Message::EchoRequest(Echo {
                    ident: fs.sock.ident,
                    seq,
                    payload: payload::build(shared.cookie, stamp, spec.size),
                }),
            );
            pending.insert(
                key,
                Pending {
                    sent_at,
                    stamp,
                    size: spec.size,
                    tx,
                },
            );
            (key, bytes)
        };
        let (key, bytes) = key;
        let to = SocketAddr::new(spec.target, 0);
        let sent = fs.sock.socket.send_to(&bytes, to).await;
        drop(last_ttl);
        match sent {
            Ok(_) => {
                shared.counters.sent.fetch_add(1, Relaxed);
                let deadline = fs
                    .pending()
                    .get(&key)
                    .map_or_else(Instant::now, |p| p.sent_at)
                    + spec.timeout;
                Ok((key, rx, deadline))
            }
            Err(e) => {
                fs.pending().remove(&key);
                shared.counters.send_errors.fetch_add(1, Relaxed);
                Err(Outcome::SendError {
                    error: e.to_string(),
                })
            }
        }
    }
}

/// The receive task of one socket: reads until the engine drops and aborts it.
async fn receive(fs: Arc<FamilySocket>, shared: Arc<Shared>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        match fs.sock.socket.recv_from(&mut buf).await {
            Ok((n, from)) => {
                let now = Instant::now();
                handle(
                    &fs,
                    &shared,
                    buf.get(..n).unwrap_or_default(),
                    from.ip(),
                    now,
                );
            }
            Err(e) => {
                shared.counters.recv_errors.fetch_add(1, Relaxed);
                tracing::debug!(error = %e, "icmp recvfrom failed");
                // A persistent error must not spin a core.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

fn handle(fs: &FamilySocket, shared: &Shared, bytes: &[u8], from: IpAddr, now: Instant) {
    let c = &shared.counters;
    let icmp = if fs.family == Family::V4 && fs.sock.mode == Mode::Raw {
        match codec::ipv4_header_len(bytes) {
            Ok(ihl) => bytes.get(ihl..).unwrap_or_default(),
            Err(_) => {
                c.malformed.fetch_add(1, Relaxed);
                return;
            }
        }
    } else {
        bytes
    };
    // Echo requests (our own, on loopback; other hosts' pings) are most of what a raw socket
    // reads besides replies: set them aside before the checksum.
    if icmp.first() == Some(&fs.family.echo_request()) {
        return;
    }
    let msg = match codec::view(fs.family, icmp) {
        Ok(m) => m,
        Err(_) => {
            c.malformed.fetch_add(1, Relaxed);
            return;
        }
    };
    match msg {
        View::EchoReply {
            ident,
            seq,
            payload: bytes,
        } => {
            if ident != fs.sock.ident {
                c.foreign.fetch_add(1, Relaxed);
                return;
            }
            let mut pending = fs.pending();
            let key = (from, seq);
            let Some(p) = pending.get(&key) else {
                c.unmatched.fetch_add(1, Relaxed);
                return;
            };
            if !payload::matches(bytes, shared.cookie, p.stamp, p.size) {
                c.bad_payload.fetch_add(1, Relaxed);
                return;
            }
            if let Some(p) = pending.remove(&key) {
                c.replies.fetch_add(1, Relaxed);
                let rtt = now.saturating_duration_since(p.sent_at);
                let _ = p.tx.send((Outcome::Reply { rtt }, now));
            }
        }
        View::Unreachable {
            code,
            quoted,
            quoted_payload,
        }
        | View::TimeExceeded {
            code,
            quoted,
            quoted_payload,
        } => {
            let unreachable = matches!(msg, View::Unreachable { .. });
            if quoted.ident != fs.sock.ident {
                c.foreign.fetch_add(1, Relaxed);
                return;
            }
            let mut pending = fs.pending();
            let key = (quoted.destination, quoted.seq);
            let Some(p) = pending.get(&key) else {
                c.unmatched.fetch_add(1, Relaxed);
                return;
            };
            // When the error quotes the cookie and timestamp (Linux and RFC 4443 routers
            // quote the whole probe), they must be the probe's: a forged error cannot fail
            // a probe then. An RFC 792 minimal quote (8 bytes) has no payload to check.
            if quoted_payload.len() >= payload::MIN_PAYLOAD
                && !payload::prefix_matches(quoted_payload, shared.cookie, p.stamp)
            {
                c.bad_payload.fetch_add(1, Relaxed);
                return;
            }
            match pending.remove(&key) {
                Some(p) => {
                    c.errors_matched.fetch_add(1, Relaxed);
                    let outcome = if unreachable {
                        Outcome::Unreachable { from, code }
                    } else {
                        Outcome::TimeExceeded { from, code }
                    };
                    let _ = p.tx.send((outcome, now));
                }
                None => {
                    c.unmatched.fetch_add(1, Relaxed);
                }
            }
        }
        // Our own requests (loopback), other hosts' pings, neighbour discovery: not replies.
        View::EchoRequest { .. } | View::Other { .. } => {}
    }
}
