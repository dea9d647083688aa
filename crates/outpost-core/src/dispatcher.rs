//! Runs accepted jobs on their executors: bounded, with deadlines, cancellable.
//!
//! Every accepted job holds one of `queue_capacity` slots from acceptance until its result
//! is in the store, so the number of jobs in memory can never exceed the capacity; a job
//! that finds no slot is refused as busy, never queued without bound.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use tokio::sync::{watch, Semaphore};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    clock::now_ms,
    executor::{ExecError, JobContext, ParamError, Prepared, Registry},
    job::{JobError, JobId, JobRecord, JobSpec, JobState},
    json::RawJson,
    metrics::CoreMetrics,
    store::{Store, StoreError},
};

#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Jobs accepted and not yet finished, at most. Beyond it, submissions are `busy`.
    pub queue_capacity: usize,
    /// The longest timeout a job may ask for; protects slots from being held for days.
    pub max_timeout: Duration,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            queue_capacity: 1024,
            max_timeout: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("unknown job kind {kind:?}; this agent serves: {}", known.join(", "))]
    UnknownKind {
        kind: String,
        known: Vec<&'static str>,
    },
    #[error(transparent)]
    BadParams(#[from] ParamError),
    #[error("timeout_ms must be between 1 and {max_ms}")]
    BadTimeout { max_ms: u64 },
    #[error("busy: {capacity} jobs are already queued or running; retry later")]
    Busy { capacity: usize },
    #[error("shutting down: no new jobs are accepted")]
    ShuttingDown,
    #[error("job {0} was already accepted; it is not run twice")]
    Duplicate(JobId),
    #[error(transparent)]
    Store(StoreError),
}

impl SubmitError {
    /// `kind` is not served. The error text quotes it, so it is cut to 64 characters: a
    /// peer's 100 KB kind must not come back whole (issue 10).
    pub fn unknown_kind(kind: &str, known: Vec<&'static str>) -> SubmitError {
        SubmitError::UnknownKind {
            kind: kind.chars().take(64).collect(),
            known,
        }
    }
}

impl From<StoreError> for SubmitError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Duplicate(id) => SubmitError::Duplicate(id),
            e => SubmitError::Store(e),
        }
    }
}

impl SubmitError {
    /// The metric label and API error code.
    pub fn code(&self) -> &'static str {
        match self {
            SubmitError::UnknownKind { .. } => "unknown_kind",
            SubmitError::BadParams(_) => "bad_params",
            SubmitError::BadTimeout { .. } => "bad_timeout",
            SubmitError::Busy { .. } => "busy",
            SubmitError::ShuttingDown => "shutting_down",
            SubmitError::Duplicate(_) => "duplicate",
            SubmitError::Store(_) => "store",
        }
    }

    /// Every code [`SubmitError::code`] returns (`duplicate` never reaches a peer: a
    /// redelivered job is accepted silently).
    pub const CODES: &'static [&'static str] = &[
        "unknown_kind",
        "bad_params",
        "bad_timeout",
        "busy",
        "shutting_down",
        "duplicate",
        "store",
    ];
}

/// A log field cut to a readable length: error texts can quote input (an unknown kind).
fn bounded_text(text: &str) -> &str {
    let mut end = text.len().min(300);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The outcome of a cancel request.
#[derive(Debug, Clone, PartialEq)]
pub enum Cancel {
    /// The job was queued or running; it is now cancelled (or about to be).
    Requested,
    /// The job had already finished with this record.
    AlreadyFinished(Box<JobRecord>),
    NotFound,
}

/// What a drain achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Jobs still queued or running when the grace period ended; they were interrupted.
    pub interrupted: usize,
}

/// Accepted job, as the submitter sees it.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub id: JobId,
    /// Becomes `Some` once the result is in the store.
    pub done: watch::Receiver<Option<Arc<JobRecord>>>,
}

struct Active {
    /// The record as accepted; state and start time are overlaid from the fields below.
    record: JobRecord,
    started_at: Option<i64>,
    cancel: CancellationToken,
    done: watch::Receiver<Option<Arc<JobRecord>>>,
}

struct Inner {
    registry: Registry,
    /// Per-kind concurrency limits.
    slots: foldhash::HashMap<&'static str, Arc<Semaphore>>,
    store: Store,
    metrics: CoreMetrics,
    config: DispatcherConfig,
    /// Accepted, unfinished jobs; bounded by `config.queue_capacity`.
    pending: AtomicUsize,
    accepting: AtomicBool,
    active: Mutex<foldhash::HashMap<JobId, Active>>,
    tasks: TaskTracker,
    /// Parent of every job's token; fired when the shutdown grace period runs out.
    stop_all: CancellationToken,
}

/// A cloneable handle to the dispatcher.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

/// Holds one queue slot; gives it back however the job's task ends.
struct Slot(Arc<Inner>);

/// Jobs accepted together by [`Dispatcher::accept_scheduled`], not yet recorded.
pub struct AcceptedBatch {
    dispatcher: Dispatcher,
    /// One per job asked for, in order; the accepted ones' records are in `records`.
    results: Vec<Result<Accepted, SubmitError>>,
    records: Vec<JobRecord>,
}

impl AcceptedBatch {
    /// Jobs accepted (and so to be recorded).
    pub fn accepted(&self) -> usize {
        self.records.len()
    }

    /// Records every accepted job in one store step, then starts them. One result per job
    /// asked for, in order. If the store refuses the step, nothing runs and every accepted
    /// job gets the store's reason.
    pub async fn commit(self) -> Vec<Result<Submitted, SubmitError>> {
        self.record().await.start()
    }

    /// Records every accepted job in one store step (state `queued`) and makes each known
    /// to the dispatcher (listed, cancellable), without starting any: a scheduler records
    /// a due time's jobs ahead of it and starts them at it ([`RecordedBatch::start`]). If
    /// the store refuses the step, every accepted job gets the store's reason.
    pub async fn record(self) -> RecordedBatch {
        let AcceptedBatch {
            dispatcher,
            results,
            records,
        } = self;
        // The records travel to the store and back; the rest of each accepted job waits
        // here, in the same order.
        let results = match dispatcher.inner.store.insert_jobs(records).await {
            Ok(records) => {
                let mut records = records.into_iter();
                results
                    .into_iter()
                    .map(|r| {
                        let a = r?;
                        // One record per accepted job came back, in order.
                        let record = records.next().ok_or_else(|| {
                            SubmitError::Store(StoreError::Corrupt(
                                "a job record was not returned".into(),
                            ))
                        })?;
                        Ok(dispatcher.register(record, a))
                    })
                    .collect()
            }
            Err(e) => {
                // Nothing was recorded, so nothing runs; the slots go back as the
                // `Accepted`s drop.
                let text = e.to_string();
                dispatcher.inner.metrics.reject("store");
                results
                    .into_iter()
                    .map(|r| {
                        r.and_then(|_| Err(SubmitError::Store(StoreError::Commit(text.clone()))))
                    })
                    .collect()
            }
        };
        RecordedBatch {
            dispatcher,
            results,
        }
    }
}

/// Jobs recorded together by [`AcceptedBatch::record`], not yet started.
pub struct RecordedBatch {
    dispatcher: Dispatcher,
    results: Vec<Result<Registered, SubmitError>>,
}

impl RecordedBatch {
    /// Starts every recorded job. One result per job asked for, in order. A job cancelled
    /// meanwhile ends `cancelled` without running.
    pub fn start(self) -> Vec<Result<Submitted, SubmitError>> {
        let RecordedBatch {
            dispatcher,
            results,
        } = self;
        results
            .into_iter()
            .map(|r| r.map(|reg| dispatcher.start(reg, None)))
            .collect()
    }

    /// Spawns every recorded job now, each held until `gate` turns `true` (or its sender is
    /// dropped): a scheduler spawns a due time's 10,000 jobs ahead of it and opens the gate
    /// at it, so they start within milliseconds instead of behind 10,000 spawns. Each
    /// job's `started_at` is taken after the gate. A job cancelled meanwhile ends
    /// `cancelled` without running.
    pub fn start_when(self, gate: watch::Receiver<bool>) -> Vec<Result<Submitted, SubmitError>> {
        let RecordedBatch {
            dispatcher,
            results,
        } = self;
        results
            .into_iter()
            .map(|r| r.map(|reg| dispatcher.start(reg, Some(gate.clone()))))
            .collect()
    }
}

/// A recorded job the dispatcher knows (listed, cancellable) whose run is not spawned yet.
struct Registered {
    record: JobRecord,
    accepted: Accepted,
    cancel: CancellationToken,
    done_tx: watch::Sender<Option<Arc<JobRecord>>>,
    submitted: Submitted,
}

/// A job checked and holding its slot, not yet recorded or started (its record goes to
/// the store meanwhile).
struct Accepted {
    prepared: Prepared,
    slot: Slot,
    timeout: Duration,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::AcqRel);
        self.0.metrics.queue_depth.dec();
    }
}

impl Dispatcher {
    pub fn new(
        registry: Registry,
        store: Store,
        metrics: CoreMetrics,
        config: DispatcherConfig,
    ) -> Self {
        let slots = registry
            .kinds()
            .into_iter()
            .filter_map(|k| {
                let n = registry.get(k)?.concurrency();
                Some((k, Arc::new(Semaphore::new(n))))
            })
            .collect();
        Dispatcher {
            inner: Arc::new(Inner {
                registry,
                slots,
                store,
                metrics,
                config,
                pending: AtomicUsize::new(0),
                accepting: AtomicBool::new(true),
                active: Mutex::new(foldhash::HashMap::default()),
                tasks: TaskTracker::new(),
                stop_all: CancellationToken::new(),
            }),
        }
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        self.inner.registry.kinds()
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Validates, records and starts a job. Returns once the job is in the store.
    pub async fn submit(&self, spec: JobSpec) -> Result<Submitted, SubmitError> {
        self.submit_tagged(spec, None).await
    }

    /// [`submit`](Self::submit) for a job a schedule submitted: its record (and so its
    /// result, wherever it is delivered) names the schedule.
    pub async fn submit_scheduled(
        &self,
        spec: JobSpec,
        schedule: String,
    ) -> Result<Submitted, SubmitError> {
        self.submit_tagged(spec, Some(schedule)).await
    }

    /// The executors' registry: what kinds exist, how their params are checked and
    /// redacted.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    async fn submit_tagged(
        &self,
        spec: JobSpec,
        schedule: Option<String>,
    ) -> Result<Submitted, SubmitError> {
        // Kept only when it will be logged: submission is a hot path.
        let source = tracing::enabled!(tracing::Level::DEBUG).then(|| spec.source.clone());
        let res = self.try_submit(spec, schedule).await;
        if let Err(e) = &res {
            // Params are not logged: they may carry credentials (redaction happens once a
            // job is accepted, by its executor). The error text names the field, bounded.
            tracing::debug!(source = source.as_deref().unwrap_or(""), code = e.code(), error = %bounded_text(&e.to_string()), "job refused");
            self.inner.metrics.reject(e.code());
        }
        res
    }

    async fn try_submit(
        &self,
        spec: JobSpec,
        schedule: Option<String>,
    ) -> Result<Submitted, SubmitError> {
        let (record, accepted) = self.accept(spec, schedule)?;
        self.inner
            .store
            .insert_job_as(record.clone(), self.alone())
            .await?;
        Ok(self.launch(record, accepted))
    }

    /// The first half of submitting one schedule firing's runs, without waiting for
    /// anything: each job is checked and takes its slot and its `created_at` in one pass,
    /// before any of them runs (the scheduler does this just ahead of the due time, records
    /// the batch, and starts it at the due time: [`AcceptedBatch::record`]). Nothing is
    /// recorded or started until then; a batch dropped uncommitted gives its slots back.
    pub fn accept_scheduled(
        &self,
        jobs: impl IntoIterator<Item = (JobSpec, String)>,
    ) -> AcceptedBatch {
        let jobs = jobs.into_iter();
        let mut results: Vec<Result<Accepted, SubmitError>> =
            Vec::with_capacity(jobs.size_hint().0);
        let mut records = Vec::with_capacity(jobs.size_hint().0);
        for (spec, schedule) in jobs {
            let res = self.accept(spec, Some(schedule)).map(|(record, a)| {
                records.push(record);
                a
            });
            if let Err(e) = &res {
                tracing::debug!(source = "schedule", code = e.code(), error = %bounded_text(&e.to_string()), "job refused");
                self.inner.metrics.reject(e.code());
            }
            results.push(res);
        }
        AcceptedBatch {
            dispatcher: self.clone(),
            results,
            records,
        }
    }

    /// Checks a job and takes its queue slot; nothing is recorded or started yet.
    fn accept(
        &self,
        spec: JobSpec,
        schedule: Option<String>,
    ) -> Result<(JobRecord, Accepted), SubmitError> {
        let inner = &self.inner;
        if !inner.accepting.load(Ordering::Acquire) {
            return Err(SubmitError::ShuttingDown);
        }
        let Some(exec) = inner.registry.get(&spec.kind) else {
            return Err(SubmitError::unknown_kind(
                &spec.kind,
                inner.registry.kinds(),
            ));
        };
        let max_ms = inner.config.max_timeout.as_millis() as u64;
        let timeout_ms = spec.timeout.as_millis() as u64;
        if timeout_ms == 0 || timeout_ms > max_ms {
            return Err(SubmitError::BadTimeout { max_ms });
        }
        let prepared = exec.prepare(&spec.params)?;
        let capacity = inner.config.queue_capacity;
        inner
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| {
                (p < capacity).then_some(p + 1)
            })
            .map_err(|_| SubmitError::Busy { capacity })?;
        inner.metrics.queue_depth.inc();
        let slot = Slot(Arc::clone(inner));

        let record = JobRecord {
            id: spec.id.unwrap_or_default(),
            kind: spec.kind,
            params: Some(RawJson::from_value(&exec.redact(&spec.params))).filter(|p| !p.is_null()),
            timeout_ms,
            source: spec.source,
            state: JobState::Queued,
            created_at: now_ms(),
            started_at: None,
            finished_at: None,
            output: None,
            error: None,
            schedule,
        };
        Ok((
            record,
            Accepted {
                prepared,
                slot,
                timeout: spec.timeout,
            },
        ))
    }

    /// Starts a job whose record is in the store.
    fn launch(&self, record: JobRecord, accepted: Accepted) -> Submitted {
        let reg = self.register(record, accepted);
        self.start(reg, None)
    }

    /// Makes a recorded job known (listed as queued, cancellable) before it runs.
    fn register(&self, record: JobRecord, accepted: Accepted) -> Registered {
        let inner = &self.inner;
        tracing::debug!(id = %record.id, kind = %record.kind, source = %record.source, timeout_ms = record.timeout_ms, state = "queued", "job accepted");
        let id = record.id;
        let cancel = inner.stop_all.child_token();
        let (done_tx, done) = watch::channel(None);
        if let Ok(mut active) = inner.active.lock() {
            active.insert(
                id,
                Active {
                    record: record.clone(),
                    started_at: None,
                    cancel: cancel.clone(),
                    done: done.clone(),
                },
            );
        }
        Registered {
            record,
            accepted,
            cancel,
            done_tx,
            submitted: Submitted { id, done },
        }
    }

    /// Spawns a registered job's run, held until `gate` opens when there is one.
    fn start(&self, reg: Registered, gate: Option<watch::Receiver<bool>>) -> Submitted {
        let Registered {
            record,
            accepted,
            cancel,
            done_tx,
            submitted,
        } = reg;
        let Accepted {
            prepared,
            slot,
            timeout,
        } = accepted;
        let this = self.clone();
        self.inner.tasks.spawn(async move {
            if let Some(mut gate) = gate {
                // A cancel while held goes on to `run`, which ends the job `cancelled`.
                tokio::select! {
                    _ = gate.wait_for(|open| *open) => {}
                    _ = cancel.cancelled() => {}
                }
            }
            this.run(record, prepared, cancel, done_tx, timeout).await;
            drop(slot);
        });
        submitted
    }

    async fn run(
        &self,
        mut record: JobRecord,
        prepared: Prepared,
        cancel: CancellationToken,
        done: watch::Sender<Option<Arc<JobRecord>>>,
        timeout: Duration,
    ) {
        let inner = &self.inner;
        // Slots are built from the registry's kinds, so every accepted job has one; were it
        // ever missing, the job must still end with its one result, never silently.
        let sem = inner.slots.get(record.kind.as_str()).cloned();
        let permit = match &sem {
            None => None,
            Some(sem) => tokio::select! {
                p = Arc::clone(sem).acquire_owned() => p.ok(),
                _ = cancel.cancelled() => None,
            },
        };
        let outcome = match (sem.is_some(), permit) {
            (false, _) => Err((
                JobState::Failed,
                ExecError::new(
                    "internal",
                    format!("no concurrency slot for kind {:?}", record.kind),
                ),
            )),
            (true, None) => Err(self.stopped_reason()),
            (true, Some(permit)) => {
                let started = now_ms();
                record.started_at = Some(started);
                if let Ok(mut active) = inner.active.lock() {
                    if let Some(a) = active.get_mut(&record.id) {
                        a.started_at = Some(started);
                    }
                }
                inner.metrics.jobs_running.inc();
                let cx = JobContext {
                    id: record.id,
                    source: record.source.clone(),
                    deadline: Instant::now() + timeout,
                    cancel: cancel.clone(),
                };
                let out = tokio::select! {
                    r = tokio::time::timeout(timeout, prepared(cx)) => match r {
                        Ok(Ok(v)) => Ok(v),
                        Ok(Err(e)) => Err((JobState::Failed, e)),
                        Err(_) => Err((
                            JobState::TimedOut,
                            ExecError::new("timeout", format!("no result within {} ms", timeout.as_millis())),
                        )),
                    },
                    _ = cancel.cancelled() => Err(self.stopped_reason()),
                };
                inner.metrics.jobs_running.dec();
                drop(permit);
                out
            }
        };
        record.finished_at = Some(now_ms());
        match outcome {
            Ok(v) => {
                record.state = JobState::Succeeded;
                record.output = Some(v);
            }
            Err((state, e)) => {
                record.state = state;
                record.error = Some(JobError {
                    code: e.code,
                    message: e.message,
                });
            }
        }
        self.persist(record, done).await;
    }

    /// Whether the job asking is the only one accepted and unfinished (its slot counts
    /// until its result is stored): then its store writes may skip the store thread.
    fn alone(&self) -> bool {
        self.inner.pending.load(Ordering::Acquire) <= 1
    }

    fn stopped_reason(&self) -> (JobState, ExecError) {
        if self.inner.stop_all.is_cancelled() {
            (
                JobState::Interrupted,
                ExecError::new(
                    "interrupted",
                    "the agent shut down before this job finished",
                ),
            )
        } else {
            (
                JobState::Cancelled,
                ExecError::new("cancelled", "cancelled on request"),
            )
        }
    }

    /// Stores the result, then (and only then) tells waiters and frees the job's place.
    async fn persist(&self, record: JobRecord, done: watch::Sender<Option<Arc<JobRecord>>>) {
        let inner = &self.inner;
        let record = Arc::new(record);
        let mut delay = Duration::from_millis(50);
        let mut attempts = 0;
        let stored = loop {
            match inner
                .store
                .finish_job_as(Arc::clone(&record), self.alone())
                .await
            {
                Ok(_) => break true,
                Err(e) if attempts < 5 => {
                    attempts += 1;
                    tracing::warn!(job = %record.id, error = %e, "storing result failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => {
                    tracing::error!(job = %record.id, error = %e, "result could not be stored; it is reported to no one");
                    break false;
                }
            }
        };
        let outcome = if stored {
            record.state.as_str()
        } else {
            "unstored"
        };
        // One line per job at debug: what an operator needs to follow a job in the field.
        // The error code and message come from executors, which never put secrets in them.
        let ran_ms = match (record.started_at, record.finished_at) {
            (Some(s), Some(f)) => f.saturating_sub(s),
            _ => 0,
        };
        let total_ms = record
            .finished_at
            .unwrap_or(0)
            .saturating_sub(record.created_at);
        match &record.error {
            None => {
                tracing::debug!(id = %record.id, kind = %record.kind, source = %record.source, state = outcome, duration_ms = ran_ms, total_ms, "job finished")
            }
            Some(e) => {
                tracing::debug!(id = %record.id, kind = %record.kind, source = %record.source, state = outcome, duration_ms = ran_ms, total_ms, code = %e.code, error = %bounded_text(&e.message), "job finished")
            }
        }
        inner.metrics.finished(&record.kind, outcome);
        let id = record.id;
        if stored {
            let _ = done.send(Some(record));
        }
        if let Ok(mut active) = inner.active.lock() {
            active.remove(&id);
        }
    }

    /// The job's record: live state for queued or running jobs, else from the store.
    pub async fn job(&self, id: JobId) -> Result<Option<JobRecord>, StoreError> {
        if let Some(rec) = self.live(id) {
            return Ok(Some(rec));
        }
        self.inner.store.job(id).await
    }

    fn live(&self, id: JobId) -> Option<JobRecord> {
        let active = self.inner.active.lock().ok()?;
        let a = active.get(&id)?;
        if let Some(done) = a.done.borrow().as_ref() {
            return Some((**done).clone());
        }
        let mut rec = a.record.clone();
        if a.started_at.is_some() {
            rec.state = JobState::Running;
            rec.started_at = a.started_at;
        }
        Some(rec)
    }

    /// Waits up to `wait` for the job to finish; returns its record either way.
    pub async fn wait(&self, id: JobId, wait: Duration) -> Result<Option<JobRecord>, StoreError> {
        let rx = self
            .inner
            .active
            .lock()
            .ok()
            .and_then(|a| a.get(&id).map(|a| a.done.clone()));
        if let Some(mut rx) = rx {
            if let Ok(Ok(done)) = tokio::time::timeout(wait, rx.wait_for(|d| d.is_some())).await {
                if let Some(rec) = done.as_ref() {
                    return Ok(Some((**rec).clone()));
                }
            }
        }
        self.job(id).await
    }

    pub async fn cancel(&self, id: JobId) -> Result<Cancel, StoreError> {
        let token = self
            .inner
            .active
            .lock()
            .ok()
            .and_then(|a| a.get(&id).map(|a| a.cancel.clone()));
        if let Some(token) = token {
            token.cancel();
            return Ok(Cancel::Requested);
        }
        Ok(match self.inner.store.job(id).await? {
            Some(rec) => Cancel::AlreadyFinished(Box::new(rec)),
            None => Cancel::NotFound,
        })
    }

    /// Accepted and unfinished jobs right now.
    pub fn pending(&self) -> usize {
        self.inner.pending.load(Ordering::Acquire)
    }

    /// Stops accepting, lets running jobs finish within `grace`, then interrupts the rest
    /// and waits until every result (interruptions included) is in the store.
    pub async fn drain(&self, grace: Duration) -> Drained {
        let inner = &self.inner;
        inner.accepting.store(false, Ordering::Release);
        inner.tasks.close();
        if tokio::time::timeout(grace, inner.tasks.wait())
            .await
            .is_ok()
        {
            return Drained { interrupted: 0 };
        }
        let interrupted = self.pending();
        inner.stop_all.cancel();
        // Interrupted jobs only have to write their result; the store's own op timeout
        // bounds this wait.
        inner.tasks.wait().await;
        Drained { interrupted }
    }
}
