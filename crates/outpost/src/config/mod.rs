//! Configuration: typed, layered (flags > environment > file > built-in defaults), and
//! checked with errors that name the key, where it came from, and its line in the file.

mod connectivity;
mod containers;
mod error;
mod keys;
mod layers;
mod parse;
mod update;

use std::{net::SocketAddr, path::PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

pub use connectivity::{ConnectivitySection, Targets};
pub use containers::ContainersSection;
pub use error::KeyError;
pub use keys::{env_name, KEYS};
pub use layers::{load, ConfigError, Loaded, Origin, Sources};
pub use update::UpdateSection;

/// Whether `name` is a known key, and a secret one (redacted wherever it is shown).
pub fn key_kind(name: &str) -> Option<bool> {
    keys::find(name).map(|k| k.secret)
}

/// A key's value as it may be shown: `[redacted]` for a secret key.
pub fn shown(name: &str, v: &toml::Value) -> toml::Value {
    if key_kind(name) == Some(true) {
        toml::Value::String("[redacted]".into())
    } else {
        v.clone()
    }
}

/// The effective values as `config show --json` and `GET /v1/config` print them: each
/// key's value (`[redacted]` for secrets) and where it came from.
pub fn redacted_view(
    values: &std::collections::BTreeMap<&'static str, (toml::Value, Origin)>,
) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for (name, (v, origin)) in values {
        out.insert(
            (*name).to_owned(),
            serde_json::json!({ "value": shown(name, v), "origin": origin.to_string() }),
        );
    }
    serde_json::Value::Object(out)
}

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
    /// `trap.*` as read; [`Config::trap`] is what the receiver runs on.
    #[serde(rename = "trap")]
    trap_section: crate::trap::config::TrapSection,
    /// The receiver's settings, parsed once by [`Config::validate`]; `None` while
    /// `trap.enabled` is false. The engine id and boots are the daemon's to fill in.
    #[serde(skip)]
    pub trap: Option<crate::trap::TrapSettings>,
    pub exec: ExecSection,
    /// Every key of `[secrets]` is optional, so the table may be absent altogether.
    #[serde(default)]
    pub secrets: SecretsSection,
    /// `[commands.NAME]` from the file: the exec allowlist, checked when the exec
    /// component is built (outpost-exec names `commands.NAME.FIELD` on error).
    #[serde(default)]
    pub commands: Option<toml::Value>,
    /// `compat.*`: drop-in APIs of the agents Outpost replaces, each off by default.
    pub compat: CompatSection,
    /// `sink.*`: optional destinations of results and events.
    pub sink: SinkSection,
    /// `connectivity.*`: the uplink monitor and its recovery ladder, off by default.
    pub connectivity: ConnectivitySection,
    /// `containers.*`: the container engine and its job kinds.
    pub containers: ContainersSection,
    /// `update.*`: signed self-updates (issue 16).
    pub update: UpdateSection,
    /// `socketman.*`: the SocketMan drop-in, off while `config` is unset.
    pub socketman: SocketmanSection,
    /// `reagent.*`: the Reagent drop-in, off while `config` is unset (no key has a
    /// default, so the section may be absent altogether).
    #[serde(default)]
    pub reagent: ReagentSection,
    /// `snmp.*`: the one SNMP engine's engine-wide settings (no key has a default).
    #[serde(default)]
    pub snmp: SnmpSection,
    /// The keys set by the operator (not built-in defaults), filled in by `load`.
    #[serde(skip)]
    pub explicit: std::collections::BTreeSet<&'static str>,
}

/// `snmp.*`: settings of the one SNMP engine every SNMP job and adapter shares.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpSection {
    /// Datagrams per second across all targets; `Some(0)` is no limit, `None` lets an
    /// adapter choose its default (Towerops: 200).
    pub max_pdus_per_second: Option<u32>,
}

/// `reagent.*`: the `.flock` device file whose WAMP session is taken over.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReagentSection {
    pub config: Option<PathBuf>,
    /// The heartbeat's period; `None` (the section absent) is Reagent's 30 s.
    pub heartbeat_ms: Option<u64>,
    /// The first restart delay of a crashed app (Reagent's 5 s × n², up to an hour);
    /// `None` is Reagent's 5 s.
    pub app_backoff_ms: Option<u64>,
    /// The `[commands.NAME]` entries the system procedures run; unset: refused.
    pub reboot_command: Option<String>,
    pub shutdown_command: Option<String>,
    pub restart_agent_command: Option<String>,
    /// The `[commands.NAME]` entry (with `in_containers = true`) a container terminal
    /// session runs; unset: terminals are refused.
    pub terminal_command: Option<String>,
    /// A terminal session with no input this long is closed; `None`: 15 minutes.
    pub terminal_idle_ms: Option<u64>,
    /// Whether `init_device_terminal` (a root shell on the host) is registered at all.
    #[serde(default)]
    pub allow_host_terminal: bool,
    /// The agent's own log file `query_device_logs` reads; unset: refused.
    pub device_log_file: Option<PathBuf>,
}

/// `socketman.*`: SocketMan's `config.json` to take over, and whether its shell stays.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocketmanSection {
    pub config: Option<PathBuf>,
    pub allow_shell: bool,
    /// SocketMan's `-b`: the init server a missing or refused config is provisioned from.
    pub init_url: Option<String>,
    /// The MAC file read when provisioning (SocketMan's `/etc/mac`).
    pub mac_file: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompatSection {
    pub rusty: RustySection,
}

/// `compat.rusty.*`: rusty_agent's API, off while `listen` is unset.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RustySection {
    pub listen: Option<SocketAddr>,
    pub user: String,
    pub password_hash: Option<SecretString>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub insecure_plaintext: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkSection {
    pub opensearch: OpenSearchSection,
}

/// `sink.opensearch.*`: the `_bulk` sink, off while `url` is unset.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenSearchSection {
    pub url: Option<String>,
    pub index: String,
    pub user: Option<String>,
    pub password: Option<SecretString>,
    pub ca_file: Option<PathBuf>,
    pub batch_max: usize,
}

/// `exec.*`: allowlisted commands (`[commands.NAME]`), off by default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecSection {
    pub enabled: bool,
    pub scripts_dir: Option<PathBuf>,
    pub allow_inline: bool,
    pub user: String,
}

/// `secrets.*`: where the key that seals secrets at rest lives.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSection {
    /// An operator-managed key (a systemd credential); unset: DATA_DIR/secret.key.
    pub key_file: Option<PathBuf>,
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
    /// Normalized when read (`ws`/`wss`, Phoenix's `/websocket` path and `vsn=2.0.0`).
    #[serde(default, deserialize_with = "parse::ws_url")]
    pub url: Option<String>,
    pub token: Option<SecretString>,
    pub insecure: bool,
    /// The certificate's SHA-256, read from hex (colons allowed).
    #[serde(default, deserialize_with = "parse::pin")]
    pub pin_sha256: Option<[u8; 32]>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    #[serde(default, deserialize_with = "parse::brokers")]
    pub url: Option<crate::uplink::mqtt::BrokerList>,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub pool: Option<String>,
    pub keepalive_secs: u64,
    #[serde(deserialize_with = "parse::protocol")]
    pub protocol: crate::uplink::mqtt::Protocol,
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
    /// Where log lines go; unset: stderr, or syslog in SocketMan mode (as SocketMan).
    pub target: Option<LogTarget>,
    /// The syslog socket (`log.target = syslog`).
    pub syslog_socket: PathBuf,
}

/// `log.target`: stderr, the local syslog socket, or journald's native socket.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogTarget {
    Stderr,
    Syslog,
    Journald,
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
    /// The drain phase: how long running jobs may take.
    pub grace_ms: u64,
    /// The intake phase: sources of events (the trap receiver) store what they read.
    pub intake_ms: u64,
    /// The egress phase: uplinks and the stats push send what they can, then close.
    pub egress_ms: u64,
    /// The serve phase: open API connections finish.
    pub serve_ms: u64,
    /// Closing the store (its last commit and checkpoint).
    pub store_ms: u64,
}

/// Ids become MQTT topic levels and Phoenix topics: no wildcards, no separators.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl Config {
    /// Checks that the types alone cannot express, and parses the sections that need more
    /// than a type (the trap receiver's), once: the daemon uses what this leaves.
    /// `reagent.config`: the `.flock` is read now, so a missing key is a configuration error
    /// naming it (exit 2).
    fn check_reagent(&self) -> Result<(), KeyError> {
        let Some(path) = &self.reagent.config else {
            return Ok(());
        };
        if self.reagent.heartbeat_ms.is_some_and(|ms| ms < 100) {
            return Err(KeyError::new(
                "reagent.heartbeat_ms",
                "must be at least 100 (milliseconds)",
            ));
        }
        if self
            .reagent
            .app_backoff_ms
            .is_some_and(|ms| !(100..=3_600_000).contains(&ms))
        {
            return Err(KeyError::new(
                "reagent.app_backoff_ms",
                "must be from 100 to 3600000 (milliseconds)",
            ));
        }
        if self.reagent.allow_host_terminal {
            // Registered only when asked, and not implemented yet: refused now rather than
            // registered and failing when the platform opens a host shell.
            return Err(KeyError::new(
                "reagent.allow_host_terminal",
                "init_device_terminal (a root shell on the host) is not implemented; leave it false",
            ));
        }
        if self.reagent.terminal_idle_ms.is_some_and(|ms| ms < 1000) {
            return Err(KeyError::new(
                "reagent.terminal_idle_ms",
                "must be at least 1000 (milliseconds)",
            ));
        }
        // A system procedure runs an allowlisted command: one that names nothing is a
        // configuration error now, not a refusal when the platform asks for a reboot.
        for (key, name) in [
            ("reagent.reboot_command", &self.reagent.reboot_command),
            ("reagent.terminal_command", &self.reagent.terminal_command),
            ("reagent.shutdown_command", &self.reagent.shutdown_command),
            (
                "reagent.restart_agent_command",
                &self.reagent.restart_agent_command,
            ),
        ] {
            let Some(name) = name else { continue };
            let known = self
                .commands
                .as_ref()
                .and_then(|t| t.get(name.as_str()))
                .is_some();
            if !known || !self.exec.enabled {
                return Err(KeyError::new(
                    key,
                    format!("{name:?} must name a [commands.NAME] entry, with exec.enabled = true"),
                ));
            }
        }
        #[cfg(feature = "reagent")]
        {
            crate::adapters::reagent::flock::Flock::read(path)
                .map(|_| ())
                .map_err(|e| KeyError::new("reagent.config", e))
        }
        #[cfg(not(feature = "reagent"))]
        Err(KeyError::new(
            "reagent.config",
            format!(
                "{}: this build has no Reagent adapter (feature reagent)",
                path.display()
            ),
        ))
    }

    /// `socketman.*`: the file is read and checked now, so a bad one is a configuration
    /// error naming its key (exit 2), not a failure later.
    fn check_socketman(&self) -> Result<(), KeyError> {
        let s = &self.socketman;
        if s.allow_shell && !self.exec.allow_inline {
            return Err(KeyError::new(
                "socketman.allow_shell",
                "runs SocketMan's command lines as inline sh scripts: it needs exec.allow_inline = true",
            ));
        }
        let Some(path) = &s.config else {
            return Ok(());
        };
        #[cfg(feature = "socketman")]
        {
            if let Some(url) = &s.init_url {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(KeyError::new(
                        "socketman.init_url",
                        format!("{url:?} is not an http:// or https:// URL"),
                    ));
                }
            }
            let read = match crate::adapters::socketman::config::load(path) {
                Ok(r) => r,
                // With an init server, a missing or bad file is provisioned at start.
                Err(_) if s.init_url.is_some() => return Ok(()),
                Err(e) => return Err(KeyError::new("socketman.config", e)),
            };
            if read.mqtt.is_some() && !self.exec.enabled {
                return Err(KeyError::new(
                    "socketman.config",
                    "SocketMan's jobs run as allowlisted, audited commands: set exec.enabled = true (and a [commands.NAME] for each command the backend sends)",
                ));
            }
            Ok(())
        }
        #[cfg(not(feature = "socketman"))]
        Err(KeyError::new(
            "socketman.config",
            format!(
                "{}: this build has no SocketMan adapter (feature socketman)",
                path.display()
            ),
        ))
    }

    pub(crate) fn validate(&mut self) -> Result<(), KeyError> {
        if self.jobs.queue_capacity == 0 {
            return Err(KeyError::new("jobs.queue_capacity", "must be at least 1"));
        }
        if !(1..=64).contains(&self.runtime.worker_threads) {
            return Err(KeyError::new(
                "runtime.worker_threads",
                "must be between 1 and 64",
            ));
        }
        if self.jobs.max_timeout_ms == 0 {
            return Err(KeyError::new("jobs.max_timeout_ms", "must be at least 1"));
        }
        if self.jobs.default_timeout_ms == 0
            || self.jobs.default_timeout_ms > self.jobs.max_timeout_ms
        {
            return Err(KeyError::new(
                "jobs.default_timeout_ms",
                format_args!(
                    "must be between 1 and jobs.max_timeout_ms ({})",
                    self.jobs.max_timeout_ms
                ),
            ));
        }
        if self.api.max_body_bytes < 1024 {
            return Err(KeyError::new("api.max_body_bytes", "must be at least 1024"));
        }
        const ID_RULE: &str = "1 to 64 letters, digits, '.', '_' or '-'";
        if self.agent.id.as_deref().is_some_and(|id| !valid_id(id)) {
            return Err(KeyError::new("agent.id", ID_RULE));
        }
        let mqtt = &self.uplink.mqtt;
        if mqtt.pool.as_deref().is_some_and(|p| !valid_id(p)) {
            return Err(KeyError::new("uplink.mqtt.pool", ID_RULE));
        }
        if mqtt.client_cert.is_some() != mqtt.client_key.is_some() {
            return Err(KeyError::new(
                "uplink.mqtt.client_key",
                "uplink.mqtt.client_cert and uplink.mqtt.client_key go together",
            ));
        }
        let wants_tls = mqtt.client_cert.is_some() || mqtt.ca_file.is_some();
        if wants_tls && mqtt.url.as_ref().is_some_and(|b| !b.tls()) {
            return Err(KeyError::new(
                "uplink.mqtt.url",
                "a client certificate or CA file needs an mqtts:// broker",
            ));
        }
        let ws = &self.uplink.ws;
        if ws
            .url
            .as_deref()
            .is_some_and(|u| u.starts_with("ws://") && !ws.insecure)
        {
            return Err(KeyError::new(
                "uplink.ws.url",
                "plain ws:// sends the token in clear; use wss://, or set uplink.ws.insecure",
            ));
        }
        if self.uplink.window == 0 || self.uplink.window > 4096 {
            return Err(KeyError::new("uplink.window", "must be between 1 and 4096"));
        }
        if self.uplink.mqtt.keepalive_secs < 5 {
            return Err(KeyError::new(
                "uplink.mqtt.keepalive_secs",
                "must be at least 5",
            ));
        }
        if self.stats.interval_secs == 0 {
            return Err(KeyError::new("stats.interval_secs", "must be at least 1"));
        }
        if self.stats.cache_max_bytes < 1024 {
            return Err(KeyError::new(
                "stats.cache_max_bytes",
                "must be at least 1024",
            ));
        }
        #[cfg(not(feature = "api-tls"))]
        if self.api.tls {
            return Err(KeyError::new(
                "api.tls",
                "this build has no HTTPS for the API (feature api-tls)",
            ));
        } else if self.tls_enabled() {
            return Err(KeyError::new(
                "api.listen",
                "beyond loopback the API needs HTTPS, which this build does not have (feature api-tls): listen on loopback, or set api.insecure_plaintext",
            ));
        }
        if self.api.tls_cert.is_some() != self.api.tls_key.is_some() {
            return Err(KeyError::new(
                "api.tls_key",
                "api.tls_cert and api.tls_key go together",
            ));
        }
        let rusty = &self.compat.rusty;
        if rusty.listen.is_some() {
            match &rusty.password_hash {
                None => {
                    return Err(KeyError::new(
                        "compat.rusty.password_hash",
                        "required when compat.rusty.listen is set (there is no default password): a bcrypt ($2b$/$2y$) or argon2id hash",
                    ))
                }
                // Without the `rusty` feature the adapter is not there to use it.
                #[cfg(feature = "rusty")]
                Some(h) => crate::adapters::rusty::PasswordHash::parse(
                    secrecy::ExposeSecret::expose_secret(h),
                )
                .map_err(|why| KeyError::new("compat.rusty.password_hash", why))
                .map(drop)?,
                #[cfg(not(feature = "rusty"))]
                Some(_) => {}
            }
        }
        if rusty.tls_cert.is_some() != rusty.tls_key.is_some() {
            return Err(KeyError::new(
                "compat.rusty.tls_key",
                "compat.rusty.tls_cert and compat.rusty.tls_key go together",
            ));
        }
        #[cfg(feature = "opensearch")]
        if let Some(url) = &self.sink.opensearch.url {
            crate::sinks::opensearch::check_url(url)
                .map_err(|why| KeyError::new("sink.opensearch.url", why))?;
        }
        if self.sink.opensearch.index.is_empty() {
            return Err(KeyError::new("sink.opensearch.index", "must not be empty"));
        }
        if !(1..=10_000).contains(&self.sink.opensearch.batch_max) {
            return Err(KeyError::new(
                "sink.opensearch.batch_max",
                "must be between 1 and 10000",
            ));
        }
        self.check_socketman()?;
        #[cfg(all(feature = "socketman", feature = "connectivity"))]
        crate::adapters::socketman::monitor::adopt(self)?;
        self.check_reagent()?;
        self.connectivity
            .check(self.commands.as_ref(), self.exec.enabled)?;
        self.containers.check()?;
        self.update.check()?;
        // Checked even when off, so a section that would fail is reported before the day
        // someone turns it on; kept only when on.
        let trap = crate::trap::TrapSettings::from_section(&self.trap_section, b"")?;
        self.trap = self.trap_section.enabled.then_some(trap);
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
