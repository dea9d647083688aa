//! Drives Reagent apps through Outpost's jobs: a `request_app_state` is kept (a file in the
//! data directory, replaced atomically, so the requests survive a restart), answered ∅ at
//! once, and carried out on a task of its own as `container.list`, `image.list`,
//! `image.pull`, `app.apply`, `app.remove` and `image.remove` jobs through the dispatcher
//! (source `reagent:request_app_state`): the adapter never touches the engine itself. Each
//! step's state goes to the backend in Reagent's vocabulary (see `app_reports.rs`).
//!
//! - RUNNING: (first seen and no container: REMOVED) → DOWNLOADING and a pull when the
//!   image is missing → PRESENT → STARTING → `app.apply` (which waits for the service to
//!   run) → RUNNING, or FAILED (the pull failed, a crash loop, no start by the deadline).
//! - PRESENT / STOPPED: STOPPING → `app.remove` → PRESENT (Reagent's stop removes the
//!   container, keeps the image).
//! - REMOVED / UNINSTALLED: STOPPING → `app.remove` → DELETING → `image.remove` → REMOVED.
//!
//! Transitions run one at a time (a lock), in request order. Before an app is declared,
//! its Reagent container (named and labelled as Reagent does) is mapped to it by an
//! adoption rule, so a container Reagent left running is taken over, not recreated.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use outpost_containers::apps::{AdoptRule, Adoptions, SPEC_HASH_LABEL};
use outpost_core::{Dispatcher, JobSpec, JobState};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::apps::{AppState, DeviceInfo, Request, Target, MAX_APPS, REAL_LABEL, SERVICE};

/// How long an image pull may take.
const PULL: Duration = Duration::from_secs(600);
/// How long `app.apply` waits for the app to run (it fails earlier on a crash loop).
const APPLY: Duration = Duration::from_secs(120);
/// Listings, removals.
const QUICK: Duration = Duration::from_secs(60);
/// The source of every job a transition submits.
const SOURCE: &str = "reagent:request_app_state";

/// One app: the request and the state last reported.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    request: Request,
    current: Option<AppState>,
}

/// A state for `update_app_on_device`, in order.
pub type Reports = mpsc::Sender<Value>;

pub struct AppDriver {
    dispatcher: Dispatcher,
    device: DeviceInfo,
    adoptions: Option<Adoptions>,
    /// Where the requests are kept.
    file: PathBuf,
    /// Relative paths of the Compose text resolve here (there are none).
    base_dir: PathBuf,
    book: Mutex<BTreeMap<String, Entry>>,
    /// One transition at a time.
    turn: tokio::sync::Mutex<()>,
    /// One write of the file at a time.
    saving: tokio::sync::Mutex<()>,
    reports: Reports,
    /// Reports dropped because the queue was full (`app_reports::DROPPED_METRIC`).
    dropped: prometheus_client::metrics::counter::Counter,
}

impl AppDriver {
    pub fn new(
        dispatcher: Dispatcher,
        device: DeviceInfo,
        adoptions: Option<Adoptions>,
        data_dir: PathBuf,
        reports: Reports,
        dropped: prometheus_client::metrics::counter::Counter,
    ) -> Self {
        let file = data_dir.join("reagent_apps.json");
        let book = match std::fs::read(&file) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                tracing::error!(file = %file.display(), error = %e, "reagent: the kept app requests do not parse; starting without");
                BTreeMap::new()
            }),
            Err(_) => BTreeMap::new(),
        };
        AppDriver {
            dispatcher,
            device,
            adoptions,
            file,
            base_dir: data_dir,
            book: Mutex::new(book),
            turn: tokio::sync::Mutex::new(()),
            saving: tokio::sync::Mutex::new(()),
            reports,
            dropped,
        }
    }

    fn book(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the book off the async workers (an fsync), one write at a time, each a
    /// snapshot taken under the write's turn: the file never goes back to an older one.
    async fn save(&self) -> Result<(), String> {
        let _turn = self.saving.lock().await;
        let text = serde_json::to_vec(&*self.book()).map_err(|e| e.to_string())?;
        let file = self.file.clone();
        let shown = file.display().to_string();
        tokio::task::spawn_blocking(move || crate::durable::replace_file(&file, &text, 0o600))
            .await
            .map_err(|e| format!("keeping the request in {shown}: {e}"))?
            .map_err(|e| format!("keeping the request in {shown}: {e}"))
    }

    /// `get_requested_app_states`: every kept request, Reagent's record shape.
    pub fn records(&self) -> Value {
        Value::Array(
            self.book()
                .values()
                .map(|e| e.request.record(e.current))
                .collect(),
        )
    }

    /// Whether `app` (an Outpost app name) is one of ours whose requested state is RUNNING.
    pub fn wants_running(&self, app: &str) -> bool {
        self.book()
            .get(app)
            .is_some_and(|e| e.request.target == Target::Running)
    }

    /// Keeps the request (stored before the caller is answered), then carries it out.
    pub async fn request(self: &Arc<Self>, r: Request) -> Result<(), String> {
        let name = r.container();
        {
            let mut book = self.book();
            if book.len() >= MAX_APPS && !book.contains_key(&name) {
                return Err(format!("at most {MAX_APPS} apps are kept"));
            }
            let current = book.get(&name).and_then(|e| e.current);
            book.insert(
                name.clone(),
                Entry {
                    request: r,
                    current,
                },
            );
        }
        self.save().await?;
        let me = self.clone();
        tokio::spawn(async move { me.drive(&name).await });
        Ok(())
    }

    /// The backend's requested states (`reswarm.containers.get_requested_app_states`,
    /// called after each join): each PROD record that differs from the kept request is
    /// requested; one that cannot be served is logged and skipped.
    pub fn sync(self: &Arc<Self>, records: Value) {
        let Value::Array(records) = records else {
            tracing::warn!("reagent: get_requested_app_states answered no list");
            return;
        };
        // Off the read loop: keeping a request writes a file.
        let me = self.clone();
        tokio::spawn(async move {
            for rec in &records {
                let r = match rec.as_object().map(super::apps::parse_record) {
                    Some(Ok(r)) => r,
                    Some(Err(e)) => {
                        tracing::warn!("reagent: a requested app state is skipped: {e}");
                        continue;
                    }
                    None => continue,
                };
                let same = me
                    .book()
                    .get(&r.container())
                    .is_some_and(|e| e.request == r);
                if same {
                    continue;
                }
                if let Err(e) = me.request(r).await {
                    tracing::warn!("reagent: a requested app state is skipped: {e}");
                }
            }
        });
    }

    /// At start: the kept RUNNING apps are requested again (Reagent re-requests PROD on
    /// connect), adopting what runs.
    pub async fn resume(self: Arc<Self>) {
        let names: Vec<String> = self
            .book()
            .iter()
            .filter(|(_, e)| e.request.target == Target::Running)
            .map(|(n, _)| n.clone())
            .collect();
        for name in names {
            self.drive(&name).await;
        }
    }

    /// Reports `state` for app `name` unless it is the one last reported.
    pub async fn report(&self, name: &str, state: AppState) {
        let payload = {
            let mut book = self.book();
            let Some(e) = book.get_mut(name) else {
                return;
            };
            if e.current == Some(state) {
                return;
            }
            e.current = Some(state);
            e.request.report(state, &self.device)
        };
        if let Err(e) = self.save().await {
            tracing::warn!("reagent: {e}");
        }
        tracing::info!(app = name, state = state.name(), "reagent: app state");
        if self.reports.try_send(payload).is_err() {
            self.dropped.inc();
            tracing::error!(
                app = name,
                state = state.name(),
                "reagent: the app state report queue is full; report dropped"
            );
        }
    }

    async fn job(&self, kind: &str, params: Value, timeout: Duration) -> Result<Value, String> {
        let spec = JobSpec {
            id: None,
            kind: kind.into(),
            params,
            timeout,
            source: SOURCE.into(),
        };
        let submitted = self
            .dispatcher
            .submit(spec)
            .await
            .map_err(|e| format!("{kind} refused: {}: {e}", e.code()))?;
        let rec = self
            .dispatcher
            .wait(submitted.id, timeout + Duration::from_secs(5))
            .await
            .map_err(|e| format!("the job store failed: {e}"))?
            .ok_or_else(|| format!("{kind}: the job was lost"))?;
        match rec.state {
            JobState::Succeeded => Ok(rec
                .output
                .as_ref()
                .map(|o| o.to_value())
                .unwrap_or(Value::Null)),
            s if !s.is_terminal() => Err(format!("{kind}: no result in time")),
            state => Err(rec
                .error
                .as_ref()
                .map(|e| format!("{kind}: {}: {}", e.code, e.message))
                .unwrap_or_else(|| format!("{kind}: {}", state.as_str()))),
        }
    }

    /// The container's engine state (`running`, `exited`, ...), when it exists.
    async fn container_state(&self, name: &str) -> Result<Option<String>, String> {
        let rows = self
            .job("container.list", json!({"all": true}), QUICK)
            .await?;
        Ok(rows.as_array().and_then(|rows| {
            rows.iter()
                .find(|r| r["name"] == name)
                .map(|r| r["state"].as_str().unwrap_or_default().to_owned())
        }))
    }

    async fn image_present(&self, image: &str) -> Result<bool, String> {
        let rows = self.job("image.list", json!({}), QUICK).await?;
        Ok(rows.as_array().is_some_and(|rows| {
            rows.iter().any(|r| {
                r["tags"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t == image))
            })
        }))
    }

    /// Carries out the kept request of `name` (the latest one when several came).
    async fn drive(&self, name: &str) {
        let _turn = self.turn.lock().await;
        let Some(entry) = self.book().get(name).cloned() else {
            return;
        };
        if let Err(e) = self.transition(name, &entry).await {
            tracing::warn!(app = name, "reagent: app transition failed: {e}");
            self.report(name, AppState::Failed).await;
        }
    }

    async fn transition(&self, name: &str, entry: &Entry) -> Result<(), String> {
        let r = &entry.request;
        let image = r.image(&self.device);
        let container = self.container_state(name).await?;
        match r.target {
            Target::Running => {
                match container.as_deref() {
                    Some("running") => self.report(name, AppState::Running).await,
                    Some(_) => self.report(name, AppState::Present).await,
                    // New to the device's books: REMOVED until its image is known.
                    None if entry.current.is_none() => self.report(name, AppState::Removed).await,
                    None => {}
                }
                if container.is_none() {
                    if !self.image_present(&image).await? {
                        self.report(name, AppState::Downloading).await;
                        self.job("image.pull", json!({"image": image}), PULL)
                            .await?;
                    }
                    self.report(name, AppState::Present).await;
                }
                if container.as_deref() != Some("running") {
                    self.report(name, AppState::Starting).await;
                }
                let compose = r.compose(&self.device);
                self.adopt(name, &compose)?;
                self.job(
                    "app.apply",
                    json!({"name": name, "compose": compose}),
                    APPLY,
                )
                .await?;
                self.report(name, AppState::Running).await;
            }
            Target::Present | Target::Removed => {
                if container.is_some() || entry.current == Some(AppState::Running) {
                    self.report(name, AppState::Stopping).await;
                }
                // The declared app (if any) and its containers; an adopted container is
                // the app's and goes with it.
                self.job("app.remove", json!({"name": name}), QUICK).await?;
                if let Some(a) = &self.adoptions {
                    a.forget(name);
                }
                if container.is_some() && self.container_state(name).await?.is_some() {
                    // A container of Reagent's not (yet) adopted: Reagent's stop removes it.
                    self.job(
                        "container.remove",
                        json!({"id": name, "force": true}),
                        QUICK,
                    )
                    .await?;
                }
                if r.target == Target::Removed {
                    self.report(name, AppState::Deleting).await;
                    if self.image_present(&image).await? {
                        self.job("image.remove", json!({"image": image}), QUICK)
                            .await?;
                    }
                    self.report(name, AppState::Removed).await;
                } else {
                    self.report(name, AppState::Present).await;
                }
            }
        }
        Ok(())
    }

    /// The adoption rule for Reagent's container of app `name`, taken as the declared spec.
    fn adopt(&self, name: &str, compose: &str) -> Result<(), String> {
        let Some(a) = &self.adoptions else {
            return Ok(());
        };
        let app = outpost_containers::apps::parse(compose.as_bytes(), name, &self.base_dir)
            .map_err(|e| format!("the app's Compose text: {e}"))?;
        let spec = app
            .services
            .get(SERVICE)
            .ok_or("the app's Compose text has no service")?;
        let run = outpost_containers::apps::to_run_spec(name, SERVICE, spec)
            .map_err(|e| e.to_string())?;
        let hash = run.labels.get(SPEC_HASH_LABEL).cloned().unwrap_or_default();
        a.set(
            name,
            AdoptRule {
                app: name.to_owned(),
                service: SERVICE.to_owned(),
                label: (REAL_LABEL.0.to_owned(), REAL_LABEL.1.to_owned()),
                spec_hash: hash,
            },
        )
        .map_err(|e| e.to_string())
    }
}
