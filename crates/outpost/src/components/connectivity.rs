//! The connectivity monitor (`connectivity.*`, issue 14), off unless `connectivity.enabled`:
//! one task probing the uplink on a period (`outpost-connectivity`'s `Monitor`), `GET
//! /v1/connectivity`, its `/metrics` figures, `connectivity` events, and recovery steps run
//! through the agent's `Exec`.
//!
//! Steps run through the shared `Exec`, not as `exec` jobs through the dispatcher: the
//! monitor writes audit lines of its own (skipped steps) into the same hash chain, which
//! only the `Exec`'s log can do; and a recovery step must not wait behind, or be refused
//! by, a full job queue during the very outage it is meant to repair.
//! Stops with the intake: no step starts once the agent is stopping.
//!
//! The HTTPS probe verifies with the agent's one `TlsConfigs` (`probes::SharedTls`, the
//! `check.*` kinds' own), so the probes are made when the component registers.

use anyhow::Context;
use outpost_connectivity::{Monitor, RebootStamp, SystemClocks};

use super::{exec::SharedExec, probes::SharedTls, Component, Registrar, Shared, Start};
use crate::config::{Config, Targets};
use crate::connectivity::link::{Link, SharedMonitor};
use crate::connectivity::{api, effects::AgentEffects, metrics, probes};
use std::sync::Arc;

pub const NAME: &str = "connectivity";

struct ConnectivityComponent {
    monitor: Monitor<SystemClocks>,
    targets: Targets,
    /// Made in `register`, from `targets`, in the order of `probes::kinds`.
    probes: Vec<Box<dyn outpost_connectivity::Probe>>,
    exec: Option<outpost_exec::Exec>,
}

pub fn build(cfg: &mut Config, shared: &Shared) -> anyhow::Result<Option<Box<dyn Component>>> {
    let c = &cfg.connectivity;
    if !c.enabled {
        return Ok(None);
    }
    let targets = c.targets().context("connectivity")?;
    let settings = c.settings();
    let kinds = probes::kinds(&targets);
    let clocks = SystemClocks;
    let stamp = RebootStamp::load(
        shared.data_dir.join("connectivity").join("reboot.stamp"),
        outpost_connectivity::Clocks::wall(&clocks),
    );
    if let Some(note) = stamp.loaded().note() {
        tracing::warn!(path = %stamp.path().display(), "connectivity: {note}");
    }
    tracing::info!(
        probes = ?kinds,
        period_ms = c.period_ms,
        steps = ?settings.recovery.steps,
        dry_run = settings.recovery.dry_run,
        "connectivity: on"
    );
    let monitor = Monitor::new(settings, &kinds, stamp, clocks);
    Ok(Some(Box::new(ConnectivityComponent {
        monitor,
        targets,
        probes: Vec::new(),
        exec: None,
    })))
}

impl Component for ConnectivityComponent {
    fn register(&mut self, r: &mut Registrar<'_>) -> anyhow::Result<()> {
        self.exec = r.common::<SharedExec>(|_| SharedExec(None)).0;
        let tls = r.common(SharedTls::new).0;
        self.probes = probes::build(&self.targets, tls.clone());
        let status = self.monitor.status();
        let link = Link {
            status: status.clone(),
            urgent: self.monitor.urgent(),
            probes: Arc::new(probes::build(&self.targets, tls)),
        };
        r.set_common(SharedMonitor(Some(link)));
        r.metrics
            .register_collector(Box::new(metrics::Collector(status.clone())));
        r.routes.push(api::route(status));
        Ok(())
    }

    fn start(self: Box<Self>, cx: &mut Start<'_>) -> anyhow::Result<()> {
        let stop = cx.stop_token();
        let effects = AgentEffects {
            store: cx.shared.store.clone(),
            exec: self.exec,
            stop: stop.clone(),
        };
        let (monitor, probes) = (self.monitor, self.probes);
        cx.spawn(async move {
            monitor.run(probes, &effects, stop.cancelled_owned()).await;
        });
        Ok(())
    }
}
