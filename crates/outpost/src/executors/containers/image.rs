//! `image.list`, `image.pull` (progress as `image.pull` events; registry credentials in
//! the params are redacted before the job is stored, and never logged), `image.remove`,
//! `image.prune`, `image.load` (a `docker save` tar file on the device: the offline path).

use std::path::PathBuf;
use std::time::Instant;

use futures_util::StreamExt;
use outpost_containers::images::{ImageRow, PullProgress, RegistryAuth, Removed};
use outpost_core::{
    executor::ParamError, Event, EventIds, ExecError, Executor, JobContext, Registry,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{check_ref, job_error, stop_at, Containers, Pace};

/// Event kind of a pull's progress.
pub const PULL_EVENT: &str = "image.pull";
/// Progress events a pull sends per second at most (layers report many times a second).
const PULL_EVENTS_PER_SEC: u32 = 5;

pub fn register(reg: &mut Registry, c: &Containers) {
    reg.register(List(c.clone()))
        .register(Pull(c.clone()))
        .register(RemoveImage(c.clone()))
        .register(Prune(c.clone()))
        .register(Load(c.clone()));
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

pub struct List(Containers);

impl Executor for List {
    type Params = NoParams;
    type Output = Vec<ImageRow>;

    fn kind(&self) -> &'static str {
        "image.list"
    }

    async fn run(&self, _p: NoParams, cx: JobContext) -> Result<Vec<ImageRow>, ExecError> {
        self.0.engine.images(cx.deadline).await.map_err(job_error)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthParams {
    pub username: String,
    pub password: SecretString,
    /// The registry, e.g. `registry.example:5000`; the image's own when absent.
    #[serde(default)]
    pub server: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullParams {
    /// `name[:tag]` or `name@digest`; `latest` when no tag is given.
    pub image: String,
    #[serde(default)]
    pub auth: Option<AuthParams>,
}

#[derive(Debug, Serialize)]
pub struct PullOutput {
    pub image: String,
    /// The engine's last word, e.g. `Status: Downloaded newer image for ...`.
    pub status: String,
    pub progress_events: u64,
}

#[derive(Serialize)]
struct PullEvent<'a> {
    job: String,
    image: &'a str,
    #[serde(flatten)]
    progress: &'a PullProgress,
}

pub struct Pull(Containers);

impl Executor for Pull {
    type Params = PullParams;
    type Output = PullOutput;

    fn kind(&self) -> &'static str {
        "image.pull"
    }

    fn concurrency(&self) -> usize {
        4
    }

    fn check(&self, p: &PullParams) -> Result<(), ParamError> {
        check_ref("image", &p.image)?;
        if let Some(a) = &p.auth {
            if a.username.is_empty() {
                return Err(ParamError {
                    field: "auth.username".into(),
                    message: "must not be empty".into(),
                });
            }
        }
        Ok(())
    }

    /// The registry password never reaches the store, a log or an event.
    fn redact(&self, params: &serde_json::Value) -> serde_json::Value {
        let mut p = params.clone();
        if let Some(pw) = p.pointer_mut("/auth/password") {
            *pw = serde_json::Value::String("<redacted>".into());
        }
        p
    }

    async fn run(&self, p: PullParams, cx: JobContext) -> Result<PullOutput, ExecError> {
        let auth = p.auth.map(|a| RegistryAuth {
            username: a.username,
            password: a.password.expose_secret().to_owned(),
            server: a.server,
        });
        let c = &self.0;
        // Refused while the engine's data root is below containers.disk_guard_pct.
        if let Some(disk) = &c.disk {
            disk.admit_pull(cx.deadline).await?;
        }
        let mut progress = c
            .engine
            .pull(&p.image, auth, cx.deadline)
            .await
            .map_err(job_error)?;
        let end = tokio::time::Instant::from_std(stop_at(cx.deadline));
        let mut pace = Pace::new(PULL_EVENTS_PER_SEC);
        let mut ids = EventIds::new();
        let job = cx.id.to_string();
        let mut out = PullOutput {
            image: p.image.clone(),
            status: String::new(),
            progress_events: 0,
        };
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(end) => {
                    return Err(ExecError::new("timeout", format!(
                        "the pull of {} did not finish before the job's deadline (the engine may finish it)",
                        p.image
                    )));
                }
                next = progress.next() => match next {
                    None => break,
                    Some(Err(e)) => return Err(job_error(e)),
                    Some(Ok(step)) => {
                        out.status = step.status.clone();
                        if !pace.take(Instant::now()) {
                            continue;
                        }
                        let ev = PullEvent { job: job.clone(), image: &p.image, progress: &step };
                        if let Ok(payload) = serde_json::value::to_raw_value(&ev) {
                            let stored = c.store.append_events(vec![Event::encoded(&mut ids, PULL_EVENT, payload)]).await;
                            if let Err(e) = stored {
                                tracing::error!(error = %e, "containers: storing a pull progress event failed");
                            } else {
                                out.progress_events += 1;
                            }
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveParams {
    pub image: String,
    #[serde(default)]
    pub force: bool,
}

pub struct RemoveImage(Containers);

impl Executor for RemoveImage {
    type Params = RemoveParams;
    type Output = Removed;

    fn kind(&self) -> &'static str {
        "image.remove"
    }

    fn check(&self, p: &RemoveParams) -> Result<(), ParamError> {
        check_ref("image", &p.image)
    }

    async fn run(&self, p: RemoveParams, cx: JobContext) -> Result<Removed, ExecError> {
        self.0
            .engine
            .remove_image(&p.image, p.force, cx.deadline)
            .await
            .map_err(job_error)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneParams {
    /// Every unused image, not only dangling (untagged) ones.
    #[serde(default)]
    pub all: bool,
}

pub struct Prune(Containers);

impl Executor for Prune {
    type Params = PruneParams;
    type Output = Removed;

    fn kind(&self) -> &'static str {
        "image.prune"
    }

    async fn run(&self, p: PruneParams, cx: JobContext) -> Result<Removed, ExecError> {
        self.0
            .engine
            .prune_images(p.all, cx.deadline)
            .await
            .map_err(job_error)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadParams {
    /// An absolute path on this device to a `docker save` tar (optionally compressed, as
    /// the engine accepts).
    pub path: PathBuf,
}

#[derive(Debug, Serialize)]
pub struct LoadOutput {
    /// The engine's messages, e.g. `Loaded image: app:1`.
    pub loaded: Vec<String>,
}

pub struct Load(Containers);

impl Executor for Load {
    type Params = LoadParams;
    type Output = LoadOutput;

    fn kind(&self) -> &'static str {
        "image.load"
    }

    fn concurrency(&self) -> usize {
        2
    }

    fn check(&self, p: &LoadParams) -> Result<(), ParamError> {
        if !p.path.is_absolute() {
            return Err(ParamError {
                field: "path".into(),
                message: "must be an absolute path".into(),
            });
        }
        Ok(())
    }

    async fn run(&self, p: LoadParams, cx: JobContext) -> Result<LoadOutput, ExecError> {
        let meta = tokio::fs::metadata(&p.path)
            .await
            .map_err(|e| ExecError::new("not_found", format!("{}: {e}", p.path.display())))?;
        if !meta.is_file() {
            return Err(ExecError::new(
                "not_found",
                format!("{} is not a regular file", p.path.display()),
            ));
        }
        self.0
            .engine
            .load(&p.path, cx.deadline)
            .await
            .map(|loaded| LoadOutput { loaded })
            .map_err(job_error)
    }
}
