//! SocketMan drop-in (issue 18), off unless `socketman.config` (`outpost run
//! --socketman-config PATH`) names SocketMan's `config.json`. It keeps SocketMan's wire
//! (../shared/compat/socketman.md): the same broker, client id shape, topics, JSON and QoS,
//! so the backend is unchanged, and maps it onto Outpost: a job's `meta.msg` is an
//! allowlisted `exec` job (audited; a shell only behind `socketman.allow_shell`), its
//! replies go out through the store's outbox. Every SocketMan shape lives in this module.
//!
//! Part 1 (here): the config file, the MQTT session and its messages, allowlisted jobs.
//! Not yet: REST results (`rest = 1`), boot_url/boot_cmd, the stats upload, provisioning,
//! `network` job checks, syslog.

pub mod boot;
pub mod config;
pub mod jobs;
mod mqtt;
pub mod rest;
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
}

impl Wire {
    pub fn peer(&self) -> String {
        let scheme = if self.mqtt.tls { "mqtts" } else { "mqtt" };
        format!("{scheme}://{}:{}", self.mqtt.host, self.mqtt.port)
    }
}

struct SocketMan(Arc<Wire>, Option<boot::Boot>);

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

pub fn build(
    cfg: &mut Config,
    shared: &crate::components::Shared,
) -> anyhow::Result<Option<Box<dyn Component>>> {
    let Some(path) = cfg.socketman.config.clone() else {
        return Ok(None);
    };
    // `Config::validate` read it already; read again here, as the daemon starts.
    let settings: Settings = config::load(&path).context("socketman.config")?;
    for (key, what) in &settings.clamped {
        tracing::warn!(file = %path.display(), key = %key, "socketman: {key}: {what} (SocketMan's limit)");
    }
    if !settings.ignored.is_empty() {
        tracing::info!(file = %path.display(), keys = ?settings.ignored, "socketman: keys SocketMan does not read are ignored");
    }
    let Some(mqtt) = settings.mqtt.clone() else {
        tracing::info!(file = %path.display(), "socketman: disable_mqtt is set: no MQTT session");
        return Ok(None);
    };
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
    let client_id = client_id(&shared.data_dir, &settings.mac)?;
    let topics = wire::Topics::new(&mqtt.topic, &mqtt.key, &settings.mac);
    Ok(Some(Box::new(SocketMan(
        Arc::new(Wire {
            mqtt,
            client_id,
            topics,
            tls,
            ping_interval: settings.ping_interval,
            no_ping: settings.no_ping,
            order,
            allow_shell,
            timeout: Duration::from_millis(cfg.jobs.default_timeout_ms),
            rest,
        }),
        boot,
    ))))
}

impl Component for SocketMan {
    fn start(self: Box<Self>, cx: &mut Start<'_>) -> anyhow::Result<()> {
        let (w, boot) = (self.0, self.1);
        tracing::info!(
            broker = %w.peer(),
            client_id = %w.client_id,
            jobs = %w.topics.sub,
            "socketman: SocketMan's MQTT wire is on"
        );
        let (dispatcher, store, stop) = (
            cx.dispatcher.clone(),
            cx.shared.store.clone(),
            cx.stop_token(),
        );
        if let Some(b) = boot {
            cx.spawn(boot::run(b, w.clone(), dispatcher.clone()));
        }
        cx.spawn(mqtt::run(w, dispatcher, store, stop));
        Ok(())
    }
}
