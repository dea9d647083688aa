//! The container engine (`containers.*`, issue 15): registers the `container.*` and
//! `image.*` kinds over one lazily connected engine handle. No task, no socket at start:
//! the first container job connects. Registered after `exec`, whose allowlist and audit
//! log `container.exec` uses.

use outpost_containers::Engine;

use crate::config::Config;
use crate::executors::containers::{self, ContainerMetrics, Containers};

use super::{exec::SharedExec, Component, Registrar, Shared};

pub const NAME: &str = "containers";

struct ContainersComponent {
    engine: Engine,
    logs_max_lines: usize,
    logs_max_lines_per_sec: u32,
    metrics: super::containers_metrics::Options,
}

pub fn build(cfg: &mut Config, _shared: &Shared) -> anyhow::Result<Option<Box<dyn Component>>> {
    let c = &cfg.containers;
    if !c.enabled {
        return Ok(None);
    }
    let settings = c.engine_settings();
    tracing::debug!(socket = %settings.socket, "containers: on; the engine is connected on the first container job");
    Ok(Some(Box::new(ContainersComponent {
        engine: Engine::new(settings),
        logs_max_lines: usize::try_from(c.logs_max_lines).unwrap_or(usize::MAX),
        logs_max_lines_per_sec: u32::try_from(c.logs_max_lines_per_sec).unwrap_or(u32::MAX),
        metrics: super::containers_metrics::Options::from_config(c),
    })))
}

impl Component for ContainersComponent {
    fn register(&mut self, r: &mut Registrar<'_>) -> anyhow::Result<()> {
        let exec = r.common::<SharedExec>(|_| SharedExec(None)).0;
        let metrics = ContainerMetrics::default();
        metrics.register(r.metrics);
        super::containers_metrics::register(r, &self.engine, self.metrics.clone());
        containers::register(
            r.kinds,
            Containers {
                engine: self.engine.clone(),
                store: r.shared.store.clone(),
                exec,
                logs_max_lines: self.logs_max_lines,
                logs_max_lines_per_sec: self.logs_max_lines_per_sec,
                metrics,
            },
        );
        Ok(())
    }
}
