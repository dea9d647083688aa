//! `app.apply`, `app.remove`, `app.status`, `app.list`: declared apps (issue 15 §3).
//!
//! Apps are kept in the store (table `apps`), then handed to the reconciler, which the
//! containers component runs once an app is declared. `app.apply` stores first (an agent
//! killed mid-apply finds the app at its next start and converges), then waits until every
//! service of the app runs: it fails early on a crash loop or a service the engine refused,
//! and at its deadline with each service's last error. `app.remove` removes the containers
//! first and the stored app last, so a kill between leaves the app declared, not orphans.

use std::path::{Path, PathBuf};
use std::time::Duration;

use outpost_containers::apps::{self, reconcile::AppCommand, reconcile::ServiceStatus, AppSpec};
use outpost_core::{
    executor::ParamError, AppRow, ExecError, Executor, JobContext, Registry, Store,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use super::stop_at;

/// How often an `app.apply` looks at the reconciler's status while it waits to converge.
const CONVERGE_POLL: Duration = Duration::from_millis(200);

/// How long a job waits for the apps declared at start (the stored ones reconciled with
/// `containers.apps_dir`) to be loaded: a few file reads and store writes.
const LOAD_WAIT: Duration = Duration::from_secs(30);

/// The jobs' way to the reconciler and the store.
#[derive(Clone)]
pub struct AppsHandle {
    commands: mpsc::Sender<AppCommand>,
    store: Store,
    /// Relative bind-mount sources of a job's Compose text resolve here.
    base_dir: PathBuf,
    /// True once the apps declared at start are in the store. Until then a listing would
    /// show the stored apps without the directory's changes, and an apply could be
    /// overwritten by a file the start-up load compared with an older row.
    loaded: watch::Receiver<bool>,
}

impl AppsHandle {
    /// The handle, the reconciler's end of its command channel, and the flag the start-up
    /// load sets when the declared apps are in the store.
    pub fn new(
        store: Store,
        base_dir: PathBuf,
    ) -> (Self, mpsc::Receiver<AppCommand>, watch::Sender<bool>) {
        let (commands, rx) = mpsc::channel(16);
        let (set_loaded, loaded) = watch::channel(false);
        (
            AppsHandle {
                commands,
                store,
                base_dir,
                loaded,
            },
            rx,
            set_loaded,
        )
    }

    /// Waits (bounded) until the apps declared at start are loaded.
    async fn loaded(&self) -> Result<(), ExecError> {
        let mut loaded = self.loaded.clone();
        let waited =
            tokio::time::timeout(LOAD_WAIT, async { loaded.wait_for(|l| *l).await.map(drop) })
                .await;
        match waited {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(ExecError::new(
                "apps_stopped",
                "the apps reconciler has stopped",
            )),
            Err(_) => Err(ExecError::new(
                "apps_loading",
                format!("the apps declared at start are not loaded after {LOAD_WAIT:?}"),
            )),
        }
    }

    async fn send(&self, cmd: AppCommand) -> Result<(), ExecError> {
        self.commands
            .send(cmd)
            .await
            .map_err(|_| ExecError::new("apps_stopped", "the apps reconciler has stopped"))
    }

    /// Every declared service's status. Commands are handled in order, so this also waits
    /// for the passes of commands sent before.
    async fn status(&self) -> Result<Vec<ServiceStatus>, ExecError> {
        let (tx, rx) = oneshot::channel();
        self.send(AppCommand::Status(tx)).await?;
        rx.await
            .map_err(|_| ExecError::new("apps_stopped", "the apps reconciler has stopped"))
    }
}

fn store_error(e: outpost_core::StoreError) -> ExecError {
    ExecError::new("store_error", e.to_string())
}

/// Parses a Compose text for the app `name` (the text's own `name:`, if any, must agree).
pub fn parse_app(name: &str, text: &str, base_dir: &Path) -> Result<AppSpec, ParamError> {
    let app = apps::parse(text.as_bytes(), name, base_dir).map_err(|e| ParamError {
        field: "compose".into(),
        message: e.to_string(),
    })?;
    if app.name != name {
        return Err(ParamError {
            field: "name".into(),
            message: format!("the Compose text names the app `{}`", app.name),
        });
    }
    Ok(app)
}

pub fn register(reg: &mut Registry, h: &AppsHandle) {
    reg.register(Apply(h.clone()))
        .register(Remove(h.clone()))
        .register(Status(h.clone()))
        .register(List(h.clone()));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyParams {
    pub name: String,
    /// The Compose YAML text.
    pub compose: String,
}

#[derive(Debug, Serialize)]
pub struct Converged {
    pub app: String,
    pub services: Vec<ServiceStatus>,
}

pub struct Apply(AppsHandle);

impl Executor for Apply {
    type Params = ApplyParams;
    type Output = Converged;

    fn kind(&self) -> &'static str {
        "app.apply"
    }

    fn concurrency(&self) -> usize {
        4
    }

    fn check(&self, p: &ApplyParams) -> Result<(), ParamError> {
        parse_app(&p.name, &p.compose, &self.0.base_dir).map(drop)
    }

    async fn run(&self, p: ApplyParams, cx: JobContext) -> Result<Converged, ExecError> {
        let h = &self.0;
        let app = parse_app(&p.name, &p.compose, &h.base_dir)
            .map_err(|e| ExecError::new("invalid_params", e.to_string()))?;
        h.loaded().await?;
        h.store
            .put_app(AppRow {
                name: p.name.clone(),
                source: "job".into(),
                spec: p.compose,
                updated_at: now_ms(),
            })
            .await
            .map_err(store_error)?;
        h.send(AppCommand::Apply(app)).await?;
        let until = tokio::time::Instant::from_std(stop_at(cx.deadline));
        loop {
            let services: Vec<ServiceStatus> = h
                .status()
                .await?
                .into_iter()
                .filter(|s| s.app == p.name)
                .collect();
            if let Some(outcome) = verdict(&services) {
                return outcome.map(|()| Converged {
                    app: p.name.clone(),
                    services,
                });
            }
            if tokio::time::Instant::now() >= until {
                return Err(ExecError::new(
                    "not_converged",
                    format!("not running by the deadline: {}", pending(&services)),
                ));
            }
            tokio::select! {
                () = tokio::time::sleep(CONVERGE_POLL.min(until - tokio::time::Instant::now())) => {}
                () = cx.cancel.cancelled() => {
                    return Err(ExecError::new("cancelled", "cancelled before the app converged"));
                }
            }
        }
    }
}

/// `Some(Ok)` when every service runs, `Some(Err)` when waiting cannot help (a crash loop,
/// a service with no container and an engine error), `None` to keep waiting.
fn verdict(services: &[ServiceStatus]) -> Option<Result<(), ExecError>> {
    use outpost_containers::apps::ContainerState;
    if let Some(s) = services.iter().find(|s| s.crash_loop) {
        return Some(Err(ExecError::new(
            "crash_loop",
            format!(
                "{}.{} is crash-looping ({} restarts): {}",
                s.app,
                s.service,
                s.restarts,
                s.last_error.as_deref().unwrap_or("no error recorded")
            ),
        )));
    }
    if let Some(s) = services
        .iter()
        .find(|s| s.actual.is_none() && s.last_error.is_some())
    {
        return Some(Err(ExecError::new(
            "apply_failed",
            format!(
                "{}.{}: {}",
                s.app,
                s.service,
                s.last_error.as_deref().unwrap_or_default()
            ),
        )));
    }
    services
        .iter()
        .all(|s| s.actual == Some(ContainerState::Running))
        .then_some(Ok(()))
}

fn pending(services: &[ServiceStatus]) -> String {
    services
        .iter()
        .filter(|s| s.actual != Some(outpost_containers::apps::ContainerState::Running))
        .map(|s| {
            format!(
                "{} ({})",
                s.service,
                s.last_error.as_deref().unwrap_or("waiting")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A job that names one app.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppName {
    pub name: String,
}

fn check_name(name: &str) -> Result<(), ParamError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ParamError {
            field: "name".into(),
            message: "an app name: [a-zA-Z0-9][a-zA-Z0-9_-]*, at most 64 characters".into(),
        })
    }
}

#[derive(Debug, Serialize)]
pub struct Removed {
    pub app: String,
    /// Whether the app was declared.
    pub removed: bool,
}

pub struct Remove(AppsHandle);

impl Executor for Remove {
    type Params = AppName;
    type Output = Removed;

    fn kind(&self) -> &'static str {
        "app.remove"
    }

    fn check(&self, p: &AppName) -> Result<(), ParamError> {
        check_name(&p.name)
    }

    async fn run(&self, p: AppName, _cx: JobContext) -> Result<Removed, ExecError> {
        let h = &self.0;
        h.send(AppCommand::Remove(p.name.clone())).await?;
        // The status answer comes after the removal's pass: the containers are gone.
        h.status().await?;
        let removed = h.store.delete_app(&p.name).await.map_err(store_error)?;
        Ok(Removed {
            app: p.name,
            removed,
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusParams {
    #[serde(default)]
    pub name: Option<String>,
}

pub struct Status(AppsHandle);

impl Executor for Status {
    type Params = StatusParams;
    type Output = Vec<ServiceStatus>;

    fn kind(&self) -> &'static str {
        "app.status"
    }

    fn check(&self, p: &StatusParams) -> Result<(), ParamError> {
        p.name.as_deref().map_or(Ok(()), check_name)
    }

    async fn run(&self, p: StatusParams, _cx: JobContext) -> Result<Vec<ServiceStatus>, ExecError> {
        let all = self.0.status().await?;
        let Some(name) = p.name else {
            return Ok(all);
        };
        let mine: Vec<_> = all.into_iter().filter(|s| s.app == name).collect();
        if mine.is_empty() {
            return Err(ExecError::new(
                "not_found",
                format!("no app named `{name}` is declared"),
            ));
        }
        Ok(mine)
    }
}

#[derive(Debug, Serialize)]
pub struct Listed {
    pub name: String,
    /// `job` or `dir`.
    pub source: String,
    /// Unix milliseconds.
    pub updated_at: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

pub struct List(AppsHandle);

impl Executor for List {
    type Params = NoParams;
    type Output = Vec<Listed>;

    fn kind(&self) -> &'static str {
        "app.list"
    }

    async fn run(&self, _p: NoParams, _cx: JobContext) -> Result<Vec<Listed>, ExecError> {
        self.0.loaded().await?;
        let rows = self.0.store.apps().await.map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|r| Listed {
                name: r.name,
                source: r.source,
                updated_at: r.updated_at,
            })
            .collect())
    }
}
