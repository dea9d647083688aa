//! What a due time does: every action of one firing is marked handled in one store step,
//! queued before any job is submitted (so it commits no later than their records: a crash
//! between the two loses a run rather than doubling one, as interrupted jobs are never
//! re-run either), then each run is submitted on a task of its own, which waits for the job
//! to end so overlap control knows it is done.

use std::{sync::Arc, time::Duration};

use outpost_core::JobSpec;
use outpost_schedule::{Action, Sink};
use prometheus_client::{
    metrics::{counter::Counter, gauge::Gauge},
    registry::Registry,
};

use super::Schedules;

/// The schedules' figures on `/metrics`.
#[derive(Debug, Default, Clone)]
pub struct Figures {
    /// Due times that submitted their job.
    pub submitted: Counter,
    /// Due times skipped by the overlap policy or a pause.
    pub skipped: Counter,
    /// Due times whose job the dispatcher refused (busy, shutting down, a kind gone).
    pub refused: Counter,
    /// Schedules loaded and running.
    pub schedules: Gauge,
}

impl Figures {
    pub fn register(&self, reg: &mut Registry) {
        reg.register(
            "outpost_schedule_runs_submitted",
            "Due times that submitted their schedule's job",
            self.submitted.clone(),
        );
        reg.register(
            "outpost_schedule_runs_skipped",
            "Due times skipped by the overlap policy or a pause",
            self.skipped.clone(),
        );
        reg.register(
            "outpost_schedule_runs_refused",
            "Due times whose job the dispatcher refused (busy, shutting down, kind gone)",
            self.refused.clone(),
        );
        reg.register(
            "outpost_schedules",
            "Schedules loaded and running",
            self.schedules.clone(),
        );
    }
}

/// Submissions spawned between yields.
const SPAWN_SLICE: usize = 128;

/// The timer's sink: hands each firing to a task.
pub(crate) struct Runner(pub(crate) Schedules);

impl Sink for Runner {
    fn fire(&self, actions: Vec<Action>) {
        fire(&self.0, actions);
    }
}

pub(crate) fn fire(s: &Schedules, actions: Vec<Action>) {
    let s = s.clone();
    tokio::spawn(async move { handle(s, actions).await });
}

async fn handle(s: Schedules, actions: Vec<Action>) {
    let inner = s.inner();
    let marks = actions
        .iter()
        .map(|a| {
            let through = match a {
                Action::Run { through, .. } => *through,
                Action::Skip { due, .. } => *due,
            };
            (a.id().to_string(), through)
        })
        .collect();
    // Queued ahead of the jobs' own records, so it commits no later than any of them;
    // not waited for, so a due time's jobs are accepted without a commit in between.
    match inner.store.queue_schedule_marks(marks).await {
        Ok(committed) => {
            tokio::spawn(async move {
                if let Err(e) = committed.await {
                    tracing::warn!(error = %e, "schedules: recording handled due times failed");
                }
            });
        }
        // Run anyway: a store that cannot take this mark will not take the jobs either,
        // and each refusal is logged there.
        Err(e) => tracing::warn!(error = %e, "schedules: recording handled due times failed"),
    }
    for (i, a) in actions.into_iter().enumerate() {
        // A minute's 10,000 jobs: the first are accepted while the rest are spawned, not
        // after (a task spawned here runs only once this one yields, unless stolen).
        if i % SPAWN_SLICE == SPAWN_SLICE - 1 {
            tokio::task::yield_now().await;
        }
        match a {
            Action::Run { id, due, .. } => {
                let s = s.clone();
                tokio::spawn(async move { submit(s, id, due).await });
            }
            Action::Skip { id, due, why } => {
                inner.figures.skipped.inc();
                tracing::debug!(schedule = %id, due, why = why.as_str(), "schedule: due time skipped");
            }
        }
    }
}

async fn submit(s: Schedules, id: Arc<str>, due: i64) {
    let inner = s.inner();
    let active = inner
        .active
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&id)
        .cloned();
    let (Some(active), Some(dispatcher)) = (active, inner.dispatcher.get()) else {
        // Removed meanwhile (or not started): nothing runs, and nothing waits for it.
        release(&s, &id);
        return;
    };
    let job = &active.spec.job;
    let spec = JobSpec {
        id: None,
        kind: job.kind.clone(),
        params: job.params.clone(),
        timeout: Duration::from_millis(job.timeout_ms.unwrap_or(inner.default_timeout_ms)),
        source: "schedule".into(),
    };
    drop(active);
    match dispatcher.submit_scheduled(spec, id.to_string()).await {
        Ok(mut submitted) => {
            inner.figures.submitted.inc();
            tracing::debug!(schedule = %id, due, job = %submitted.id, "schedule: job submitted");
            // Ends when the result is stored, or when the dispatcher is gone (shutdown).
            let _ = submitted.done.wait_for(|d| d.is_some()).await;
        }
        Err(e) => {
            inner.figures.refused.inc();
            tracing::warn!(schedule = %id, due, code = e.code(), error = %e, "schedule: job refused");
        }
    }
    release(&s, &id);
}

/// The job of `id` ended: a run queued behind it (`overlap = "queue_one"`) goes now.
fn release(s: &Schedules, id: &str) {
    if let Some(next) = s.inner().timer.quiet(|t| t.finished(id)) {
        fire(s, vec![next]);
    }
}
