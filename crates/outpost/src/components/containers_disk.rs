//! The disk guard's side in the agent (issue 15 §4), over `outpost_containers::disk`:
//! checked when a pull starts and, while the engine is connected, every
//! `containers.disk_guard_interval_secs` (a long timer; an agent with no container use never
//! opens the engine's socket for it). When the engine's data root becomes low: a
//! `containers.disk_low` event in the outbox, and a prune of what Outpost owns (stopped
//! containers labelled `outpost.app`, dangling images). While low, `image.pull` is refused
//! with `disk_full`.

use std::time::{Duration, Instant};

use outpost_containers::disk::{DiskCheck, DiskGuard};
use outpost_containers::Engine;
use outpost_core::{Event, ExecError, Store};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// Event kind when the data root becomes low.
pub const DISK_LOW_EVENT: &str = "containers.disk_low";

/// What a timed check may take at most.
const CHECK_BUDGET: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct DiskWatch {
    pub guard: DiskGuard,
    pub engine: Engine,
    pub store: Store,
    pub interval: Duration,
}

impl DiskWatch {
    /// The watch `containers.disk_guard_*` asks for; `None` when the guard is off (0).
    pub fn from_config(
        c: &crate::config::ContainersSection,
        engine: &Engine,
        store: &Store,
    ) -> Option<Self> {
        (c.disk_guard_pct > 0).then(|| DiskWatch {
            guard: DiskGuard::new(c.disk_guard_pct as f64),
            engine: engine.clone(),
            store: store.clone(),
            interval: Duration::from_secs(c.disk_guard_interval_secs),
        })
    }

    /// One look: on becoming low, the event and the prune.
    pub async fn check(&self, deadline: Instant) -> Option<DiskCheck> {
        let c = match self.guard.check(&self.engine, deadline).await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "containers: disk guard could not measure the data root");
                return None;
            }
        };
        if c.became_low {
            tracing::warn!(root = %c.root, free_pct = c.free_pct, threshold_pct = c.threshold_pct,
                "containers: the engine's data root is low on space; pulls are refused, pruning");
            let pruned = match self.engine.prune_owned(deadline).await {
                Ok(p) => json!(p),
                Err(e) => json!({"error": {"code": e.code(), "message": e.to_string()}}),
            };
            let ev = Event::new(
                DISK_LOW_EVENT,
                json!({"root": c.root, "free_pct": c.free_pct,
                       "threshold_pct": c.threshold_pct, "pruned": pruned}),
            );
            if let Err(e) = self.store.append_events(vec![ev]).await {
                tracing::error!(error = %e, "containers: storing the disk_low event failed");
            }
        }
        Some(c)
    }

    /// Before a pull: measured now; refused with `disk_full` while low. A guard that cannot
    /// measure does not refuse (the pull's own errors stand).
    pub async fn admit_pull(&self, deadline: Instant) -> Result<(), ExecError> {
        match self.check(deadline).await {
            Some(c) if c.low => Err(ExecError::new(
                "disk_full",
                format!(
                    "{:.1}% free on the engine's data root {}, below containers.disk_guard_pct ({}%): pulls are refused until space returns",
                    c.free_pct, c.root, c.threshold_pct
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The long timer: looks only while the engine is connected.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(self.interval) => {}
            }
            if self.engine.connected() {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = self.check(Instant::now() + CHECK_BUDGET) => {}
                }
            }
        }
    }
}
