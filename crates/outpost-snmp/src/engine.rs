//! The polling engine: many targets over a few shared UDP sockets (plus
//! TCP), replies demultiplexed by request id and source address, a global
//! cap on requests in flight, optional rate limits, per-target timeouts and
//! retries, and v3 engine discovery cached per target.
//!
//! Fairness: each target may hold at most `max_in_flight` of the global
//! permits, so a dead target waiting out its timeouts cannot starve others.
//!
//! This file holds the two handles, [`Engine`] and [`Session`], and the path every
//! request takes through the caps and rate limits. Each step after that has its own file:
//!
//! | file | concept |
//! |---|---|
//! | `config.rs` | [`EngineConfig`], [`TargetConfig`] and their defaults |
//! | `demux.rs` | the shared UDP sockets and their readers, the table of pending requests, ids and salts |
//! | `exchange.rs` | one request's sends, per-attempt timeout and retransmissions over UDP |
//! | `tcp.rs` | the same over a TCP connection, and what each connection failure means |
//! | `community.rs` | v1/v2c messages and which reply may be credited |
//! | `discovery.rs` | v3 engine discovery and the agent's clock |
//! | `v3.rs` | v3 requests: seal, open, Reports into errors, resync once |
//! | `ops.rs` | GET/GETNEXT/SET/GETBULK, tooBig splitting, error-status into errors |
//! | `logs.rs` | the per-request log lines |

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize};
use std::sync::Arc;

use secrecy::ExposeSecret;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Semaphore;

use crate::error::SnmpError;
use crate::message::Version;
use crate::pdu::{ErrorStatus, Pdu};
use crate::rate::RateLimiter;
use crate::security::Security;
use crate::stats::StatsSnapshot;
use crate::target::{Family, Transport};

mod community;
mod config;
mod demux;
mod discovery;
mod exchange;
mod logs;
mod ops;
mod tcp;
mod v3;

pub use config::{EngineConfig, TargetConfig};

use demux::{Shared, Sockets};
use discovery::V3State;
use logs::PduShape;

struct Inner {
    /// Reader-visible state.
    shared: Arc<Shared>,
    /// The UDP sockets and their readers; the readers stop when the engine goes away.
    sockets: Sockets,
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

/// Handle to the engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    /// Shared by every handle and session; the sockets close with the last.
    inner: Arc<Inner>,
}

impl Engine {
    /// Binds the shared sockets and starts their readers. Must run inside a
    /// tokio runtime.
    pub async fn new(config: EngineConfig) -> Result<Engine, SnmpError> {
        let shared = Arc::new(Shared::default());
        let n = config.sockets_per_family.max(1);
        let sockets = Sockets::bind(n, config.recv_buffer_bytes, &shared)?;
        let s = demux::seed();
        Ok(Engine {
            inner: Arc::new(Inner {
                shared,
                sockets,
                global: Semaphore::new(config.max_in_flight.max(1)),
                global_rate: config.global_rate.and_then(RateLimiter::new),
                next_socket: AtomicUsize::new(0),
                next_id: AtomicU32::new(demux::first_id(s)),
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
            let next = &self.inner.next_socket;
            let Some(s) = self.inner.sockets.pick(addr.is_ipv6(), next) else {
                return Err(SnmpError::Resolve(format!("{} (no IPv6 socket)", cfg.addr)));
            };
            Some(s)
        } else {
            None
        };
        let v3 = match &cfg.security {
            Security::Usm(u) => Some(V3State::new(u.clone())),
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

impl Session {
    pub fn config(&self) -> &TargetConfig {
        &self.inner.cfg
    }

    pub fn version(&self) -> Version {
        self.inner.cfg.security.version()
    }

    /// Waits for this target's and the engine's PDU rate limits, if any. Every datagram
    /// that leaves is charged, a retransmission too: a limit that let retries through
    /// unpaced would be exceeded exactly when a WAN link is already struggling.
    pub(super) async fn pace(&self) {
        let s = &self.inner;
        if let Some(r) = &s.rate {
            r.acquire().await;
        }
        if let Some(r) = &s.engine.inner.global_rate {
            r.acquire().await;
        }
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
        self.pace().await;
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
}
