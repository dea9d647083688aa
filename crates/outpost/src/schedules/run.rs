//! What a due time does: all its runs are accepted in one pass (`accept_scheduled`), then
//! every action of the firing is marked handled in one store step, queued before the jobs'
//! records (so it commits no later than them: a crash between the two loses a run rather
//! than doubling one, as interrupted jobs are never re-run either), then the records are
//! committed together and the jobs start; a task per run waits for its job to end so
//! overlap control knows it is done.

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

/// The timer's sink: hands each firing to a task.
pub(crate) struct Runner(pub(crate) Schedules);

impl Sink for Runner {
    fn fire(&self, actions: Vec<Action>) {
        fire(&self.0, actions);
    }
}

pub(crate) fn fire(s: &Schedules, actions: Vec<Action>) {
    // When the timer handed the firing over, for the debug line that splits a late firing
    // into a late wake-up, a late task and a slow acceptance.
    let fired_at = outpost_schedule::now_ms();
    let s = s.clone();
    tokio::spawn(async move { handle(s, actions, fired_at).await });
}

async fn handle(s: Schedules, actions: Vec<Action>, fired_at: i64) {
    let started_at = outpost_schedule::now_ms();
    let inner = s.inner();
    let dispatcher = inner.dispatcher.get();
    // Every run of this due time is accepted in one pass, each taking its `created_at` as
    // its spec is built, before any of them runs and before anything is sent to the store:
    // a minute's 10,000 jobs are not accepted behind the work of the first ones.
    let mut runs = Vec::new();
    let mut marks = Vec::with_capacity(actions.len());
    let batch = {
        let active = inner.active.lock().unwrap_or_else(|p| p.into_inner());
        let jobs = actions.into_iter().filter_map(|a| match a {
            Action::Run { id, due, through } => {
                marks.push((Arc::clone(&id), through));
                let Some(sched) = active.get(&id) else {
                    // Removed meanwhile: nothing runs, and nothing waits for it.
                    release_later(&s, id);
                    return None;
                };
                let job = &sched.spec.job;
                let spec = JobSpec {
                    id: None,
                    kind: job.kind.clone(),
                    params: job.params.clone(),
                    timeout: Duration::from_millis(
                        job.timeout_ms.unwrap_or(inner.default_timeout_ms),
                    ),
                    source: "schedule".into(),
                };
                let tag = id.to_string();
                runs.push((id, due));
                Some((spec, tag))
            }
            Action::Skip { id, due, why } => {
                marks.push((Arc::clone(&id), due));
                inner.figures.skipped.inc();
                tracing::debug!(schedule = %id, due, why = why.as_str(), "schedule: due time skipped");
                None
            }
        });
        match dispatcher {
            Some(d) => Some(d.accept_scheduled(jobs)),
            None => {
                jobs.for_each(drop);
                None
            }
        }
    };
    if tracing::enabled!(tracing::Level::DEBUG) {
        if let Some(due) = runs.iter().map(|(_, due)| *due).min() {
            let accepted_at = outpost_schedule::now_ms();
            tracing::debug!(
                runs = runs.len(),
                timer_late_ms = fired_at - due,
                task_late_ms = started_at - due,
                accepted_late_ms = accepted_at - due,
                "schedules: firing accepted"
            );
        }
    }
    // Queued ahead of the jobs' own records, so it commits no later than any of them;
    // not waited for, so a due time's jobs are recorded without a commit in between.
    let marks = marks
        .into_iter()
        .map(|(id, through)| (id.to_string(), through))
        .collect();
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
    let Some(batch) = batch else {
        // Not started: nothing runs.
        for (id, _) in runs {
            release(&s, &id);
        }
        return;
    };
    let results = batch.commit().await;
    for ((id, due), res) in runs.into_iter().zip(results) {
        match res {
            Ok(mut submitted) => {
                inner.figures.submitted.inc();
                tracing::debug!(schedule = %id, due, job = %submitted.id, "schedule: job submitted");
                let s = s.clone();
                tokio::spawn(async move {
                    // Ends when the result is stored, or when the dispatcher is gone
                    // (shutdown); overlap control then knows the run is over.
                    let _ = submitted.done.wait_for(|d| d.is_some()).await;
                    release(&s, &id);
                });
            }
            Err(e) => {
                inner.figures.refused.inc();
                tracing::warn!(schedule = %id, due, code = e.code(), error = %e, "schedule: job refused");
                release(&s, &id);
            }
        }
    }
}

/// [`release`] from outside the `active` lock (release may fire a queued run, which takes it).
fn release_later(s: &Schedules, id: Arc<str>) {
    let s = s.clone();
    tokio::spawn(async move { release(&s, &id) });
}

/// The job of `id` ended: a run queued behind it (`overlap = "queue_one"`) goes now.
fn release(s: &Schedules, id: &str) {
    if let Some(next) = s.inner().timer.quiet(|t| t.finished(id)) {
        fire(s, vec![next]);
    }
}
