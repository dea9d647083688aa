//! The container engine (`containers.*`, issue 15): registers the `container.*` and
//! `image.*` kinds over one lazily connected engine handle. No task, no socket at start:
//! the first container job connects. Registered after `exec`, whose allowlist and audit
//! log `container.exec` uses.

use outpost_containers::Engine;

use crate::config::Config;
use crate::executors::containers::{self, ContainerMetrics, Containers};

use super::{exec::SharedExec, Component, Registrar, Shared, Start};

pub const NAME: &str = "containers";

struct ContainersComponent {
    engine: Engine,
    logs_max_lines: usize,
    logs_max_lines_per_sec: u32,
    metrics: super::containers_metrics::Options,
    disk: Option<super::containers_disk::DiskWatch>,
}

pub fn build(cfg: &mut Config, shared: &Shared) -> anyhow::Result<Option<Box<dyn Component>>> {
    let c = &cfg.containers;
    if !c.enabled {
        return Ok(None);
    }
    let settings = c.engine_settings();
    tracing::debug!(socket = %settings.socket, "containers: on; the engine is connected on the first container job");
    let engine = Engine::new(settings);
    let disk = super::containers_disk::DiskWatch::from_config(c, &engine, &shared.store);
    Ok(Some(Box::new(ContainersComponent {
        engine,
        logs_max_lines: usize::try_from(c.logs_max_lines).unwrap_or(usize::MAX),
        logs_max_lines_per_sec: u32::try_from(c.logs_max_lines_per_sec).unwrap_or(u32::MAX),
        metrics: super::containers_metrics::Options::from_config(c),
        disk,
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
                disk: self.disk.clone(),
            },
        );
        Ok(())
    }

    fn start(self: Box<Self>, cx: &mut Start<'_>) -> anyhow::Result<()> {
        if let Some(disk) = self.disk {
            cx.spawn(disk.run(cx.stop_token()));
        }
        Ok(())
    }
}
