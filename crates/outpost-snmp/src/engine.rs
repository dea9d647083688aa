//! The polling engine: many targets over a few shared UDP sockets (plus
//! TCP), replies demultiplexed by request id and source address, a global
//! cap on requests in flight, optional rate limits, per-target timeouts and
//! retries, and v3 engine discovery cached per target.
//!
//! Fairness: each target may hold at most `max_in_flight` of the global
//! permits, so a dead target waiting out its timeouts cannot starve others.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::error::SnmpError;
use crate::message::{CommunityMessage, Message, ScopedPdu, Version};
use crate::oid::Oid;
use crate::pdu::{AnyPdu, ErrorStatus, Pdu, PduType};
use crate::rate::RateLimiter;
use crate::security::{self, EngineParams, Security, UsmUser};
use crate::stats::{bump, Stats, StatsSnapshot};
use crate::target::{Family, TargetAddr, Transport};
use crate::usm::LocalizedKeys;
use crate::value::VarBind;

mod logs;
mod tcp;

use logs::{Hex, PduShape, ReqInfo};

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// UDP sockets per address family; targets are spread over them.
    pub sockets_per_family: usize,
    /// Global cap on requests in flight across all targets.
    pub max_in_flight: usize,
    /// Optional global PDU rate limit (PDUs per second).
    pub global_rate: Option<f64>,
    /// msgMaxSize we advertise in v3 requests.
    pub max_message_size: i32,
    /// Largest TCP message we accept; bigger is dropped as hostile.
    pub max_tcp_message: usize,
    /// SO_RCVBUF for the shared UDP sockets: replies from many targets
    /// arrive in bursts, and a full kernel buffer drops them silently.
    /// The kernel caps it at net.core.rmem_max.
    pub recv_buffer_bytes: Option<usize>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            sockets_per_family: 2,
            max_in_flight: 4096,
            global_rate: None,
            max_message_size: 65507,
            max_tcp_message: 1 << 20,
            recv_buffer_bytes: Some(4 << 20),
        }
    }
}

/// Per-target settings. Defaults follow net-snmp's tools.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    /// Where the agent is.
    pub addr: TargetAddr,
    /// Version and credentials.
    pub security: Security,
    /// Wait per attempt (net-snmp `-t`, default 1 s).
    pub timeout: Duration,
    /// Retransmissions after the first attempt (net-snmp `-r`, default 5).
    pub retries: u32,
    /// Requests this target may have outstanding at once (fairness cap).
    pub max_in_flight: usize,
    /// Optional per-target PDU rate limit (PDUs per second).
    pub rate_limit: Option<f64>,
}

impl TargetConfig {
    pub fn new(addr: TargetAddr, security: Security) -> Self {
        TargetConfig {
            addr,
            security,
            timeout: Duration::from_secs(1),
            retries: 5,
            max_in_flight: 4,
            rate_limit: None,
        }
    }
}

/// A reply handed from a socket's reader to the request waiting for it.
struct Incoming {
    /// The decoded message.
    msg: Message,
    /// The raw bytes, kept for v3 HMAC verification only.
    raw: Option<Vec<u8>>,
}

/// A request waiting for its reply.
struct Waiter {
    /// Only replies from this address are credited.
    peer: SocketAddr,
    /// Where the reader delivers candidates.
    tx: mpsc::Sender<Incoming>,
}

/// State shared with the socket reader tasks.
struct Shared {
    /// Outstanding requests by request id (msgID for v3).
    pending: Mutex<HashMap<i32, Waiter>>,
    /// Counters, including every dropped reply.
    stats: Stats,
}

struct Inner {
    /// Reader-visible state.
    shared: Arc<Shared>,
    /// IPv4 sockets.
    v4: Vec<Arc<UdpSocket>>,
    /// IPv6 sockets; empty when the host has no IPv6.
    v6: Vec<Arc<UdpSocket>>,
    /// Reader tasks, stopped when the engine goes away.
    tasks: Vec<AbortHandle>,
    /// Global in-flight cap.
    global: Semaphore,
    /// Optional global rate limit.
    global_rate: Option<RateLimiter>,
    /// The settings we were built with.
    config: EngineConfig,
    /// Round-robin socket choice for new sessions.
    next_socket: AtomicUsize,
    /// Request id source.
    next_id: AtomicU32,
    /// Privacy salt source; must not repeat for a key.
    salt: AtomicU64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Handle to the engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    /// Shared by every handle and session; the sockets close with the last.
    inner: Arc<Inner>,
}

fn seed() -> u64 {
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

impl Engine {
    /// Binds the shared sockets and starts their readers. Must run inside a
    /// tokio runtime.
    pub async fn new(config: EngineConfig) -> Result<Engine, SnmpError> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(HashMap::new()),
            stats: Stats::default(),
        });
        let n = config.sockets_per_family.max(1);
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        let mut tasks = Vec::new();
        let rcvbuf = config.recv_buffer_bytes;
        for _ in 0..n {
            let any4: SocketAddr = SocketAddr::from(([0, 0, 0, 0], 0));
            let s = Arc::new(bind_udp(any4, rcvbuf).map_err(|e| SnmpError::io(&any4, e))?);
            tasks.push(tokio::spawn(read_loop(s.clone(), shared.clone())).abort_handle());
            v4.push(s);
            let any6: SocketAddr = SocketAddr::from(([0u16; 8], 0));
            if let Ok(s) = bind_udp(any6, rcvbuf) {
                let s = Arc::new(s);
                tasks.push(tokio::spawn(read_loop(s.clone(), shared.clone())).abort_handle());
                v6.push(s);
            }
        }
        let s = seed();
        Ok(Engine {
            inner: Arc::new(Inner {
                shared,
                v4,
                v6,
                tasks,
                global: Semaphore::new(config.max_in_flight.max(1)),
                global_rate: config.global_rate.and_then(RateLimiter::new),
                next_socket: AtomicUsize::new(0),
                next_id: AtomicU32::new((s as u32) & 0x7fff_ffff),
                salt: AtomicU64::new(s.rotate_left(17)),
                config,
            }),
        })
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.inner.shared.stats.snapshot()
    }

    /// Prepares a target: resolves its address and picks its socket.
    pub async fn session(&self, cfg: TargetConfig) -> Result<Session, SnmpError> {
        let addr = cfg.addr.resolve().await?;
        if cfg.addr.family == Family::V6 && !addr.is_ipv6() {
            return Err(SnmpError::Resolve(cfg.addr.to_string()));
        }
        let socket = if cfg.addr.transport == Transport::Udp {
            let pool = if addr.is_ipv6() {
                &self.inner.v6
            } else {
                &self.inner.v4
            };
            if pool.is_empty() {
                return Err(SnmpError::Resolve(format!("{} (no IPv6 socket)", cfg.addr)));
            }
            let i = self.inner.next_socket.fetch_add(1, Relaxed) % pool.len();
            pool.get(i).cloned()
        } else {
            None
        };
        let v3 = match &cfg.security {
            Security::Usm(u) => Some(V3State {
                user: u.clone(),
                discovered: Mutex::new(None),
                discovery: tokio::sync::Mutex::new(()),
            }),
            Security::Community { .. } => None,
        };
        Ok(Session {
            inner: Arc::new(SessionInner {
                engine: self.clone(),
                addr,
                label: cfg.addr.to_string(),
                socket,
                tcp: tokio::sync::Mutex::new(None),
                per_target: Semaphore::new(cfg.max_in_flight.max(1)),
                rate: cfg.rate_limit.and_then(RateLimiter::new),
                v3,
                cfg,
            }),
        })
    }

    fn alloc_id(&self, waiter: Option<Waiter>) -> i32 {
        let mut pending = self
            .inner
            .shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        loop {
            let id = (self.inner.next_id.fetch_add(1, Relaxed) & 0x7fff_ffff) as i32;
            if id == 0 || pending.contains_key(&id) {
                continue;
            }
            if let Some(w) = waiter {
                pending.insert(id, w);
            }
            return id;
        }
    }

    fn next_salt(&self) -> u64 {
        self.inner.salt.fetch_add(1, Relaxed)
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
    let mut buf = vec![0u8; 65536];
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
struct PendingGuard<'a> {
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

/// v3 state of one target.
struct V3State {
    /// Who we are.
    user: Arc<UsmUser>,
    /// Engine ID/boots/time and keys, learned once and kept.
    discovered: Mutex<Option<Discovered>>,
    /// Serialises discovery so concurrent requests discover once.
    discovery: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Discovered {
    /// The agent's engine as last seen.
    params: EngineParams,
    /// When `params.time` was read, to extrapolate the agent's clock.
    at: Instant,
    /// Keys localized to this engine.
    keys: LocalizedKeys,
}

impl Discovered {
    fn now(&self) -> EngineParams {
        let elapsed = i32::try_from(self.at.elapsed().as_secs()).unwrap_or(i32::MAX);
        EngineParams {
            engine_id: self.params.engine_id.clone(),
            boots: self.params.boots,
            time: self.params.time.saturating_add(elapsed),
        }
    }
}

struct SessionInner {
    /// The engine whose sockets we use.
    engine: Engine,
    /// Resolved address; replies from anywhere else are not ours.
    addr: SocketAddr,
    /// Target as the operator wrote it, for errors.
    label: String,
    /// Shared UDP socket (None for TCP).
    socket: Option<Arc<UdpSocket>>,
    /// TCP connection, opened on first use and reused.
    tcp: tokio::sync::Mutex<Option<TcpStream>>,
    /// Per-target in-flight cap.
    per_target: Semaphore,
    /// Optional per-target rate limit.
    rate: Option<RateLimiter>,
    /// v3 only.
    v3: Option<V3State>,
    /// The settings we were built with.
    cfg: TargetConfig,
}

/// One target, ready to poll. Cheap to clone.
#[derive(Clone)]
pub struct Session {
    /// Shared by clones, so concurrent polls of one target share its caps,
    /// TCP connection and v3 state.
    inner: Arc<SessionInner>,
}

/// What a v3 exchange produced.
enum V3Outcome {
    Response(Pdu, EngineParams),
    Report(Oid, EngineParams),
}

/// RFC 3414 usmStats counters, as they appear in Reports.
mod report_oids {
    pub const UNSUPPORTED_SEC_LEVELS: &[u32] = &[1, 3, 6, 1, 6, 3, 15, 1, 1, 1, 0];
    pub const NOT_IN_TIME_WINDOWS: &[u32] = &[1, 3, 6, 1, 6, 3, 15, 1, 1, 2, 0];
    pub const UNKNOWN_USER_NAMES: &[u32] = &[1, 3, 6, 1, 6, 3, 15, 1, 1, 3, 0];
    pub const UNKNOWN_ENGINE_IDS: &[u32] = &[1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0];
    pub const WRONG_DIGESTS: &[u32] = &[1, 3, 6, 1, 6, 3, 15, 1, 1, 5, 0];
    pub const DECRYPTION_ERRORS: &[u32] = &[1, 3, 6, 1, 6, 3, 15, 1, 1, 6, 0];
}

impl Session {
    pub fn config(&self) -> &TargetConfig {
        &self.inner.cfg
    }

    pub fn version(&self) -> Version {
        self.inner.cfg.security.version()
    }

    /// Sends one PDU (its request-id is assigned here) and returns the
    /// Response PDU, whatever its error-status.
    pub async fn request(&self, pdu: Pdu) -> Result<Pdu, SnmpError> {
        let s = &self.inner;
        let _t = s
            .per_target
            .acquire()
            .await
            .map_err(|_| SnmpError::Closed)?;
        let _g = s
            .engine
            .inner
            .global
            .acquire()
            .await
            .map_err(|_| SnmpError::Closed)?;
        if let Some(r) = &s.rate {
            r.acquire().await;
        }
        if let Some(r) = &s.engine.inner.global_rate {
            r.acquire().await;
        }
        let resp = match &s.cfg.security {
            Security::Community { version, community } => {
                self.request_community(*version, community.expose_secret().as_bytes(), pdu)
                    .await
            }
            Security::Usm(_) => self.request_v3(pdu).await,
        }?;
        if resp.error_status != 0 {
            tracing::debug!(target = %s.label, request_id = resp.request_id,
                error_status = %ErrorStatus(resp.error_status), error_index = resp.error_index,
                "snmp agent returned an error status");
        }
        tracing::trace!(target = %s.label, request_id = resp.request_id,
            pdu = %PduShape(&resp), "snmp reply varbinds");
        Ok(resp)
    }

    async fn request_community(
        &self,
        version: Version,
        community: &[u8],
        mut pdu: Pdu,
    ) -> Result<Pdu, SnmpError> {
        let (tx, rx) = mpsc::channel(8);
        let id = self.register(tx);
        let _guard = PendingGuard {
            shared: &self.inner.engine.inner.shared,
            id,
        };
        pdu.request_id = id;
        let req = ReqInfo::new(&pdu, id);
        tracing::trace!(target = %self.inner.label, request_id = id, pdu = %PduShape(&pdu),
            "snmp request varbinds");
        let msg = Message::Community(CommunityMessage {
            version,
            community: secrecy::SecretSlice::from(community.to_vec()),
            pdu: AnyPdu::Pdu(pdu),
        });
        let bytes = msg.encode();
        self.exchange(&bytes, rx, req, |inc| match inc.msg {
            Message::Community(c)
                if c.version == version && c.community.expose_secret() == community =>
            {
                match c.pdu {
                    AnyPdu::Pdu(p) if p.pdu_type == PduType::Response && p.request_id == id => {
                        Some(p)
                    }
                    _ => None,
                }
            }
            _ => None,
        })
        .await
    }

    fn register(&self, tx: mpsc::Sender<Incoming>) -> i32 {
        let waiter = if self.inner.cfg.addr.transport == Transport::Udp {
            Some(Waiter {
                peer: self.inner.addr,
                tx,
            })
        } else {
            None
        };
        self.inner.engine.alloc_id(waiter)
    }

    /// `connected`: for TCP, whether a connection was ever open, so a target that never
    /// accepted one is not blamed on the community.
    fn timeout_error(&self, attempts: u32, connected: bool) -> SnmpError {
        bump(&self.inner.engine.inner.shared.stats.timeouts);
        let tcp = self.inner.cfg.addr.transport == Transport::Tcp;
        SnmpError::Timeout {
            target: self.inner.label.clone(),
            attempts,
            hint: match self.version() {
                _ if tcp && !connected => " (no TCP connection could be opened within the timeout)",
                Version::V3 => "",
                _ => " (for v1/v2c a wrong community looks like this: agents silently drop it)",
            },
        }
    }

    /// Sends `bytes` with retries until `accept` takes a reply.
    async fn exchange<T>(
        &self,
        bytes: &[u8],
        mut rx: mpsc::Receiver<Incoming>,
        req: ReqInfo,
        mut accept: impl FnMut(Incoming) -> Option<T>,
    ) -> Result<T, SnmpError> {
        let s = &self.inner;
        let st = &s.engine.inner.shared.stats;
        let attempts = s.cfg.retries.saturating_add(1);
        if s.cfg.addr.transport == Transport::Tcp {
            return self.exchange_tcp(bytes, attempts, req, accept).await;
        }
        let sock = s.socket.as_ref().ok_or(SnmpError::Closed)?;
        // The kernel would refuse it with EMSGSIZE on every attempt; say why instead.
        let limit = crate::size::udp_limit(s.addr.is_ipv6());
        if bytes.len() > limit {
            return Err(self.log_error(
                req,
                SnmpError::RequestTooLarge {
                    target: s.label.clone(),
                    size: bytes.len(),
                    limit,
                },
            ));
        }
        let started = Instant::now();
        for attempt in 0..attempts {
            bump(&st.requests_sent);
            if attempt > 0 {
                bump(&st.retransmits);
            }
            self.log_send(req, attempt, attempts, bytes.len());
            if let Err(e) = sock.send_to(bytes, s.addr).await {
                return Err(self.log_error(req, SnmpError::from_io(&s.label, e)));
            }
            let deadline = Instant::now() + s.cfg.timeout;
            loop {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Err(_) => break,
                    Ok(None) => return Err(SnmpError::Closed),
                    Ok(Some(inc)) => match accept(inc) {
                        Some(t) => {
                            bump(&st.responses_accepted);
                            self.log_reply(req, attempt, started);
                            return Ok(t);
                        }
                        None => bump(&st.rejected),
                    },
                }
            }
        }
        Err(self.log_error(req, self.timeout_error(attempts, true)))
    }

    fn v3(&self) -> Result<&V3State, SnmpError> {
        self.inner
            .v3
            .as_ref()
            .ok_or(SnmpError::InvalidRequest("not a v3 target".into()))
    }

    async fn discovered(&self) -> Result<Discovered, SnmpError> {
        let v3 = self.v3()?;
        if let Some(d) = v3
            .discovered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(d);
        }
        let _one = v3.discovery.lock().await;
        if let Some(d) = v3
            .discovered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(d);
        }
        let (tx, rx) = mpsc::channel(8);
        let id = self.register(tx);
        let _guard = PendingGuard {
            shared: &self.inner.engine.inner.shared,
            id,
        };
        let scoped = ScopedPdu {
            context_engine_id: Vec::new(),
            context_name: Vec::new(),
            pdu: AnyPdu::Pdu(Pdu::new(PduType::Get, id, Vec::new())),
        };
        let none = LocalizedKeys {
            auth: None,
            privacy: None,
        };
        let bytes = security::seal(
            id,
            self.inner.engine.inner.config.max_message_size,
            0,
            true,
            &EngineParams::default(),
            b"",
            &scoped,
            &none,
            0,
        )?;
        let req = ReqInfo {
            op: "discovery",
            id,
            varbinds: 0,
        };
        let params = self
            .exchange(&bytes, rx, req, |inc| match inc.msg {
                Message::V3(m) if m.msg_id == id && !m.usm.engine_id.is_empty() => {
                    Some(EngineParams {
                        engine_id: m.usm.engine_id,
                        boots: m.usm.engine_boots,
                        time: m.usm.engine_time,
                    })
                }
                _ => None,
            })
            .await?;
        tracing::debug!(target = %self.inner.label, engine_id = %Hex(&params.engine_id),
            boots = params.boots, time = params.time, "snmp v3 engine discovered");
        let keys = v3.user.localize(&params.engine_id)?;
        let d = Discovered {
            params,
            at: Instant::now(),
            keys,
        };
        *v3.discovered.lock().unwrap_or_else(|e| e.into_inner()) = Some(d.clone());
        Ok(d)
    }

    fn update_clock(&self, p: EngineParams) {
        if let Some(v3) = &self.inner.v3 {
            let mut g = v3.discovered.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(d) = g.as_mut() {
                if p.engine_id == d.params.engine_id {
                    d.params = p;
                    d.at = Instant::now();
                }
            }
        }
    }

    async fn request_v3(&self, pdu: Pdu) -> Result<Pdu, SnmpError> {
        let v3 = self.v3()?;
        let mut resynced = false;
        loop {
            let d = self.discovered().await?;
            let (tx, rx) = mpsc::channel(8);
            let id = self.register(tx);
            let _guard = PendingGuard {
                shared: &self.inner.engine.inner.shared,
                id,
            };
            let mut p = pdu.clone();
            p.request_id = id;
            let req = ReqInfo::new(&p, id);
            tracing::trace!(target = %self.inner.label, request_id = id, pdu = %PduShape(&p),
                "snmp request varbinds");
            let engine = d.now();
            let scoped = ScopedPdu {
                context_engine_id: engine.engine_id.clone(),
                context_name: v3.user.context_name.as_bytes().to_vec(),
                pdu: AnyPdu::Pdu(p),
            };
            let level = v3.user.level_flags();
            let bytes = security::seal(
                id,
                self.inner.engine.inner.config.max_message_size,
                level,
                true,
                &engine,
                v3.user.name.as_bytes(),
                &scoped,
                &d.keys,
                self.inner.engine.next_salt(),
            )?;
            let keys = d.keys.clone();
            let outcome = self
                .exchange(&bytes, rx, req, |inc| {
                    let raw = inc.raw?;
                    let (msg, scoped) = security::open(&raw, Some(&keys)).ok()?;
                    if msg.msg_id != id {
                        return None;
                    }
                    let params = EngineParams {
                        engine_id: msg.usm.engine_id.clone(),
                        boots: msg.usm.engine_boots,
                        time: msg.usm.engine_time,
                    };
                    match scoped.pdu {
                        AnyPdu::Pdu(p)
                            if p.pdu_type == PduType::Response
                                && p.request_id == id
                                && msg.flags & 0x03 == level =>
                        {
                            Some(V3Outcome::Response(p, params))
                        }
                        AnyPdu::Pdu(p) if p.pdu_type == PduType::Report => {
                            let oid = p
                                .varbinds
                                .first()
                                .map(|v| v.oid.clone())
                                .unwrap_or_default();
                            Some(V3Outcome::Report(oid, params))
                        }
                        _ => None,
                    }
                })
                .await?;
            match outcome {
                V3Outcome::Response(p, params) => {
                    self.update_clock(params);
                    return Ok(p);
                }
                V3Outcome::Report(oid, params) => {
                    tracing::debug!(target = %self.inner.label, report = %oid,
                        "snmp v3 report from the agent");
                    let o = oid.as_slice();
                    if o == report_oids::NOT_IN_TIME_WINDOWS && !resynced {
                        resynced = true;
                        self.update_clock(params);
                        continue;
                    }
                    if o == report_oids::UNKNOWN_ENGINE_IDS && !resynced {
                        resynced = true;
                        *v3.discovered.lock().unwrap_or_else(|e| e.into_inner()) = None;
                        continue;
                    }
                    return Err(match o {
                        report_oids::UNKNOWN_USER_NAMES => SnmpError::UnknownUser,
                        report_oids::WRONG_DIGESTS => SnmpError::WrongDigest,
                        report_oids::DECRYPTION_ERRORS => SnmpError::DecryptionError,
                        report_oids::UNSUPPORTED_SEC_LEVELS => SnmpError::UnsupportedSecLevel,
                        report_oids::NOT_IN_TIME_WINDOWS => SnmpError::NotInTimeWindow,
                        report_oids::UNKNOWN_ENGINE_IDS => SnmpError::UnknownEngineId,
                        _ => SnmpError::Report { oid },
                    });
                }
            }
        }
    }

    /// Sends a request PDU of `t`, splitting the varbind list on tooBig.
    async fn request_split(
        &self,
        t: PduType,
        vbs: Vec<VarBind>,
    ) -> Result<Vec<VarBind>, SnmpError> {
        let mut out = Vec::with_capacity(vbs.len());
        let mut queue: VecDeque<Vec<VarBind>> = VecDeque::from([vbs]);
        while let Some(chunk) = queue.pop_front() {
            let resp = self.request(Pdu::new(t, 0, chunk.clone())).await?;
            if resp.error_status == ErrorStatus::TOO_BIG.0 && chunk.len() > 1 {
                let mut a = chunk;
                let b = a.split_off(a.len() / 2);
                queue.push_front(b);
                queue.push_front(a);
                continue;
            }
            check_status(&resp, &chunk)?;
            out.extend(resp.varbinds);
        }
        Ok(out)
    }

    /// GET.
    pub async fn get(&self, oids: &[Oid]) -> Result<Vec<VarBind>, SnmpError> {
        self.request_split(
            PduType::Get,
            oids.iter().cloned().map(VarBind::null).collect(),
        )
        .await
    }

    /// GETNEXT.
    pub async fn get_next(&self, oids: &[Oid]) -> Result<Vec<VarBind>, SnmpError> {
        self.request_split(
            PduType::GetNext,
            oids.iter().cloned().map(VarBind::null).collect(),
        )
        .await
    }

    /// SET; values must already carry their SMI types.
    pub async fn set(&self, varbinds: &[VarBind]) -> Result<Vec<VarBind>, SnmpError> {
        self.request_split(PduType::Set, varbinds.to_vec()).await
    }

    /// GETBULK; on tooBig, max-repetitions is halved and the request retried.
    pub async fn get_bulk(
        &self,
        non_repeaters: u32,
        max_repetitions: u32,
        oids: &[Oid],
    ) -> Result<Vec<VarBind>, SnmpError> {
        if self.version() == Version::V1 {
            return Err(SnmpError::InvalidRequest(
                "GETBULK needs SNMP v2c or v3".into(),
            ));
        }
        let vbs: Vec<VarBind> = oids.iter().cloned().map(VarBind::null).collect();
        let mut reps = max_repetitions.min(i32::MAX as u32);
        loop {
            let pdu = Pdu::get_bulk(
                0,
                non_repeaters.min(i32::MAX as u32) as i32,
                reps as i32,
                vbs.clone(),
            );
            let resp = self.request(pdu).await?;
            if resp.error_status == ErrorStatus::TOO_BIG.0 && reps > 1 {
                reps /= 2;
                continue;
            }
            check_status(&resp, &vbs)?;
            return Ok(resp.varbinds);
        }
    }
}

/// Turns a non-zero error-status into an error naming the failed varbind
/// (net-snmp's "Failed object"), taken from the request we sent.
pub(crate) fn check_status(resp: &Pdu, request: &[VarBind]) -> Result<(), SnmpError> {
    if resp.error_status != 0 {
        let index = u32::try_from(resp.error_index).unwrap_or(0);
        let failed = (index as usize)
            .checked_sub(1)
            .and_then(|i| request.get(i))
            .map(|vb| vb.oid.clone());
        return Err(SnmpError::Agent {
            status: ErrorStatus(resp.error_status),
            index,
            failed,
        });
    }
    Ok(())
}
