//! Reagent drop-in (issue 19), the IronFlock DeviceManagementAgent's WAMP wire
//! (../shared/compat/reagent.md): off unless `reagent.config` (`outpost run
//! --reagent-config PATH`) names the device's `.flock`. The wire shapes themselves (WAMP
//! messages, WAMP-CRA) live in `outpost_proto::wamp`; this adapter names Reagent's
//! procedures and maps them onto Outpost.
//!
//! Part 1: the `.flock` reader, the session state machine (join with WAMP-CRA, the
//! post-join calls, the registrations, the heartbeat, request deadlines), the socket pump
//! with reconnects, the privilege check, and the first procedures (`device_handshake`,
//! `get_agent_metadata`, `execute_cmd` through the exec allowlist).
//!
//! Part 2: the heartbeat's figures and statuses (`stats.rs`: CONFIGURING, CONNECTED,
//! EMERGENCY from the containers disk guard), the container, image and host procedures as
//! jobs (`jobs.rs`), the system procedures through the allowlist (`system.rs`), and a
//! privilege check on every procedure.
//!
//! Apps: `request_app_state` and `get_requested_app_states` (`apps.rs`, the vocabulary;
//! `app_driver.rs`, the requests kept and carried out as `app.*` jobs, Reagent's containers
//! adopted; `app_reports.rs`, the states to `update_app_on_device`, crashes read from the
//! outbox). Not yet: logs, terminals, network configuration, OTA, the `.flock` rewrite.

pub mod app_driver;
pub mod app_reports;
pub mod applogs;
pub mod apps;
mod client;
pub mod exec;
pub mod flock;
pub mod jobs;
pub mod logstream;
pub mod privilege;
pub mod procedures;
pub mod session;
#[cfg(test)]
mod session_tests;
pub mod stats;
pub mod system;
pub mod terminal;

// rusty_agent's command-line mapping (words → an allowlisted command's parameters), shared
// rather than copied: the module itself when that adapter is built, its file otherwise.
#[cfg(feature = "rusty")]
pub use crate::adapters::rusty::words;
#[cfg(not(feature = "rusty"))]
#[path = "../rusty/words.rs"]
pub mod words;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use outpost_exec::Allowlist;
use serde::Deserialize;

use crate::components::{Component, Registrar, Start};
use crate::config::Config;

/// The component's name in the daemon's list and in `agent.info`.
pub const NAME: &str = "reagent";

struct Reagent {
    flock: flock::Flock,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// The allowlist's parameter order, when exec is on.
    order: Option<words::ParamOrder>,
    commands: system::Commands,
    heartbeat: Duration,
    /// The container engine, from the containers component (registered before this one).
    engine: Option<stats::Engine>,
    /// `reagent.app_backoff_ms`.
    app_backoff_ms: u64,
    /// `uplink.backoff_*`: the session's reconnect delays.
    reconnect: crate::uplink::backoff::BackoffConfig,
    /// App state reports given up (`outpost_reagent_app_reports_dropped`).
    reports_dropped: prometheus_client::metrics::counter::Counter,
    /// The apps reconciler's adoption rules, when containers are on.
    adoptions: Option<outpost_containers::apps::Adoptions>,
    log_metrics: logstream::LogMetrics,
    terminal_command: Option<String>,
    terminal_idle: Duration,
    /// The agent's allowlist and audit log, for terminals (from the exec component).
    #[cfg(feature = "containers")]
    exec: Option<outpost_exec::Exec>,
    device_log: Option<std::path::PathBuf>,
}

pub fn build(
    cfg: &mut Config,
    _shared: &crate::components::Shared,
) -> anyhow::Result<Option<Box<dyn Component>>> {
    let Some(path) = cfg.reagent.config.clone() else {
        return Ok(None);
    };
    // `Config::validate` read it already; read again here, as the daemon starts.
    let flock = flock::Flock::read(&path).context("reagent.config")?;
    let tls = if flock.endpoint.starts_with("wss://") {
        Some(crate::uplink::tls::client_config().context("reagent: TLS")?)
    } else {
        None
    };
    let order = match (&cfg.commands, cfg.exec.enabled) {
        (Some(table), true) => Some(words::ParamOrder::of(
            &Allowlist::deserialize(table.clone()).context("commands")?,
        )),
        (None, true) => Some(words::ParamOrder::default()),
        (_, false) => None,
    };
    let r = &cfg.reagent;
    Ok(Some(Box::new(Reagent {
        flock,
        tls,
        order,
        commands: system::Commands {
            reboot: r.reboot_command.clone(),
            shutdown: r.shutdown_command.clone(),
            restart_agent: r.restart_agent_command.clone(),
        },
        heartbeat: r
            .heartbeat_ms
            .map_or(session::HEARTBEAT, Duration::from_millis),
        engine: None,
        app_backoff_ms: r.app_backoff_ms.unwrap_or(apps::BACKOFF_MS),
        reconnect: crate::uplink::Tuning::from_config(&cfg.uplink).backoff,
        adoptions: None,
        reports_dropped: Default::default(),
        log_metrics: logstream::LogMetrics::default(),
        terminal_command: r.terminal_command.clone(),
        terminal_idle: r
            .terminal_idle_ms
            .map_or(terminal::IDLE, Duration::from_millis),
        #[cfg(feature = "containers")]
        exec: None,
        device_log: r.device_log_file.clone(),
    })))
}

impl Component for Reagent {
    fn register(&mut self, _r: &mut Registrar<'_>) -> anyhow::Result<()> {
        _r.metrics.register(
            app_reports::DROPPED_METRIC,
            "Reagent app states given up before update_app_on_device took them (queue full, or every attempt failed)",
            self.reports_dropped.clone(),
        );
        self.log_metrics.register(_r.metrics);
        #[cfg(feature = "containers")]
        {
            self.exec = _r
                .common::<crate::components::exec::SharedExec>(|_| {
                    crate::components::exec::SharedExec(None)
                })
                .0;
            let shared = _r.common::<crate::components::containers::SharedEngine>(|_| {
                crate::components::containers::SharedEngine(None)
            });
            self.engine = shared
                .0
                .map(|(engine, disk)| stats::Engine { engine, disk });
            self.adoptions = _r
                .common::<crate::components::containers::SharedAdoptions>(|_| {
                    crate::components::containers::SharedAdoptions(None)
                })
                .0;
        }
        Ok(())
    }

    fn start(self: Box<Self>, cx: &mut Start<'_>) -> anyhow::Result<()> {
        // Apps (only with the engine): the kept requests, the driver, the outbox observer.
        let (reports_tx, reports_rx) = tokio::sync::mpsc::channel(app_reports::MAX_QUEUED);
        let apps = self.engine.as_ref().map(|_| {
            let f = &self.flock;
            let device = apps::DeviceInfo {
                serial: f.serial.clone(),
                swarm_key: f.swarm_key,
                device_key: f.device_key,
                name: f.name.clone().unwrap_or_default(),
                endpoint: f.endpoint.clone(),
                arch: session::go_arch().to_owned(),
                backoff_ms: self.app_backoff_ms,
                ..Default::default()
            }
            .with_flock_text(&std::fs::read(&f.path).unwrap_or_default());
            let driver = Arc::new(app_driver::AppDriver::new(
                cx.dispatcher.clone(),
                device,
                self.adoptions.clone(),
                cx.shared.data_dir.clone(),
                reports_tx,
                self.reports_dropped.clone(),
            ));
            cx.spawn(app_reports::observe(
                cx.shared.store.clone(),
                driver.clone(),
                cx.stop_token(),
            ));
            cx.spawn(driver.clone().resume());
            driver
        });
        let w = Arc::new(client::Wire {
            apps,
            reports: tokio::sync::Mutex::new((
                reports_rx,
                app_reports::ReportQueue::new(self.reports_dropped.clone()),
            )),
            flock: self.flock,
            tls: self.tls,
            dispatcher: cx.dispatcher.clone(),
            exec: self.order.map(Arc::new),
            host: cx.shared.host.clone(),
            engine: self.engine,
            commands: self.commands,
            heartbeat: self.heartbeat,
            reconnect: self.reconnect,
            log_metrics: self.log_metrics,
            terminals: terminal::Settings {
                command: self.terminal_command,
                idle: self.terminal_idle,
                #[cfg(feature = "containers")]
                exec: self.exec,
                store: cx.shared.store.clone(),
            },
            device_log: self.device_log,
        });
        tracing::info!(
            url = %w.flock.endpoint,
            authid = %w.flock.authid(),
            serial = %w.flock.serial,
            "reagent: Reagent's WAMP session is on"
        );
        cx.spawn(client::run(w, cx.stop_token()));
        Ok(())
    }
}
