//! Configuration: typed, layered (flags > environment > file > built-in defaults), and
//! checked with errors that name the key, where it came from, and its line in the file.

mod keys;
mod layers;

use std::{net::SocketAddr, path::PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

pub use keys::{env_name, KEYS};
pub use layers::{load, ConfigError, Loaded, Sources};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub data_dir: Option<PathBuf>,
    pub api: ApiConfig,
    pub log: LogConfig,
    pub jobs: JobsConfig,
    pub store: StoreSection,
    pub shutdown: ShutdownConfig,
    pub runtime: RuntimeConfig,
    /// Every key of `[agent]` is optional, so the table may be absent altogether.
    #[serde(default)]
    pub agent: AgentConfig,
    pub uplink: UplinkConfig,
    pub metrics: MetricsSection,
    pub stats: StatsSection,
    pub trap: crate::trap::config::TrapSection,
}

/// `metrics.*`: the host-metrics caches.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Cache time of the fast figures; 0 collects on every request.
    pub ttl_ms: u64,
    /// Cache time of the filesystem list.
    pub disks_ttl_ms: u64,
    /// Cache time of the process list.
    pub processes_ttl_ms: u64,
}

/// `stats.*`: the periodic stats push, off while `url` is unset.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsSection {
    /// Secret: the path or query may carry a collector's token.
    pub url: Option<SecretString>,
    /// Secret for the same reason.
    pub backup_url: Option<SecretString>,
    pub interval_secs: u64,
    pub cache_max_bytes: u64,
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UplinkConfig {
    pub ws: WsConfig,
    pub mqtt: MqttConfig,
    pub window: usize,
    pub heartbeat_ms: u64,
    pub read_timeout_ms: u64,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    pub backoff_reset_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsConfig {
    pub url: Option<String>,
    pub token: Option<SecretString>,
    pub insecure: bool,
    pub pin_sha256: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    pub url: Option<String>,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub pool: Option<String>,
    pub keepalive_secs: u64,
    pub protocol: String,
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    pub token: Option<SecretString>,
    pub tls: bool,
    pub insecure_plaintext: bool,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub level: LogLevel,
    pub format: LogFormat,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    pub queue_capacity: usize,
    pub default_timeout_ms: u64,
    pub max_timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    Normal,
    Full,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    pub sync: SyncMode,
    pub outbox_max_rows: u64,
    pub outbox_max_age_secs: u64,
    pub jobs_max_rows: u64,
    pub jobs_max_age_secs: u64,
}

/// `runtime.*`: the async runtime.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Async worker threads. One by default: with two, a job's steps (request, reply,
    /// store, answer) hop between threads, and the wake-ups cost more CPU per polled
    /// varbind than the second core returns (issue 11, bench/RESULTS.md).
    pub worker_threads: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownConfig {
    pub grace_ms: u64,
}

/// Ids become MQTT topic levels and Phoenix topics: no wildcards, no separators.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl Config {
    /// Checks that the types alone cannot express. Errors name the key.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.jobs.queue_capacity == 0 {
            return Err(("jobs.queue_capacity", "must be at least 1".into()));
        }
        if !(1..=64).contains(&self.runtime.worker_threads) {
            return Err(("runtime.worker_threads", "must be between 1 and 64".into()));
        }
        if self.jobs.max_timeout_ms == 0 {
            return Err(("jobs.max_timeout_ms", "must be at least 1".into()));
        }
        if self.jobs.default_timeout_ms == 0
            || self.jobs.default_timeout_ms > self.jobs.max_timeout_ms
        {
            return Err((
                "jobs.default_timeout_ms",
                format!(
                    "must be between 1 and jobs.max_timeout_ms ({})",
                    self.jobs.max_timeout_ms
                ),
            ));
        }
        if self.api.max_body_bytes < 1024 {
            return Err(("api.max_body_bytes", "must be at least 1024".into()));
        }
        if let Some(id) = &self.agent.id {
            if !valid_id(id) {
                return Err((
                    "agent.id",
                    "1 to 64 letters, digits, '.', '_' or '-'".into(),
                ));
            }
        }
        if let Some(p) = &self.uplink.mqtt.pool {
            if !valid_id(p) {
                return Err((
                    "uplink.mqtt.pool",
                    "1 to 64 letters, digits, '.', '_' or '-'".into(),
                ));
            }
        }
        let mqtt = &self.uplink.mqtt;
        let broker = match &mqtt.url {
            Some(u) => Some(
                crate::uplink::mqtt::BrokerUrl::parse(u)
                    .map_err(|e| ("uplink.mqtt.url", e.to_string()))?,
            ),
            None => None,
        };
        crate::uplink::mqtt::Protocol::parse(&mqtt.protocol)
            .map_err(|e| ("uplink.mqtt.protocol", e.to_string()))?;
        if mqtt.client_cert.is_some() != mqtt.client_key.is_some() {
            return Err((
                "uplink.mqtt.client_key",
                "uplink.mqtt.client_cert and uplink.mqtt.client_key go together".into(),
            ));
        }
        let wants_tls = mqtt.client_cert.is_some() || mqtt.ca_file.is_some();
        if wants_tls && broker.is_some_and(|b| !b.tls) {
            return Err((
                "uplink.mqtt.url",
                "a client certificate or CA file needs an mqtts:// broker".into(),
            ));
        }
        if let Some(u) = &self.uplink.ws.url {
            let url = crate::uplink::ws::normalize_url(u)
                .map_err(|e| ("uplink.ws.url", e.to_string()))?;
            if url.starts_with("ws://") && !self.uplink.ws.insecure {
                return Err((
                    "uplink.ws.url",
                    "plain ws:// sends the token in clear; use wss://, or set uplink.ws.insecure"
                        .into(),
                ));
            }
        }
        if let Some(p) = &self.uplink.ws.pin_sha256 {
            crate::uplink::tls::parse_pin(p)
                .map_err(|e| ("uplink.ws.pin_sha256", e.to_string()))?;
        }
        if self.uplink.window == 0 || self.uplink.window > 4096 {
            return Err(("uplink.window", "must be between 1 and 4096".into()));
        }
        if self.uplink.mqtt.keepalive_secs < 5 {
            return Err(("uplink.mqtt.keepalive_secs", "must be at least 5".into()));
        }
        if self.stats.interval_secs == 0 {
            return Err(("stats.interval_secs", "must be at least 1".into()));
        }
        if self.stats.cache_max_bytes < 1024 {
            return Err(("stats.cache_max_bytes", "must be at least 1024".into()));
        }
        crate::trap::config::TrapSettings::from_section(&self.trap, b"")?;
        if self.api.tls_cert.is_some() != self.api.tls_key.is_some() {
            return Err((
                "api.tls_key",
                "api.tls_cert and api.tls_key go together".into(),
            ));
        }
        Ok(())
    }

    /// The data directory, resolved from config or the XDG default.
    pub fn data_dir(&self) -> Result<PathBuf, ConfigError> {
        if let Some(d) = &self.data_dir {
            return Ok(d.clone());
        }
        if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|x| !x.is_empty()) {
            return Ok(PathBuf::from(x).join("outpost"));
        }
        match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            Some(home) => Ok(PathBuf::from(home).join(".local/state/outpost")),
            None => Err(ConfigError::Invalid {
                key: "data_dir".into(),
                origin: "default".into(),
                message: "neither XDG_STATE_HOME nor HOME is set; give --data-dir".into(),
            }),
        }
    }

    /// TLS is on when asked for, or when the API leaves loopback without an explicit opt-out.
    pub fn tls_enabled(&self) -> bool {
        self.api.tls || (!self.api.listen.ip().is_loopback() && !self.api.insecure_plaintext)
    }
}
