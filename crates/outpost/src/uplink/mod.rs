//! Uplinks: connections the agent opens itself to a control plane, through which jobs come
//! in and the outbox goes out. Each uplink is an outbox consumer with its own cursor, so
//! several can run at once and none loses what another has delivered.
//!
//! `delivery.rs`, `inbound.rs` and `run.rs` (the one connect/session/backoff loop) are
//! transport-independent. Each transport is a session state machine (`mqtt/session.rs`,
//! `ws/session.rs`: pure, tested against scripted events) and a pump that does its I/O.
//! What the uplinks count and log goes through the typed events of `events.rs`.

pub mod backoff;
pub mod delivery;
pub mod events;
pub mod inbound;
pub mod mqtt;
pub mod run;
pub mod tls;
#[cfg(feature = "ws")]
pub mod ws;
/// Without the `ws` feature, only the URL rule: the config still reads `uplink.ws.url`.
#[cfg(not(feature = "ws"))]
pub mod ws {
    #[path = "url.rs"]
    mod url;
    pub use url::{normalize_url, WsUrlError};
}

use std::{path::Path, time::Duration};

use outpost_core::Dispatcher;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use crate::config::{valid_id, UplinkConfig};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UplinkLabel {
    pub uplink: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UplinkPeer {
    pub uplink: String,
    pub peer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UplinkCode {
    pub uplink: String,
    pub code: String,
}

/// Figures every uplink reports, labelled by uplink.
#[derive(Clone, Default)]
pub struct UplinkMetrics {
    /// 1 while connected (and, for Phoenix, joined).
    pub connected: Family<UplinkLabel, Gauge>,
    /// Connection attempts that failed or ended.
    pub reconnects: Family<UplinkLabel, Counter>,
    /// Outbox rows sent, redeliveries included.
    pub sent: Family<UplinkLabel, Counter>,
    /// Outbox rows acknowledged by the peer (their cursor moved past them).
    pub acked: Family<UplinkLabel, Counter>,
    /// Messages from the peer answered with `error`, by code.
    pub rejected: Family<UplinkCode, Counter>,
    /// Our messages the broker acknowledged and then dropped, by the reason it gave (MQTT 5
    /// PUBACK `no_matching_subscribers`: nobody was subscribed to our results or events), in
    /// the `code` label.
    pub broker_dropped: Family<UplinkCode, Counter>,
    /// 1 for the broker an MQTT uplink is connected to, 0 for those it was connected to
    /// before (one series per node of `uplink.mqtt.url` at most).
    pub broker: Family<UplinkPeer, Gauge>,
    /// Moves to the next broker of the list after a connection failed or ended.
    pub failovers: Family<UplinkLabel, Counter>,
}

impl UplinkMetrics {
    pub fn register(&self, reg: &mut Registry) {
        reg.register(
            "outpost_uplink_connected",
            "1 while the uplink is connected",
            self.connected.clone(),
        );
        reg.register(
            "outpost_uplink_reconnects",
            "Uplink connections that failed or ended",
            self.reconnects.clone(),
        );
        reg.register(
            "outpost_uplink_sent",
            "Outbox rows sent on the uplink, redeliveries included",
            self.sent.clone(),
        );
        reg.register(
            "outpost_uplink_acked",
            "Outbox rows acknowledged over the uplink",
            self.acked.clone(),
        );
        reg.register(
            "outpost_uplink_rejected",
            "Peer messages answered with an error, by code",
            self.rejected.clone(),
        );
        reg.register(
            "outpost_uplink_broker_dropped",
            "Messages the broker acknowledged and said it dropped (MQTT 5 reason), by reason",
            self.broker_dropped.clone(),
        );
        reg.register(
            "outpost_uplink_broker",
            "1 for the broker the MQTT uplink is connected to; 0 for those of its list it used before",
            self.broker.clone(),
        );
        reg.register(
            "outpost_uplink_failovers",
            "Moves to the next broker of the list after a connection failed or ended",
            self.failovers.clone(),
        );
    }

    pub fn label(name: &str) -> UplinkLabel {
        UplinkLabel {
            uplink: name.to_owned(),
        }
    }
}

/// What every uplink needs from the agent.
#[derive(Clone)]
pub struct Context {
    pub agent_id: String,
    pub dispatcher: Dispatcher,
    pub metrics: UplinkMetrics,
    pub default_timeout: Duration,
    pub window: usize,
    pub heartbeat: Duration,
    pub read_timeout: Duration,
    pub backoff: backoff::BackoffConfig,
}

/// The `uplink.*` figures every transport shares, read once from the section (each uplink
/// component keeps its own copy).
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    pub window: usize,
    pub heartbeat: Duration,
    pub read_timeout: Duration,
    pub backoff: backoff::BackoffConfig,
}

impl Tuning {
    pub fn from_config(cfg: &UplinkConfig) -> Self {
        Tuning {
            window: cfg.window,
            heartbeat: Duration::from_millis(cfg.heartbeat_ms.max(100)),
            read_timeout: Duration::from_millis(cfg.read_timeout_ms.max(100)),
            backoff: backoff::BackoffConfig {
                initial: Duration::from_millis(cfg.backoff_initial_ms.max(1)),
                max: Duration::from_millis(cfg.backoff_max_ms.max(1)),
                reset_after: Duration::from_millis(cfg.backoff_reset_ms),
            },
        }
    }
}

impl Context {
    pub fn new(
        agent_id: String,
        dispatcher: Dispatcher,
        metrics: UplinkMetrics,
        default_timeout: Duration,
        tuning: Tuning,
    ) -> Self {
        Context {
            agent_id,
            dispatcher,
            metrics,
            default_timeout,
            window: tuning.window,
            heartbeat: tuning.heartbeat,
            read_timeout: tuning.read_timeout,
            backoff: tuning.backoff,
        }
    }

    pub fn new_backoff(&self) -> backoff::Backoff {
        backoff::Backoff::new(self.backoff)
    }

    pub fn hello(&self) -> outpost_proto::Message {
        outpost_proto::Message::Hello {
            agent_id: self.agent_id.clone(),
            version: crate::version::get().into(),
            capabilities: self
                .dispatcher
                .kinds()
                .iter()
                .map(|k| k.to_string())
                .collect(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentIdError {
    #[error("agent id file {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("agent id file {0} does not hold a valid id; delete it to have one generated")]
    Invalid(std::path::PathBuf),
}

/// The configured agent id, or the one generated on first start and kept in the data dir.
pub fn agent_id(configured: Option<&str>, data_dir: &Path) -> Result<String, AgentIdError> {
    if let Some(id) = configured {
        return Ok(id.to_owned());
    }
    let path = data_dir.join("agent_id");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id = text.trim();
            if valid_id(id) {
                Ok(id.to_owned())
            } else {
                Err(AgentIdError::Invalid(path))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = uuid::Uuid::now_v7().simple().to_string();
            std::fs::write(&path, format!("{id}\n"))
                .map_err(|source| AgentIdError::Io { path, source })?;
            Ok(id)
        }
        Err(source) => Err(AgentIdError::Io { path, source }),
    }
}
