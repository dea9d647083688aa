//! SocketMan drop-in (issue 18), off unless `socketman.config` (`outpost run
//! --socketman-config PATH`) names SocketMan's `config.json`. It keeps SocketMan's wire
//! (../shared/compat/socketman.md): the same broker, client id shape, topics, JSON and QoS,
//! so the backend is unchanged, and maps it onto Outpost: a job's `meta.msg` is an
//! allowlisted `exec` job (audited; a shell only behind `socketman.allow_shell`), its
//! replies go out through the store's outbox. Every SocketMan shape lives in this module.
//!
//! The config file, the MQTT session and its messages, allowlisted jobs, REST results,
//! boot_url/boot_cmd, and the stats collection and upload (`stats`, `collect`,
//! `nl80211`, `nl80211_read`, `genl`, `score`).

pub mod boot;
pub mod collect;
pub mod config;
pub mod genl;
pub mod jobs;
#[cfg(feature = "connectivity")]
pub mod monitor;
mod mqtt;
pub mod nl80211;
pub mod nl80211_read;
pub mod nl80211_write;
pub mod provision;
pub mod rest;
pub mod score;
pub mod stats;
pub mod wifi;
pub mod wire;

// rusty_agent's command-line mapping (words → an allowlisted command's parameters), shared
// rather than copied: the module itself when that adapter is built, its file otherwise.
#[cfg(feature = "rusty")]
pub use crate::adapters::rusty::words;
#[cfg(not(feature = "rusty"))]
#[path = "../rusty/words.rs"]
pub mod words;

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::Context;
use outpost_exec::Allowlist;
use serde::Deserialize;

use crate::components::{Component, Start};
use crate::config::Config;
use config::{Mqtt, Settings};
use words::ParamOrder;

/// The connectivity monitor as this adapter uses it (its score, `network` jobs' checks).
#[cfg(feature = "connectivity")]
pub type MonitorLink = crate::connectivity::link::Link;
/// Without the monitor's crates there is no monitor: the score is measured by `score.rs`.
#[cfg(not(feature = "connectivity"))]
#[derive(Clone)]
pub enum MonitorLink {}

/// The component's name in the daemon's list and in `agent.info`.
pub const NAME: &str = "socketman";

/// What the MQTT session needs, fixed for the agent's life.
pub struct Wire {
    pub mqtt: Mqtt,
    pub client_id: String,
    pub topics: wire::Topics,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub ping_interval: u64,
    pub no_ping: bool,
    pub order: ParamOrder,
    pub allow_shell: bool,
    pub timeout: Duration,
    /// `rest = 1`: `msg…` results by HTTP PATCH instead of PROCESSED.
    pub rest: Option<Arc<rest::Rest>>,
    /// The connectivity monitor: `network` jobs are checked before and after.
    pub monitor: Option<MonitorLink>,
    /// The agent's `Exec`, whose audit log records a `network` job's checks.
    pub exec: Option<outpost_exec::Exec>,
}

impl Wire {
    /// What commands from boot's reply and `boot_cmd` are checked against.
    pub fn policy(&self) -> jobs::Policy {
        jobs::Policy {
            order: self.order.clone(),
            allow_shell: self.allow_shell,
            timeout: self.timeout,
        }
    }

    pub fn peer(&self) -> String {
        let scheme = if self.mqtt.tls { "mqtts" } else { "mqtt" };
        format!("{scheme}://{}:{}", self.mqtt.host, self.mqtt.port)
    }
}

/// SocketMan's client id, `<pid>x<mac>`, made once and kept in DATA_DIR/socketman/client_id:
/// the broker keeps a persistent session (and the jobs queued in it) per client id, and a
/// new pid on every start would throw the session away.
fn client_id(data_dir: &Path, mac: &str) -> anyhow::Result<String> {
    let dir = data_dir.join("socketman");
    let path = dir.join("client_id");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let id = text.trim();
        let shaped = id
            .strip_suffix(mac)
            .and_then(|p| p.strip_suffix('x'))
            .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        if shaped {
            return Ok(id.to_owned());
        }
    }
    let id = format!("{}x{mac}", std::process::id());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(&path, &id).with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

/// What the agent's own config fixes, whatever SocketMan's file says.
struct Fixed {
    data_dir: std::path::PathBuf,
    allow_shell: bool,
    order: ParamOrder,
    timeout: Duration,
    exec_enabled: bool,
    /// Taken from the connectivity component when it registers (`None`: monitor off).
    monitor: Option<MonitorLink>,
    /// Taken from the exec component when it registers.
    exec: Option<outpost_exec::Exec>,
}

/// The parts one `config.json` gives: the MQTT session (unless `disable_mqtt`), the boot
/// steps and the stats loop.
struct Parts {
    wire: Option<Arc<Wire>>,
    boot: Option<boot::Boot>,
    stats: Option<stats::Stats>,
    mac: String,
    /// What a `cmd` in a stats reply is checked against (also with `disable_mqtt`).
    policy: jobs::Policy,
}

struct SocketMan {
    fixed: Fixed,
    /// Read from the file at start; `None` when it must be provisioned first.
    ready: Option<Settings>,
    provision: Option<provision::Provision>,
}

/// Everything a checked `config.json` turns into.
fn assemble(settings: Settings, fixed: &Fixed) -> anyhow::Result<Parts> {
    let path = &settings.path;
    for (key, what) in &settings.clamped {
        tracing::warn!(file = %path.display(), key = %key, "socketman: {key}: {what} (SocketMan's limit)");
    }
    if !settings.ignored.is_empty() {
        tracing::info!(file = %path.display(), keys = ?settings.ignored, "socketman: keys SocketMan does not read are ignored");
    }
    let stats = stats::Stats::new(
        &settings,
        &fixed.data_dir.join("socketman").join("stats"),
        collect::Paths::system(),
    )
    .context("socketman")?
    .map(|s| s.with_monitor(fixed.monitor.clone()));
    let mac = settings.mac.clone();
    let policy = jobs::Policy {
        order: fixed.order.clone(),
        allow_shell: fixed.allow_shell,
        timeout: fixed.timeout,
    };
    let Some(mqtt) = settings.mqtt.clone() else {
        tracing::info!(file = %path.display(), "socketman: disable_mqtt is set: no MQTT session");
        return Ok(Parts {
            wire: None,
            boot: None,
            stats,
            mac,
            policy,
        });
    };
    if !fixed.exec_enabled {
        anyhow::bail!(
            "socketman.config: SocketMan's jobs run as allowlisted, audited commands: set exec.enabled = true"
        );
    }
    let rest = match (&settings.api_url, settings.rest) {
        (Some(api), true) => {
            if settings.insecure {
                tracing::warn!(
                    "socketman: insecure is set: the API's TLS certificate is NOT verified"
                );
            }
            Some(Arc::new(
                rest::Rest::new(
                    api,
                    settings.token.clone(),
                    settings.insecure,
                    mqtt.cacrt.as_deref(),
                )
                .context("socketman: api_url")?,
            ))
        }
        _ => None,
    };
    let tls = if mqtt.tls {
        let ca = mqtt.cacrt.as_deref();
        Some(
            crate::uplink::tls::client_config_with(&crate::uplink::tls::ClientTls {
                ca_file: ca,
                identity: None,
            })
            .context("socketman: cacrt")?,
        )
    } else {
        None
    };
    let boot = (settings.boot_url.is_some() || settings.boot_cmd.is_some())
        .then(|| {
            boot::Boot::new(
                settings.boot_url.as_deref(),
                settings.boot_cmd.clone(),
                settings.token.as_deref(),
                &settings.mac,
                settings.insecure,
                mqtt.cacrt.as_deref(),
            )
        })
        .transpose()
        .context("socketman: boot_url")?;
    let client_id = client_id(&fixed.data_dir, &settings.mac)?;
    let topics = wire::Topics::new(&mqtt.topic, &mqtt.key, &settings.mac);
    Ok(Parts {
        wire: Some(Arc::new(Wire {
            mqtt,
            client_id,
            topics,
            tls,
            ping_interval: settings.ping_interval,
            no_ping: settings.no_ping,
            order: fixed.order.clone(),
            allow_shell: fixed.allow_shell,
            timeout: fixed.timeout,
            rest,
            monitor: fixed.monitor.clone(),
            exec: fixed.exec.clone(),
        })),
        boot,
        stats,
        mac,
        policy,
    })
}

pub fn build(
    cfg: &mut Config,
    shared: &crate::components::Shared,
) -> anyhow::Result<Option<Box<dyn Component>>> {
    let Some(path) = cfg.socketman.config.clone() else {
        return Ok(None);
    };
    let allow_shell = cfg.socketman.allow_shell;
    if allow_shell {
        tracing::warn!(
            "socketman: socketman.allow_shell is ON: a job's meta.msg that names no allowlisted \
             command runs in a shell (sh -c) as this agent's exec user, as SocketMan ran it as \
             root; every run is audited"
        );
    }
    let order = match (&cfg.commands, cfg.exec.enabled) {
        (Some(table), true) => {
            ParamOrder::of(&Allowlist::deserialize(table.clone()).context("commands")?)
        }
        _ => ParamOrder::default(),
    };
    let fixed = Fixed {
        data_dir: shared.data_dir.clone(),
        allow_shell,
        order,
        timeout: Duration::from_millis(cfg.jobs.default_timeout_ms),
        exec_enabled: cfg.exec.enabled,
        monitor: None,
        exec: None,
    };
    let provision = cfg
        .socketman
        .init_url
        .as_deref()
        .map(|u| {
            provision::Provision::new(u, &path, &cfg.socketman.mac_file, collect::Paths::system())
        })
        .transpose()
        .context("socketman.init_url")?;
    // `Config::validate` read it already; read again here, as the daemon starts. Assembled
    // once the monitor is known (`register`).
    let ready = match config::load(&path) {
        Ok(settings) => Some(settings),
        Err(e) if provision.is_some() => {
            tracing::warn!(error = %e, "socketman: no usable config.json: provisioning it from the init server");
            None
        }
        Err(e) => return Err(e).context("socketman.config"),
    };
    Ok(Some(Box::new(SocketMan {
        fixed,
        ready,
        provision,
    })))
}

/// Runs one config's parts until `stop` or a 401 from the collector.
async fn run_parts(
    parts: Parts,
    can_provision: bool,
    dispatcher: outpost_core::Dispatcher,
    store: outpost_core::Store,
    stop: tokio_util::sync::CancellationToken,
) -> stats::Outcome {
    let Parts {
        wire,
        boot,
        stats,
        policy,
        ..
    } = parts;
    let stats = stats.map(|s| s.with_commands(policy, dispatcher.clone()));
    let session = stop.child_token();
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(w) = wire {
        tracing::info!(
            broker = %w.peer(),
            client_id = %w.client_id,
            jobs = %w.topics.sub,
            "socketman: SocketMan's MQTT wire is on"
        );
        if let Some(b) = boot {
            tasks.spawn(boot::run(b, w.clone(), dispatcher.clone()));
        }
        tasks.spawn(mqtt::run(w, dispatcher, store, session.clone()));
    }
    let outcome = match stats {
        Some(s) => {
            tracing::info!(cache = %s.cache_path().display(), "socketman: stats collection is on");
            let outcome = s.run(session.clone()).await;
            if outcome == stats::Outcome::Reprovision && !can_provision {
                // Nothing to provision from: the jobs session carries on without stats.
                tracing::error!(
                    "socketman: the collector refused the token (401) and there is no init \
                     server (socketman.init_url, -b) to provision from: stats stop until the \
                     agent restarts"
                );
                session.cancelled().await;
                stats::Outcome::Stopped
            } else {
                outcome
            }
        }
        None => {
            session.cancelled().await;
            stats::Outcome::Stopped
        }
    };
    // A 401 ends this config's session (its last will is published) before the next.
    session.cancel();
    while tasks.join_next().await.is_some() {}
    outcome
}

impl Component for SocketMan {
    fn register(&mut self, _r: &mut crate::components::Registrar<'_>) -> anyhow::Result<()> {
        self.fixed.exec = _r
            .common::<crate::components::exec::SharedExec>(|_| {
                crate::components::exec::SharedExec(None)
            })
            .0;
        #[cfg(feature = "connectivity")]
        {
            self.fixed.monitor = _r
                .common(|_| crate::connectivity::link::SharedMonitor(None))
                .0;
        }
        Ok(())
    }

    fn start(self: Box<Self>, cx: &mut Start<'_>) -> anyhow::Result<()> {
        let SocketMan {
            fixed,
            ready,
            provision,
        } = *self;
        let ready = ready.map(|s| assemble(s, &fixed)).transpose()?;
        let (dispatcher, store, stop) = (
            cx.dispatcher.clone(),
            cx.shared.store.clone(),
            cx.stop_token(),
        );
        cx.spawn(async move {
            let mut next = ready;
            let mut mac: Option<String> = None;
            loop {
                let parts = match next.take() {
                    Some(p) => p,
                    None => {
                        let Some(p) = &provision else { return };
                        let Some(settings) = p.run(mac.as_deref(), &stop).await else {
                            return;
                        };
                        match assemble(settings, &fixed) {
                            Ok(parts) => parts,
                            Err(e) => {
                                tracing::error!(error = %e, "socketman: the provisioned config cannot be used; asking again");
                                tokio::select! {
                                    () = stop.cancelled() => return,
                                    () = tokio::time::sleep(Duration::from_secs(15)) => continue,
                                }
                            }
                        }
                    }
                };
                mac = Some(parts.mac.clone());
                let outcome = run_parts(
                    parts,
                    provision.is_some(),
                    dispatcher.clone(),
                    store.clone(),
                    stop.clone(),
                )
                .await;
                if outcome == stats::Outcome::Stopped || stop.is_cancelled() {
                    return;
                }
                tracing::warn!("socketman: the collector refused the token (401): provisioning again");
            }
        });
        Ok(())
    }
}
