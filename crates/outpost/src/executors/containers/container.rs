//! `container.list`, `.inspect`, `.run`, `.start`, `.stop`, `.restart`, `.remove`,
//! `.stats`: one engine call each (run: create, then start).

use outpost_containers::containers::STATUSES;
use outpost_containers::{create, ContainerRow, ListFilter, RunSpec};
use outpost_core::{executor::ParamError, ExecError, Executor, JobContext, Registry};
use serde::{Deserialize, Serialize};

use super::{check_ref, job_error, Containers};

pub fn register(reg: &mut Registry, c: &Containers) {
    reg.register(List(c.clone()))
        .register(Inspect(c.clone()))
        .register(Run(c.clone()))
        .register(Start(c.clone()))
        .register(Stop(c.clone(), StopKind::Stop))
        .register(Stop(c.clone(), StopKind::Restart))
        .register(Remove(c.clone()))
        .register(Stats(c.clone()));
}

/// A job that names one container (by id or name).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub id: String,
}

pub struct List(Containers);

impl Executor for List {
    type Params = ListFilter;
    type Output = Vec<ContainerRow>;

    fn kind(&self) -> &'static str {
        "container.list"
    }

    fn check(&self, p: &ListFilter) -> Result<(), ParamError> {
        for (i, s) in p.status.iter().enumerate() {
            if !STATUSES.contains(&s.as_str()) {
                return Err(ParamError {
                    field: format!("status[{i}]"),
                    message: format!("one of {}", STATUSES.join(", ")),
                });
            }
        }
        for (field, list) in [("label", &p.label), ("name", &p.name)] {
            for (i, v) in list.iter().enumerate() {
                check_ref(&format!("{field}[{i}]"), v)?;
            }
        }
        Ok(())
    }

    async fn run(&self, p: ListFilter, cx: JobContext) -> Result<Vec<ContainerRow>, ExecError> {
        self.0.engine.list(&p, cx.deadline).await.map_err(job_error)
    }
}

pub struct Inspect(Containers);

impl Executor for Inspect {
    type Params = Target;
    /// The engine's inspect document, as the engine wrote it (its field names).
    type Output = outpost_containers::containers::Inspected;

    fn kind(&self) -> &'static str {
        "container.inspect"
    }

    fn check(&self, p: &Target) -> Result<(), ParamError> {
        check_ref("id", &p.id)
    }

    async fn run(&self, p: Target, cx: JobContext) -> Result<Self::Output, ExecError> {
        self.0
            .engine
            .inspect(&p.id, cx.deadline)
            .await
            .map_err(job_error)
    }
}

/// `container.run`'s params: a [`RunSpec`] and `start` (default true). Kept as the JSON
/// object so that [`Run::check`] can name the exact field at fault (`ports[0].host_port`):
/// `RunSpec` refuses unknown fields, which serde cannot combine with a flattened `start`.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct RunParams(serde_json::Map<String, serde_json::Value>);

impl RunParams {
    fn parse(&self) -> Result<(RunSpec, bool), ParamError> {
        let mut obj = self.0.clone();
        let start = match obj.remove("start") {
            None => true,
            Some(serde_json::Value::Bool(b)) => b,
            Some(_) => {
                return Err(ParamError {
                    field: "start".into(),
                    message: "must be true or false".into(),
                })
            }
        };
        let spec: RunSpec = serde_path_to_error::deserialize(serde_json::Value::Object(obj))
            .map_err(|e| {
                let field = e.path().to_string();
                ParamError {
                    field: if field == "." { String::new() } else { field },
                    message: e.into_inner().to_string(),
                }
            })?;
        create::check(&spec).map_err(|p| ParamError {
            field: p.field,
            message: p.message,
        })?;
        Ok((spec, start))
    }
}

#[derive(Debug, Serialize)]
pub struct RunOutput {
    pub id: String,
    pub started: bool,
}

pub struct Run(Containers);

impl Executor for Run {
    type Params = RunParams;
    type Output = RunOutput;

    fn kind(&self) -> &'static str {
        "container.run"
    }

    /// `privileged` without `containers.allow_privileged` is not a bad param but policy:
    /// the engine module refuses it (code `refused`), for jobs and declared apps alike.
    fn check(&self, p: &RunParams) -> Result<(), ParamError> {
        p.parse().map(drop)
    }

    async fn run(&self, p: RunParams, cx: JobContext) -> Result<RunOutput, ExecError> {
        let (spec, start) = p
            .parse()
            .map_err(|e| ExecError::new("invalid_params", e.to_string()))?;
        let engine = &self.0.engine;
        let id = engine.create(&spec, cx.deadline).await.map_err(job_error)?;
        if start {
            if let Err(e) = engine.start(&id, cx.deadline).await {
                // A container that cannot start is not left behind half-made.
                let _ = engine.remove(&id, true, false, cx.deadline).await;
                return Err(job_error(e));
            }
        }
        Ok(RunOutput { id, started: start })
    }
}

#[derive(Debug, Serialize)]
pub struct Done {
    pub id: String,
    pub done: &'static str,
}

pub struct Start(Containers);

impl Executor for Start {
    type Params = Target;
    type Output = Done;

    fn kind(&self) -> &'static str {
        "container.start"
    }

    fn check(&self, p: &Target) -> Result<(), ParamError> {
        check_ref("id", &p.id)
    }

    async fn run(&self, p: Target, cx: JobContext) -> Result<Done, ExecError> {
        self.0
            .engine
            .start(&p.id, cx.deadline)
            .await
            .map_err(job_error)?;
        Ok(Done {
            id: p.id,
            done: "started",
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopParams {
    pub id: String,
    /// Seconds between SIGTERM and SIGKILL; the engine's default (10) when absent.
    #[serde(default)]
    pub timeout_secs: Option<u32>,
}

#[derive(Clone, Copy)]
enum StopKind {
    Stop,
    Restart,
}

pub struct Stop(Containers, StopKind);

impl Executor for Stop {
    type Params = StopParams;
    type Output = Done;

    fn kind(&self) -> &'static str {
        match self.1 {
            StopKind::Stop => "container.stop",
            StopKind::Restart => "container.restart",
        }
    }

    fn check(&self, p: &StopParams) -> Result<(), ParamError> {
        check_ref("id", &p.id)?;
        if p.timeout_secs.is_some_and(|t| t > 3600) {
            return Err(ParamError {
                field: "timeout_secs".into(),
                message: "at most 3600".into(),
            });
        }
        Ok(())
    }

    async fn run(&self, p: StopParams, cx: JobContext) -> Result<Done, ExecError> {
        let e = &self.0.engine;
        let done = match self.1 {
            StopKind::Stop => e
                .stop(&p.id, p.timeout_secs, cx.deadline)
                .await
                .map(|_| "stopped"),
            StopKind::Restart => e
                .restart(&p.id, p.timeout_secs, cx.deadline)
                .await
                .map(|_| "restarted"),
        }
        .map_err(job_error)?;
        Ok(Done { id: p.id, done })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveParams {
    pub id: String,
    /// Kill it first if it runs.
    #[serde(default)]
    pub force: bool,
    /// Also its anonymous volumes.
    #[serde(default)]
    pub volumes: bool,
}

pub struct Remove(Containers);

impl Executor for Remove {
    type Params = RemoveParams;
    type Output = Done;

    fn kind(&self) -> &'static str {
        "container.remove"
    }

    fn check(&self, p: &RemoveParams) -> Result<(), ParamError> {
        check_ref("id", &p.id)
    }

    async fn run(&self, p: RemoveParams, cx: JobContext) -> Result<Done, ExecError> {
        self.0
            .engine
            .remove(&p.id, p.force, p.volumes, cx.deadline)
            .await
            .map_err(job_error)?;
        Ok(Done {
            id: p.id,
            done: "removed",
        })
    }
}

pub struct Stats(Containers);

impl Executor for Stats {
    type Params = Target;
    type Output = outpost_containers::stats::StatsSample;

    fn kind(&self) -> &'static str {
        "container.stats"
    }

    fn check(&self, p: &Target) -> Result<(), ParamError> {
        check_ref("id", &p.id)
    }

    async fn run(&self, p: Target, cx: JobContext) -> Result<Self::Output, ExecError> {
        self.0
            .engine
            .stats(&p.id, cx.deadline)
            .await
            .map_err(job_error)
    }
}
