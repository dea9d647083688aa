//! Schedules (issue 13): jobs submitted on a cron expression or a fixed interval, kept in
//! the store so they survive restarts. The engine (when a schedule is due, jitter, the
//! missed-run and overlap policies, the one timer) is `outpost-schedule`; this module
//! stores schedules, seals their secrets, and submits their jobs through the dispatcher.
//!
//! - `mod.rs`: [`Schedules`], the handle every caller uses (the API, the uplinks' job
//!   kinds, the rusty_agent adapter), and its shapes.
//! - `stored.rs`: a schedule's row: the spec as JSON, its secret params sealed.
//! - `run.rs`: what a due time does: mark it handled, submit the job, watch it end.

mod run;
mod stored;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, OnceLock},
};

use outpost_core::{Dispatcher, ScheduleRow, Store, StoreError, SubmitError};
use outpost_schedule::{Cadence, Plan, Timer};
pub use outpost_schedule::{JobTemplate, Missed, Overlap, ScheduleSpec, SpecError, When};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use run::Figures;
use stored::Stored;

/// Schedules kept at most: each is a few hundred bytes of memory and one entry in the
/// timer's ordered set; the bound keeps a runaway client from filling the store.
pub const MAX_SCHEDULES: usize = 100_000;

/// Who created or last changed a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The local API.
    Api,
    /// An uplink's job (`schedule.add`...), by uplink name.
    Uplink(String),
    /// A compatibility adapter (`rusty`).
    Adapter(String),
}

impl Source {
    pub fn as_string(&self) -> String {
        match self {
            Source::Api => "api".into(),
            Source::Uplink(u) => format!("uplink:{u}"),
            Source::Adapter(a) => format!("adapter:{a}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The spec (or the job it would submit) is invalid; `field` is a dotted path such as
    /// `when.cron` or `job.params.community`.
    #[error("`{field}`: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("no schedule {0:?}")]
    NotFound(String),
    #[error("a schedule with id {0:?} already exists")]
    Exists(String),
    #[error("at most {max} schedules")]
    TooMany { max: usize },
    /// The handle was used before the schedules component started (or without it).
    #[error("schedules are not running")]
    NotRunning,
    /// A stored schedule's secret cannot be opened (a wrong key, a damaged row).
    #[error("schedule {id:?}: {reason}")]
    Secret { id: String, reason: String },
    #[error(transparent)]
    Store(StoreError),
}

impl From<SpecError> for ScheduleError {
    fn from(e: SpecError) -> Self {
        ScheduleError::InvalidField {
            field: e.field,
            reason: e.reason,
        }
    }
}

impl From<StoreError> for ScheduleError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::ScheduleExists(id) => ScheduleError::Exists(id),
            e => ScheduleError::Store(e),
        }
    }
}

/// A schedule as the API, the uplinks and the CLI show it: its spec with the job's
/// secrets redacted, and its state.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScheduleView {
    pub id: String,
    /// `{"cron": "*/5 * * * *", "tz": "Europe/Oslo"}` or `{"every_ms": 60000}`.
    #[schema(value_type = Object)]
    pub when: serde_json::Value,
    /// `{"kind", "params", "timeout_ms"?}`, params with secrets redacted.
    #[schema(value_type = Object)]
    pub job: serde_json::Value,
    /// `skip` or `run_once`.
    pub missed: String,
    /// `skip`, `queue_one` or `allow`.
    pub overlap: String,
    pub jitter_ms: u64,
    pub labels: BTreeMap<String, String>,
    /// Who created or last changed it: `api`, `uplink:NAME`, `adapter:NAME`.
    pub source: String,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    /// Every due time up to here was handled; null before the first.
    pub handled_through: Option<i64>,
    /// The next due time (without jitter); null when paused or never due again.
    pub next_due: Option<i64>,
}

/// A schedule in memory: what runs at each due time.
pub(crate) struct Active {
    pub(crate) spec: ScheduleSpec,
    /// Secrets redacted: what views show.
    pub(crate) redacted: serde_json::Value,
    pub(crate) source: String,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

/// The handle. Cheap to clone; every clone drives the same schedules.
#[derive(Clone)]
pub struct Schedules(Arc<Inner>);

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) timer: Timer,
    /// Set when the component starts: validation and submission need the registry.
    pub(crate) dispatcher: OnceLock<Dispatcher>,
    pub(crate) active: Mutex<HashMap<Arc<str>, Arc<Active>>>,
    /// One change at a time, so the store, the map and the timeline agree.
    writes: tokio::sync::Mutex<()>,
    pub(crate) default_timeout_ms: u64,
    max_timeout_ms: u64,
    pub(crate) figures: Figures,
    pub(crate) sealer: stored::Sealer,
}

/// How far ahead of a due time its runs are accepted (checked, prepared, given a queue
/// slot) and recorded; they start at the due time. Accepting and recording take about
/// 10 µs a job here, but a fresh agent's first firing of 10,000 also pays for the memory
/// it touches for the first time: 250 ms was measured too short for it (the whole first
/// minute started ~150 ms late). Half a second covers some 25,000 runs due at one
/// instant; more start late by the excess, never early. Not more: the overlap decision is
/// taken this far ahead too, so a schedule due every second needs its job to end within
/// the other half.
const FIRING_LEAD: std::time::Duration = std::time::Duration::from_millis(500);

impl Schedules {
    pub(crate) fn new(
        store: Store,
        default_timeout_ms: u64,
        max_timeout_ms: u64,
        sealer: stored::Sealer,
    ) -> Self {
        Schedules(Arc::new(Inner {
            store,
            timer: Timer::with_lead(FIRING_LEAD),
            dispatcher: OnceLock::new(),
            active: Mutex::default(),
            writes: tokio::sync::Mutex::new(()),
            default_timeout_ms,
            max_timeout_ms,
            figures: Figures::default(),
            sealer,
        }))
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.0
    }

    fn dispatcher(&self) -> Result<&Dispatcher, ScheduleError> {
        self.0.dispatcher.get().ok_or(ScheduleError::NotRunning)
    }

    fn active(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Arc<Active>>> {
        self.0.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks the job a spec would submit, as the dispatcher will at each due time, and
    /// returns its params with secrets redacted.
    fn check_job(&self, spec: &ScheduleSpec) -> Result<serde_json::Value, ScheduleError> {
        let d = self.dispatcher()?;
        let job = &spec.job;
        if job.kind.starts_with("schedule.") {
            return Err(ScheduleError::InvalidField {
                field: "job.kind".into(),
                reason: "a schedule cannot submit schedule changes".into(),
            });
        }
        if let Some(t) = job.timeout_ms {
            if t > self.0.max_timeout_ms {
                return Err(ScheduleError::InvalidField {
                    field: "job.timeout_ms".into(),
                    reason: format!("at most {} (jobs.max_timeout_ms)", self.0.max_timeout_ms),
                });
            }
        }
        d.registry()
            .validate(&job.kind, &job.params)
            .map_err(|e| match e {
                SubmitError::BadParams(p) => ScheduleError::InvalidField {
                    field: if p.field.is_empty() {
                        "job.params".into()
                    } else {
                        format!("job.params.{}", p.field)
                    },
                    reason: p.message,
                },
                other => ScheduleError::InvalidField {
                    field: "job.kind".into(),
                    reason: other.to_string(),
                },
            })?;
        Ok(d.registry()
            .redact(&job.kind, &job.params)
            .unwrap_or(serde_json::Value::Null))
    }

    /// Adds a schedule. Its id is the spec's, or generated when `None`.
    pub async fn add(
        &self,
        spec: ScheduleSpec,
        source: Source,
    ) -> Result<ScheduleView, ScheduleError> {
        self.add_phased(spec, source, None).await
    }

    /// Adds a schedule whose first run is `first_in` from now when it recurs on an
    /// interval (Towerops' staggered first runs); later runs follow every interval after
    /// it, also across restarts. Done by dating the interval's anchor (the row's
    /// `created_at`) back, so `created_at` of such a schedule is up to one interval early.
    pub async fn add_phased(
        &self,
        mut spec: ScheduleSpec,
        source: Source,
        first_in: Option<std::time::Duration>,
    ) -> Result<ScheduleView, ScheduleError> {
        spec.check()?;
        let redacted = self.check_job(&spec)?;
        let id = spec
            .id
            .clone()
            .unwrap_or_else(|| format!("s-{}", uuid::Uuid::now_v7().simple()));
        spec.id = Some(id.clone());
        let _w = self.0.writes.lock().await;
        if self.active().len() >= MAX_SCHEDULES {
            return Err(ScheduleError::TooMany { max: MAX_SCHEDULES });
        }
        let now = outpost_core::clock::now_ms();
        let created = match (&spec.when, first_in) {
            (When::Every { ms }, Some(d)) => {
                let ms = *ms as i64;
                now - ms + (d.as_millis() as i64).clamp(1, ms)
            }
            _ => now,
        };
        let source = source.as_string();
        let text = Stored::encode(&self.0.sealer, &id, &spec, &redacted, &source)?;
        self.0
            .store
            .insert_schedule(ScheduleRow {
                id: id.clone(),
                spec: text,
                created_at: created,
                updated_at: now,
                handled_through: None,
            })
            .await?;
        let active = Active {
            spec,
            redacted,
            source,
            created_at: created,
            updated_at: now,
        };
        Ok(self.activate(id.into(), active, None, now))
    }

    /// Replaces a schedule's spec (the id in `spec`, if any, must be `id`). Due times
    /// before the change count as handled; a job still running stays counted for overlap.
    pub async fn update(
        &self,
        id: &str,
        mut spec: ScheduleSpec,
        source: Source,
    ) -> Result<ScheduleView, ScheduleError> {
        if spec.id.as_deref().is_some_and(|s| s != id) {
            return Err(ScheduleError::InvalidField {
                field: "id".into(),
                reason: "differs from the schedule being updated".into(),
            });
        }
        spec.id = Some(id.to_owned());
        spec.check()?;
        let redacted = self.check_job(&spec)?;
        let _w = self.0.writes.lock().await;
        let now = outpost_core::clock::now_ms();
        let source = source.as_string();
        let text = Stored::encode(&self.0.sealer, id, &spec, &redacted, &source)?;
        let row = self
            .0
            .store
            .update_schedule(id, text, now)
            .await?
            .ok_or_else(|| ScheduleError::NotFound(id.to_owned()))?;
        let active = Active {
            spec,
            redacted,
            source,
            created_at: row.created_at,
            updated_at: now,
        };
        Ok(self.activate(id.into(), active, Some(now), now))
    }

    /// Removes a schedule; `false` if there was none. A job it already submitted runs on.
    pub async fn remove(&self, id: &str) -> Result<bool, ScheduleError> {
        let _w = self.0.writes.lock().await;
        let found = self.0.store.delete_schedule(id).await?;
        {
            let mut map = self.active();
            map.remove(id);
            self.0.figures.schedules.set(map.len() as i64);
        }
        self.0.timer.update(|t| t.remove(id));
        Ok(found)
    }

    pub async fn get(&self, id: &str) -> Result<Option<ScheduleView>, ScheduleError> {
        let row = self.0.store.schedule(id).await?;
        Ok(row.map(|r| self.view_of_row(&r)))
    }

    /// Every schedule, by id.
    pub async fn list(&self) -> Result<Vec<ScheduleView>, ScheduleError> {
        let rows = self.0.store.schedules().await?;
        Ok(rows.iter().map(|r| self.view_of_row(r)).collect())
    }

    /// Due times pass without runs until [`resume_all`](Self::resume_all) (rusty_agent's
    /// `jobs/stop`). Not persisted: a restart resumes.
    pub fn pause_all(&self) {
        self.0.timer.update(|t| t.pause());
    }

    pub fn resume_all(&self) {
        self.0.timer.update(|t| t.resume());
    }

    /// Loads every stored schedule into the timeline (at start, once the dispatcher is
    /// set), applying each one's missed-run policy. A schedule that cannot be loaded (its
    /// secret does not open under this key, its job kind is no longer served) stays stored
    /// and listed, is logged, and does not run. Returns (loaded, not loaded).
    pub(crate) async fn load(&self) -> Result<(usize, usize), ScheduleError> {
        let _w = self.0.writes.lock().await;
        let rows = self.0.store.schedules().await?;
        let now = outpost_core::clock::now_ms();
        let (mut loaded, mut failed) = (0, 0);
        for row in rows {
            let res = Stored::decode(&self.0.sealer, &row).and_then(|(spec, source)| {
                let redacted = self.check_job(&spec)?;
                Ok((spec, source, redacted))
            });
            match res {
                Ok((spec, source, redacted)) => {
                    let active = Active {
                        spec,
                        redacted,
                        source,
                        created_at: row.created_at,
                        updated_at: row.updated_at,
                    };
                    // Never handled: its due times since creation count as missed.
                    let through = row.handled_through.unwrap_or(row.created_at);
                    self.activate(row.id.as_str().into(), active, Some(through), now);
                    loaded += 1;
                }
                Err(e) => {
                    tracing::error!(schedule = %row.id, error = %e, "schedule not loaded; it will not run");
                    failed += 1;
                }
            }
        }
        Ok((loaded, failed))
    }

    /// A handle that is not connected to a running schedules component: every operation
    /// fails with [`ScheduleError::NotRunning`]. For `r.common::<Schedules>(..)` callers
    /// when the schedules component registered nothing before them.
    pub fn detached(store: Store) -> Self {
        Schedules::new(store, 1, 1, stored::Sealer::plain())
    }

    /// Puts a schedule in the map and the timeline; returns its view. A missed run (only
    /// on load) is handed to the runner.
    pub(crate) fn activate(
        &self,
        id: Arc<str>,
        active: Active,
        handled_through: Option<i64>,
        now: i64,
    ) -> ScheduleView {
        // Checked by `spec.check()` when it was accepted or loaded; an interval counts from
        // the schedule's creation.
        let plan = match Cadence::compile(&active.spec.when, active.created_at, now) {
            Ok(cadence) => Some(Plan {
                cadence,
                missed: active.spec.missed,
                overlap: active.spec.overlap,
                jitter_ms: active.spec.jitter_ms,
            }),
            Err(e) => {
                tracing::error!(schedule = %id, error = %e, "schedule is never due again; it stays listed");
                None
            }
        };
        let active = Arc::new(active);
        {
            let mut map = self.active();
            map.insert(id.clone(), active.clone());
            self.0.figures.schedules.set(map.len() as i64);
        }
        let missed = match plan {
            Some(plan) => self
                .0
                .timer
                .update(|t| t.insert(id.clone(), plan, handled_through, now)),
            None => self.0.timer.update(|t| {
                t.remove(&id);
                None
            }),
        };
        if let Some(action) = missed {
            run::fire(self, vec![action]);
        }
        self.view(&id, &active, handled_through)
    }

    fn view(&self, id: &str, a: &Active, handled_through: Option<i64>) -> ScheduleView {
        let spec = a.spec.to_value();
        let mut job = spec.get("job").cloned().unwrap_or_default();
        if let Some(obj) = job.as_object_mut() {
            obj.insert("params".into(), a.redacted.clone());
        }
        ScheduleView {
            id: id.to_owned(),
            when: spec.get("when").cloned().unwrap_or_default(),
            job,
            missed: enum_name(&a.spec.missed),
            overlap: enum_name(&a.spec.overlap),
            jitter_ms: a.spec.jitter_ms,
            labels: a.spec.labels.clone(),
            source: a.source.clone(),
            created_at: a.created_at,
            updated_at: a.updated_at,
            handled_through,
            next_due: self.0.timer.read(|t| t.next_due(id)),
        }
    }

    /// A stored row's view. The active copy is used when there is one (the stored spec
    /// carries sealed params, which a view never opens).
    fn view_of_row(&self, r: &ScheduleRow) -> ScheduleView {
        let active = self.active().get(r.id.as_str()).cloned();
        match active {
            Some(a) => self.view(&r.id, &a, r.handled_through),
            None => Stored::view_unloaded(r),
        }
    }
}

/// The timer's sink for `s`.
pub(crate) fn runner(s: &Schedules) -> run::Runner {
    run::Runner(s.clone())
}

/// The sealer for this agent's schedules: the agent's one keyring.
pub(crate) fn sealer(shared: &crate::components::Shared) -> stored::Sealer {
    stored::Sealer::new(shared.keyring.clone())
}

fn enum_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
