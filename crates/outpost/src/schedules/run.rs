//! What a due time does: the timer hands it over 500 ms ahead (`FIRING_LEAD`); every action
//! of the firing is marked handled (queued first, so the mark commits no later than any
//! record), all its runs are accepted in one pass (`accept_scheduled`: checked, prepared, a
//! queue slot each) and recorded in one store step (state `queued`, their `created_at` the
//! time they were accepted), and at the due time they start. A crash between the mark and
//! the start loses a run rather than doubling one: its recorded jobs are `interrupted` at
//! the next start, and interrupted jobs are never re-run. A task per run waits for its job
//! to end so overlap control knows it is done.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use futures_util::{stream::FuturesUnordered, StreamExt};

use outpost_core::{
    dispatcher::{AcceptedBatch, Submitted},
    JobSpec, SubmitError,
};
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
    // The timer hands a due time over ahead of it (its lead): every run is checked,
    // prepared and given its queue slot now, and only stamped, recorded and started at its
    // `at`. So a minute's 10,000 jobs start together at the minute, not spread over the
    // time it takes to accept them. Runs are grouped by `at` (jitter spreads them).
    let mut marks = Vec::with_capacity(actions.len());
    let mut groups: BTreeMap<i64, Vec<(Arc<str>, i64)>> = BTreeMap::new();
    for a in actions {
        match a {
            Action::Run {
                id,
                due,
                through,
                at,
            } => {
                marks.push((Arc::clone(&id), through));
                groups.entry(at).or_default().push((id, due));
            }
            Action::Skip { id, due, why } => {
                inner.figures.skipped.inc();
                tracing::debug!(schedule = %id, due, why = why.as_str(), "schedule: due time skipped");
                marks.push((id, due));
            }
        }
    }
    // Every action's mark first: queued ahead of the records, it commits no later than
    // any of them (a crash may lose a run, never doubles one).
    queue_marks(&s, marks).await;
    let mut staged = Vec::with_capacity(groups.len());
    for (at, runs) in groups {
        let (runs, batch) = accept(&s, runs);
        let Some(batch) = batch else {
            // Not started: nothing runs.
            for (id, _) in runs {
                release(&s, &id);
            }
            continue;
        };
        let committing = outpost_schedule::now_ms();
        let recorded = batch.record().await;
        tracing::debug!(
            runs = runs.len(),
            commit_ms = outpost_schedule::now_ms() - committing,
            "schedules: firing recorded"
        );
        // Spawned now, held until `at`: opening the gate starts them all at once.
        let (open, gate) = tokio::sync::watch::channel(false);
        let due = runs.iter().map(|(_, due)| *due).min();
        watch_runs(&s, runs, recorded.start_when(gate));
        staged.push((at, due, open));
    }
    for (at, due, open) in staged {
        release_at(at).await;
        let _ = open.send(true);
        if let Some(due) = due {
            tracing::debug!(
                timer_late_ms = fired_at - due,
                task_late_ms = started_at - due,
                released_late_ms = outpost_schedule::now_ms() - due,
                "schedules: firing released"
            );
        }
    }
}

/// Checks, prepares and takes a queue slot for each of `runs`, in one pass under the
/// schedules' lock. Returns the runs accepted (in the batch's order) and the batch; `None`
/// before the dispatcher started.
fn accept(
    s: &Schedules,
    runs: Vec<(Arc<str>, i64)>,
) -> (Vec<(Arc<str>, i64)>, Option<AcceptedBatch>) {
    let inner = s.inner();
    let dispatcher = inner.dispatcher.get();
    let mut kept = Vec::with_capacity(runs.len());
    let active = inner.active.lock().unwrap_or_else(|p| p.into_inner());
    let jobs = runs.into_iter().filter_map(|(id, due)| {
        let Some(sched) = active.get(&id) else {
            // Removed meanwhile: nothing runs, and nothing waits for it.
            release_later(s, id);
            return None;
        };
        let job = &sched.spec.job;
        let spec = JobSpec {
            id: None,
            kind: job.kind.clone(),
            params: job.params.clone(),
            timeout: Duration::from_millis(job.timeout_ms.unwrap_or(inner.default_timeout_ms)),
            source: "schedule".into(),
        };
        let tag = id.to_string();
        kept.push((id, due));
        Some((spec, tag))
    });
    let batch = match dispatcher {
        Some(d) => Some(d.accept_scheduled(jobs)),
        None => {
            jobs.for_each(drop);
            None
        }
    };
    drop(active);
    (kept, batch)
}

/// Waits until the wall clock reaches `at` (Unix ms); never returns before it.
async fn release_at(at: i64) {
    loop {
        let now = outpost_schedule::now_ms();
        if now >= at {
            return;
        }
        tokio::time::sleep(Duration::from_millis((at - now) as u64)).await;
    }
}

/// Marks every action of the firing handled, queued ahead of the jobs' own records so it
/// commits no later than any of them; not waited for, so a due time's jobs are recorded
/// without a commit in between.
async fn queue_marks(s: &Schedules, marks: Vec<(Arc<str>, i64)>) {
    let marks = marks
        .into_iter()
        .map(|(id, through)| (id.to_string(), through))
        .collect();
    match s.inner().store.queue_schedule_marks(marks).await {
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
}

/// One task per firing waits for its started runs to end, so overlap control knows each is
/// done (one task, not one per run: 10,000 spawns at the due time would delay the jobs'
/// own start); a refused run is over at once.
fn watch_runs(
    s: &Schedules,
    runs: Vec<(Arc<str>, i64)>,
    results: Vec<Result<Submitted, SubmitError>>,
) {
    let inner = s.inner();
    let mut waiting = FuturesUnordered::new();
    for ((id, due), res) in runs.into_iter().zip(results) {
        match res {
            Ok(mut submitted) => {
                inner.figures.submitted.inc();
                tracing::debug!(schedule = %id, due, job = %submitted.id, "schedule: job submitted");
                waiting.push(async move {
                    // Ends when the result is stored, or when the dispatcher is gone
                    // (shutdown); overlap control then knows the run is over.
                    let _ = submitted.done.wait_for(|d| d.is_some()).await;
                    id
                });
            }
            Err(e) => {
                inner.figures.refused.inc();
                tracing::warn!(schedule = %id, due, code = e.code(), error = %e, "schedule: job refused");
                release(s, &id);
            }
        }
    }
    if waiting.is_empty() {
        return;
    }
    let s = s.clone();
    tokio::spawn(async move {
        while let Some(id) = waiting.next().await {
            release(&s, &id);
        }
    });
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
