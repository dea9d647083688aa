//! The container engine (`containers.*`, issue 15): registers the `container.*`, `image.*`
//! and `app.*` kinds over one lazily connected engine handle. No socket at start: the
//! first container job connects, or the apps reconciler once an app is declared.
//! Registered after `exec`, whose allowlist and audit log `container.exec` uses.
//!
//! Declared apps: the ones stored (table `apps`) and the files of `containers.apps_dir`
//! are loaded at start. A file and a job naming the same app: the job's wins until the
//! file changes (its mtime is newer than the job's apply), then the file's. A stored `dir`
//! app whose file is gone is undeclared. The reconciler task starts with the first app and
//! stops with the drain; its reports and the engine's events for managed containers go
//! to the outbox (`container.start`, `container.die`, `container.oom`, `container.health`,
//! `app.crash_loop`, `app.action_failed`).

use std::path::{Path, PathBuf};

use outpost_containers::apps::reconcile::{
    self, AppCommand, AppEvent, EngineEvent, EngineEventKind,
};
use outpost_containers::apps::{Adoptions, AppSpec, BackoffConfig, Health, OnEngine};
use outpost_containers::Engine;
use outpost_core::{AppRow, Event, EventIds, Store};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::executors::containers::apps::{self as app_kinds, parse_app, AppsHandle};
use crate::executors::containers::{self, ContainerMetrics, Containers};

use super::{exec::SharedExec, Component, Registrar, Shared, Start};

pub const NAME: &str = "containers";

/// The engine and its disk guard, for the adapters that report on them (the Reagent
/// heartbeat's figures and EMERGENCY): `r.common::<SharedEngine>`, `None` while
/// containers are off. Components that ask register after this one.
#[derive(Clone)]
pub struct SharedEngine(pub Option<(Engine, Option<super::containers_disk::DiskWatch>)>);

/// The apps reconciler's adoption rules (`outpost_containers::apps::adopt`), for a
/// drop-in adapter that takes over another agent's containers (Reagent's):
/// `r.common::<SharedAdoptions>`, `None` while containers are off.
#[derive(Clone)]
pub struct SharedAdoptions(pub Option<Adoptions>);

struct ContainersComponent {
    engine: Engine,
    logs_max_lines: usize,
    logs_max_lines_per_sec: u32,
    apps_dir: Option<PathBuf>,
    backoff: BackoffConfig,
    data_dir: PathBuf,
    apps: Option<(AppsHandle, mpsc::Receiver<AppCommand>, watch::Sender<bool>)>,
    metrics: super::containers_metrics::Options,
    disk: Option<super::containers_disk::DiskWatch>,
    adoptions: Adoptions,
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
        apps_dir: c.apps_dir.as_ref().map(PathBuf::from),
        backoff: c.backoff(),
        data_dir: shared.data_dir.clone(),
        apps: None,
        metrics: super::containers_metrics::Options::from_config(c),
        disk,
        adoptions: Adoptions::default(),
    })))
}

impl Component for ContainersComponent {
    fn register(&mut self, r: &mut Registrar<'_>) -> anyhow::Result<()> {
        let exec = r.common::<SharedExec>(|_| SharedExec(None)).0;
        let shared = (self.engine.clone(), self.disk.clone());
        r.common::<SharedEngine>(move |_| SharedEngine(Some(shared)));
        let adoptions = self.adoptions.clone();
        r.common::<SharedAdoptions>(move |_| SharedAdoptions(Some(adoptions)));
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
        let (handle, rx, loaded) = AppsHandle::new(r.shared.store.clone(), self.data_dir.clone());
        app_kinds::register(r.kinds, &handle);
        self.apps = Some((handle, rx, loaded));
        Ok(())
    }

    fn start(self: Box<Self>, cx: &mut Start<'_>) -> anyhow::Result<()> {
        // The disk guard's timer looks only while the engine is connected.
        if let Some(disk) = self.disk {
            cx.spawn(disk.run(cx.stop_token()));
        }
        let Some((_handle, rx, loaded)) = self.apps else {
            return Ok(());
        };
        let store = cx.shared.store.clone();
        let stop = cx.stop_token();
        let (engine, backoff, data_dir, apps_dir) =
            (self.engine, self.backoff, self.data_dir, self.apps_dir);
        let adoptions = self.adoptions;
        cx.spawn(async move {
            let initial = load(&store, &data_dir, apps_dir.as_deref()).await;
            // `app.apply` and `app.list` wait for this: the store now holds the start's apps.
            loaded.send_replace(true);
            let engine = OnEngine::new(engine, None).with_adoptions(adoptions);
            supervise(engine, store, backoff, initial, rx, stop).await;
        });
        Ok(())
    }
}

/// Waits for the first app (none declared: no task touches the engine), then runs the
/// reconciler until the drain.
async fn supervise(
    engine: OnEngine,
    store: Store,
    backoff: BackoffConfig,
    mut initial: Vec<AppSpec>,
    mut rx: mpsc::Receiver<AppCommand>,
    stop: CancellationToken,
) {
    while initial.is_empty() {
        let cmd = tokio::select! {
            () = stop.cancelled() => return,
            c = rx.recv() => c,
        };
        match cmd {
            None => return,
            Some(AppCommand::Apply(app)) => initial.push(app),
            Some(AppCommand::Status(reply)) => drop(reply.send(Vec::new())),
            Some(AppCommand::Remove(_)) => {}
        }
    }
    tracing::info!(apps = initial.len(), "containers: apps reconciler started");
    let (tap_tx, tap_rx) = mpsc::channel(256);
    let (out_tx, out_rx) = mpsc::channel(64);
    let on_engine = engine.with_tap(tap_tx);
    let publisher = tokio::spawn(publish(store, tap_rx, out_rx));
    tokio::select! {
        () = stop.cancelled() => {}
        () = reconcile::run(on_engine, initial, backoff, rx, out_tx) => {}
    }
    // The reconciler (and its engine handle, the tap's sender) is dropped: the publisher
    // stores what is left and ends.
    let _ = publisher.await;
}

/// The engine's events for managed containers and the reconciler's reports, to the outbox.
async fn publish(
    store: Store,
    mut tap: mpsc::Receiver<EngineEvent>,
    mut out: mpsc::Receiver<AppEvent>,
) {
    let mut ids = EventIds::new();
    loop {
        let (kind, payload) = tokio::select! {
            Some(ev) = tap.recv() => engine_event(ev),
            Some(ev) = out.recv() => app_event(ev),
            else => return,
        };
        let Ok(payload) = serde_json::value::to_raw_value(&payload) else {
            continue;
        };
        if let Err(e) = store
            .append_events(vec![Event::encoded(&mut ids, kind, payload)])
            .await
        {
            tracing::error!(error = %e, kind, "containers: storing an app event failed");
        }
    }
}

fn engine_event(ev: EngineEvent) -> (&'static str, serde_json::Value) {
    let label = |k: &str| ev.labels.get(k).cloned();
    let mut v = serde_json::json!({
        "id": ev.id,
        "name": label("name"),
        "app": label(outpost_containers::apps::APP_LABEL),
        "service": label(outpost_containers::apps::SERVICE_LABEL),
    });
    let kind = match ev.kind {
        EngineEventKind::Start => "container.start",
        EngineEventKind::Die { exit_code } => {
            v["exit_code"] = serde_json::json!(exit_code);
            "container.die"
        }
        EngineEventKind::Oom => "container.oom",
        EngineEventKind::Health(h) => {
            v["health"] = serde_json::json!(match h {
                Health::Starting => "starting",
                Health::Healthy => "healthy",
                Health::Unhealthy => "unhealthy",
            });
            "container.health"
        }
    };
    (kind, v)
}

fn app_event(ev: AppEvent) -> (&'static str, serde_json::Value) {
    let kind = match &ev {
        AppEvent::CrashLoop { .. } => "app.crash_loop",
        AppEvent::ActionFailed { .. } => "app.action_failed",
    };
    let mut v = serde_json::to_value(&ev).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("event");
    }
    (kind, v)
}

/// The declared apps at start: the stored ones, reconciled with `apps_dir`'s files.
async fn load(store: &Store, data_dir: &Path, apps_dir: Option<&Path>) -> Vec<AppSpec> {
    let mut rows = match store.apps().await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "containers: cannot read the stored apps; none declared");
            return Vec::new();
        }
    };
    if let Some(dir) = apps_dir {
        let files = read_dir(dir);
        // A stored `dir` app whose file is gone is undeclared.
        for r in rows.iter().filter(|r| r.source == "dir") {
            if !files.iter().any(|f| f.row.name == r.name) {
                tracing::info!(app = %r.name, "containers: app file gone; app undeclared");
                if let Err(e) = store.delete_app(&r.name).await {
                    tracing::error!(error = %e, "containers: cannot forget an app");
                }
            }
        }
        rows.retain(|r| r.source != "dir" || files.iter().any(|f| f.row.name == r.name));
        for f in files {
            let stored = rows.iter().position(|r| r.name == f.row.name);
            // The job's apply wins until the file changes after it.
            let keep_job = stored
                .and_then(|i| rows.get(i))
                .is_some_and(|r| r.source == "job" && r.updated_at >= f.row.updated_at);
            if keep_job {
                tracing::info!(app = %f.row.name, "containers: app file older than the job's apply; the job's stands");
                continue;
            }
            if stored.and_then(|i| rows.get(i)) != Some(&f.row) {
                if let Err(e) = store.put_app(f.row.clone()).await {
                    tracing::error!(error = %e, "containers: cannot store an app");
                }
            }
            match stored {
                Some(i) => rows[i] = f.row,
                None => rows.push(f.row),
            }
        }
    }
    let mut apps = Vec::new();
    for r in rows {
        let base = match (&*r.source, apps_dir) {
            ("dir", Some(d)) => d.to_path_buf(),
            _ => data_dir.to_path_buf(),
        };
        match parse_app(&r.name, &r.spec, &base) {
            Ok(a) => apps.push(a),
            Err(e) => {
                tracing::error!(app = %r.name, error = %e.message, "containers: a stored app no longer parses; skipped")
            }
        }
    }
    if !apps.is_empty() {
        tracing::info!(apps = apps.len(), "containers: apps declared");
    }
    apps
}

struct AppFile {
    row: AppRow,
}

/// The good files of `dir` (`*.yml`, `*.yaml`); a bad one is logged with its line and
/// skipped.
fn read_dir(dir: &Path) -> Vec<AppFile> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(dir = %dir.display(), error = %e, "containers: cannot read containers.apps_dir");
            return Vec::new();
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    paths.sort();
    let mut out: Vec<AppFile> = Vec::new();
    for p in paths {
        let Some(stem) = p.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let read = std::fs::read(&p).and_then(|b| {
            let mtime = std::fs::metadata(&p)?.modified()?;
            Ok((b, mtime))
        });
        let (bytes, mtime) = match read {
            Ok(x) => x,
            Err(e) => {
                tracing::error!(file = %p.display(), error = %e, "containers: cannot read an app file; skipped");
                continue;
            }
        };
        let app = match outpost_containers::apps::parse(&bytes, stem, dir) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(file = %p.display(), line = e.line(), error = %e, "containers: bad app file; skipped");
                continue;
            }
        };
        if out.iter().any(|f| f.row.name == app.name) {
            tracing::error!(file = %p.display(), app = %app.name, "containers: another file declares this app; skipped");
            continue;
        }
        let Ok(spec) = String::from_utf8(bytes) else {
            continue;
        };
        let updated_at = mtime
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        out.push(AppFile {
            row: AppRow {
                name: app.name,
                source: "dir".into(),
                spec,
                updated_at,
            },
        });
    }
    out
}
