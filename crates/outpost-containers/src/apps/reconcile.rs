//! The reconciler: keeps the engine at the declared apps.
//!
//! It runs a pass (list the managed containers, `plan`, carry out the actions in order)
//! when something can have changed: an app applied or removed, an engine event (a start,
//! a death, a health change), or a held restart coming due. There is no polling loop; when
//! the engine's event stream ends (the engine restarted) it subscribes again after a
//! second and runs a pass to catch up.
//!
//! Restarts follow the declared policy (the engine's is `no`): `always` and
//! `unless-stopped` restart any death, `on-failure[:N]` a non-zero exit (at most N times),
//! `no` none (Compose's meaning: a service that exits stays exited). Each restart waits for
//! the service's backoff; the death that makes a crash loop is reported as
//! `AppEvent::CrashLoop`. A service waits for its `depends_on` (running, or healthy).
//!
//! The engine is the `AppEngine` trait; the binary implements it over the real engine.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::run_spec::{RestartPolicy, RunSpec};

use super::backoff::{Backoff, BackoffConfig};
use super::compose::{AppSpec, DependsOn, ServiceSpec};
use super::plan::{plan, Action, ActualContainer, ContainerState, Health};

/// What the reconciler needs from an engine.
pub trait AppEngine: Send + Sync + 'static {
    type Error: std::fmt::Display + Send + 'static;
    /// Every container labelled `outpost.app` (running or not).
    fn list_managed(
        &self,
    ) -> impl Future<Output = Result<Vec<ActualContainer>, Self::Error>> + Send;
    /// Creates the container; its id.
    fn create(&self, spec: &RunSpec) -> impl Future<Output = Result<String, Self::Error>> + Send;
    fn start(&self, id: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;
    fn stop(&self, id: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Removes the container (forcibly, its anonymous volumes with it).
    fn remove(&self, id: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// The engine's container events from now on.
    fn events(&self) -> BoxStream<'static, EngineEvent>;
}

/// A container event, with the container's labels (ownership is read from them).
#[derive(Debug, Clone, PartialEq)]
pub struct EngineEvent {
    pub id: String,
    pub labels: BTreeMap<String, String>,
    pub kind: EngineEventKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineEventKind {
    Start,
    Die { exit_code: Option<i64> },
    Oom,
    Health(Health),
}

/// What the reconciler is asked.
#[derive(Debug)]
pub enum AppCommand {
    /// Declare (or redeclare) an app; it must be valid (`compose::parse` or `validate`).
    Apply(AppSpec),
    /// Undeclare an app: its containers are removed.
    Remove(String),
    Status(oneshot::Sender<Vec<ServiceStatus>>),
}

/// What the reconciler reports (the binary turns these into outbox events).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AppEvent {
    /// `app.crash_loop`: the service died often enough to be a crash loop.
    CrashLoop {
        app: String,
        service: String,
        restarts: u64,
        next_delay_ms: u64,
    },
    /// An engine call failed; the next pass tries again.
    ActionFailed {
        app: String,
        service: String,
        action: &'static str,
        error: String,
    },
}

/// One service's line in `app.status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceStatus {
    pub app: String,
    pub service: String,
    pub desired: &'static str,
    /// The container's state; `None` when it has none.
    pub actual: Option<ContainerState>,
    pub restarts: u64,
    pub crash_loop: bool,
    pub last_error: Option<String>,
    /// When a held restart comes due, from now.
    pub next_start_in_ms: Option<u64>,
}

/// How long to wait before retrying when the engine could not be listed, or before
/// subscribing again to an event stream that ended.
const RETRY: Duration = Duration::from_secs(1);

struct ServiceState {
    backoff: Backoff,
    hold_until: Option<Instant>,
    /// A start was seen and its death not yet: a pass that finds the container exited
    /// leaves it to the death's event (and the backoff) to decide.
    running: bool,
    healthy: bool,
    last_error: Option<String>,
}

struct Reconciler<E> {
    engine: E,
    cfg: BackoffConfig,
    origin: Instant,
    desired: BTreeMap<String, AppSpec>,
    services: BTreeMap<(String, String), ServiceState>,
    /// Containers we stopped or removed ourselves: their deaths are no crash.
    ours: BTreeSet<String>,
    retry_at: Option<Instant>,
    out: mpsc::Sender<AppEvent>,
}

/// Runs until `commands` is closed.
pub async fn run<E: AppEngine>(
    engine: E,
    apps: Vec<AppSpec>,
    cfg: BackoffConfig,
    mut commands: mpsc::Receiver<AppCommand>,
    out: mpsc::Sender<AppEvent>,
) {
    let mut events = engine.events();
    let mut r = Reconciler {
        engine,
        cfg,
        origin: Instant::now(),
        desired: apps.into_iter().map(|a| (a.name.clone(), a)).collect(),
        services: BTreeMap::new(),
        ours: BTreeSet::new(),
        retry_at: None,
        out,
    };
    r.pass().await;
    loop {
        let wake = r.next_wake();
        tokio::select! {
            cmd = commands.recv() => match cmd {
                None => return,
                Some(AppCommand::Apply(app)) => {
                    r.apply(app);
                    r.pass().await;
                }
                Some(AppCommand::Remove(name)) => {
                    r.desired.remove(&name);
                    r.services.retain(|(a, _), _| *a != name);
                    r.pass().await;
                }
                Some(AppCommand::Status(reply)) => {
                    let _ = reply.send(r.status().await);
                }
            },
            ev = events.next() => match ev {
                Some(ev) => {
                    if r.on_event(ev).await {
                        r.pass().await;
                    }
                }
                None => {
                    tokio::time::sleep(RETRY).await;
                    events = r.engine.events();
                    r.pass().await;
                }
            },
            () = sleep_until(wake), if wake.is_some() => r.pass().await,
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

fn is_live(c: Option<&&ActualContainer>) -> bool {
    c.is_some_and(|c| {
        matches!(
            c.state,
            ContainerState::Running | ContainerState::Paused | ContainerState::Restarting
        )
    })
}

fn owner(labels: &BTreeMap<String, String>) -> Option<(String, String)> {
    Some((
        labels.get(super::convert::APP_LABEL)?.clone(),
        labels.get(super::convert::SERVICE_LABEL)?.clone(),
    ))
}

/// Whether the declared policy restarts a container that exited with `exit_code` after
/// `restarts` earlier restarts.
fn policy_restarts(policy: &RestartPolicy, exit_code: Option<i64>, restarts: u64) -> bool {
    match policy {
        RestartPolicy::No => false,
        RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
        RestartPolicy::OnFailure { max_retries } => {
            exit_code != Some(0) && max_retries.is_none_or(|m| restarts < u64::from(m))
        }
    }
}

impl<E: AppEngine> Reconciler<E> {
    fn state(&mut self, key: (String, String)) -> &mut ServiceState {
        let mut cfg = self.cfg;
        // A service's own backoff (a drop-in's) keeps the reset and crash-loop figures.
        if let Some(b) = self.spec(&key.0, &key.1).and_then(|s| s.restart_backoff) {
            cfg.initial = Duration::from_millis(b.initial_ms);
            cfg.max = Duration::from_millis(b.max_ms);
            cfg.growth = b.growth;
        }
        self.services.entry(key).or_insert_with(|| ServiceState {
            backoff: Backoff::new(cfg),
            hold_until: None,
            running: false,
            healthy: false,
            last_error: None,
        })
    }

    fn spec(&self, app: &str, service: &str) -> Option<&ServiceSpec> {
        self.desired.get(app)?.services.get(service)
    }

    fn apply(&mut self, app: AppSpec) {
        // A service whose spec changed starts over: the new spec may fix the crash.
        let old = self.desired.get(&app.name);
        let changed: Vec<String> = app
            .services
            .iter()
            .filter(|(n, s)| old.and_then(|o| o.services.get(*n)) != Some(*s))
            .map(|(n, _)| n.clone())
            .collect();
        for n in changed {
            self.services.remove(&(app.name.clone(), n));
        }
        self.desired.insert(app.name.clone(), app);
    }

    fn next_wake(&self) -> Option<Instant> {
        self.services
            .values()
            .filter_map(|s| s.hold_until)
            .chain(self.retry_at)
            .min()
    }

    async fn emit(&self, ev: AppEvent) {
        // Bounded channel, awaited: a crash loop report must not be dropped.
        let _ = self.out.send(ev).await;
    }

    /// Records an event; true when a pass may now have something to do.
    async fn on_event(&mut self, ev: EngineEvent) -> bool {
        let Some(key) = owner(&ev.labels) else {
            return false;
        };
        let now = Instant::now();
        let at = now.saturating_duration_since(self.origin);
        match ev.kind {
            EngineEventKind::Start => {
                let st = self.state(key);
                st.backoff.on_start(at);
                st.hold_until = None;
                st.running = true;
                // Dependents may be waiting for it.
                true
            }
            EngineEventKind::Health(h) => {
                self.state(key).healthy = h == Health::Healthy;
                h == Health::Healthy
            }
            EngineEventKind::Oom => {
                self.state(key).last_error = Some("out of memory (OOM killed)".into());
                false
            }
            EngineEventKind::Die { exit_code } => {
                if self.ours.remove(&ev.id) {
                    return false;
                }
                let Some(policy) = self.spec(&key.0, &key.1).map(|s| s.restart) else {
                    return false;
                };
                let origin = self.origin;
                let st = self.state(key.clone());
                st.healthy = false;
                st.running = false;
                if st.last_error.is_none() || exit_code != Some(0) {
                    st.last_error = Some(match exit_code {
                        Some(c) => format!("exited with code {c}"),
                        None => "died".into(),
                    });
                }
                if !policy_restarts(&policy, exit_code, st.backoff.restarts) {
                    return false;
                }
                let d = st.backoff.on_death(at);
                st.hold_until = Some(origin + d.restart_at);
                let restarts = st.backoff.restarts;
                if d.crash_loop {
                    self.emit(AppEvent::CrashLoop {
                        app: key.0,
                        service: key.1,
                        restarts,
                        next_delay_ms: u64::try_from(d.delay.as_millis()).unwrap_or(u64::MAX),
                    })
                    .await;
                }
                // The hold's timer runs the pass.
                false
            }
        }
    }

    /// Whether the service's dependencies are up (`up`: running services by key).
    fn deps_ready(
        &self,
        app: &str,
        spec: &ServiceSpec,
        up: &BTreeMap<(String, String), bool>,
    ) -> bool {
        spec.depends_on.iter().all(|(dep, cond)| {
            let key = (app.to_owned(), dep.clone());
            match (up.get(&key), cond) {
                (Some(_), DependsOn::Started) => true,
                (Some(healthy), DependsOn::Healthy) => {
                    *healthy || self.services.get(&key).is_some_and(|s| s.healthy)
                }
                (None, _) => false,
            }
        })
    }

    async fn pass(&mut self) {
        self.retry_at = None;
        let actual = match self.engine.list_managed().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "apps: cannot list the engine's containers");
                self.retry_at = Some(Instant::now() + RETRY);
                return;
            }
        };
        let actions = match plan(self.desired.values(), &actual) {
            Ok(a) => a,
            Err(e) => {
                // Apps are validated before they are applied; this is a bug, not input.
                tracing::error!(error = %e, "apps: cannot plan");
                return;
            }
        };
        // Running services (with their health), as the actions bring them up.
        let mut up: BTreeMap<(String, String), bool> = actual
            .iter()
            .filter(|c| c.state == ContainerState::Running)
            .filter_map(|c| Some((owner(&c.labels)?, c.health == Some(Health::Healthy))))
            .collect();
        let by_id: BTreeMap<&str, &ActualContainer> =
            actual.iter().map(|c| (c.id.as_str(), c)).collect();
        let now = Instant::now();
        for action in actions {
            let key = (action.app().to_owned(), action.service().to_owned());
            let result = match &action {
                Action::Remove { id, .. } => {
                    let live = is_live(by_id.get(id.as_str()));
                    self.take_down(id, live).await.map_err(|e| ("remove", e))
                }
                Action::Recreate { id, spec, .. } => {
                    let Some(s) = self.spec(&key.0, &key.1).cloned() else {
                        continue;
                    };
                    if !self.deps_ready(&key.0, &s, &up) {
                        continue;
                    }
                    let live = is_live(by_id.get(id.as_str()));
                    match self.take_down(id, live).await {
                        Ok(()) => self.create_start(spec).await,
                        Err(e) => Err(("remove", e)),
                    }
                }
                Action::Create { spec, .. } => {
                    let Some(s) = self.spec(&key.0, &key.1).cloned() else {
                        continue;
                    };
                    if !self.deps_ready(&key.0, &s, &up) {
                        continue;
                    }
                    self.create_start(spec).await
                }
                Action::Start { id, .. } => {
                    let Some(s) = self.spec(&key.0, &key.1).cloned() else {
                        continue;
                    };
                    let st = self.state(key.clone());
                    let (restarts, hold, running) =
                        (st.backoff.restarts, st.hold_until, st.running);
                    let held = hold.is_some_and(|t| t > now);
                    let exited = by_id
                        .get(id.as_str())
                        .filter(|c| c.state == ContainerState::Exited);
                    // A container that exited is started again as its death's event decided
                    // (a due hold), or, when this process never saw it run, as the policy
                    // says.
                    let allowed = exited.is_none_or(|c| {
                        hold.is_some()
                            || (!running && policy_restarts(&s.restart, c.exit_code, restarts))
                    });
                    if held || !allowed || !self.deps_ready(&key.0, &s, &up) {
                        continue;
                    }
                    self.engine
                        .start(id)
                        .await
                        .map_err(|e| ("start", e.to_string()))
                }
            };
            match result {
                Ok(()) => {
                    if !matches!(action, Action::Remove { .. }) {
                        // Started: its hold is spent now, not when the start's event
                        // arrives (a due hold would run another pass, and start it twice).
                        let st = self.state(key.clone());
                        st.hold_until = None;
                        st.running = true;
                        up.insert(key, false);
                    }
                }
                Err((what, error)) => {
                    self.state(key.clone()).last_error = Some(format!("{what}: {error}"));
                    self.emit(AppEvent::ActionFailed {
                        app: key.0,
                        service: key.1,
                        action: what,
                        error,
                    })
                    .await;
                }
            }
        }
    }

    /// Stops and removes a container; `live`: it is running, so its death's event will come
    /// (and is ours, no crash). A container that is not running dies no more, and is not
    /// remembered.
    async fn take_down(&mut self, id: &str, live: bool) -> Result<(), String> {
        if live {
            self.ours.insert(id.to_owned());
        }
        // A stop that fails (already stopped) does not keep the removal from happening.
        let _ = self.engine.stop(id).await;
        self.engine.remove(id).await.map_err(|e| e.to_string())
    }

    async fn create_start(&mut self, spec: &RunSpec) -> Result<(), (&'static str, String)> {
        let id = self
            .engine
            .create(spec)
            .await
            .map_err(|e| ("create", e.to_string()))?;
        self.engine
            .start(&id)
            .await
            .map_err(|e| ("start", e.to_string()))
    }

    async fn status(&mut self) -> Vec<ServiceStatus> {
        let actual = self.engine.list_managed().await.unwrap_or_default();
        let now = Instant::now();
        let mut out = Vec::new();
        for (app, a) in &self.desired {
            for svc in a.services.keys() {
                let key = (app.clone(), svc.clone());
                let c = actual
                    .iter()
                    .filter(|c| c.state != ContainerState::Removing)
                    .find(|c| owner(&c.labels).as_ref() == Some(&key));
                let st = self.services.get(&key);
                out.push(ServiceStatus {
                    app: app.clone(),
                    service: svc.clone(),
                    desired: "running",
                    actual: c.map(|c| c.state),
                    restarts: st.map_or(0, |s| s.backoff.restarts),
                    crash_loop: st.is_some_and(|s| s.backoff.in_crash_loop()),
                    last_error: st.and_then(|s| s.last_error.clone()),
                    next_start_in_ms: st.and_then(|s| s.hold_until).and_then(|t| {
                        (t > now).then(|| u64::try_from((t - now).as_millis()).unwrap_or(u64::MAX))
                    }),
                });
            }
        }
        out
    }
}
