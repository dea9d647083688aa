//! `schedule.add`, `schedule.update`, `schedule.remove`, `schedule.list`: schedule CRUD as
//! job kinds, so the uplinks' envelope carries it like any other job (and its result comes
//! back through the outbox). Params: `schedule.add` and `schedule.update` take the schedule
//! as `POST /v1/schedules` does (`update` requires its `id`); `schedule.remove` takes
//! `{"id"}`; `schedule.list` takes nothing. Outputs are the API's shapes.

use outpost_core::{executor::ParamError, ExecError, Executor, JobContext, Registry};
use serde::{Deserialize, Serialize};

use crate::schedules::{ScheduleError, ScheduleSpec, ScheduleView, Schedules, Source};

pub fn register(reg: &mut Registry, s: Schedules) {
    reg.register(Add(s.clone()))
        .register(Update(s.clone()))
        .register(Remove(s.clone()))
        .register(List(s));
}

fn source(cx: &JobContext) -> Source {
    match cx.source.as_str() {
        "api" => Source::Api,
        s => match s.strip_prefix("uplink:") {
            Some(u) => Source::Uplink(u.to_owned()),
            None => Source::Adapter(s.strip_prefix("adapter:").unwrap_or(s).to_owned()),
        },
    }
}

fn exec_error(e: ScheduleError) -> ExecError {
    let code = match &e {
        ScheduleError::InvalidField { .. } => "invalid_field",
        ScheduleError::NotFound(_) => "not_found",
        ScheduleError::Exists(_) => "exists",
        ScheduleError::TooMany { .. } => "too_many",
        ScheduleError::NotRunning => "not_running",
        ScheduleError::Secret { .. } | ScheduleError::Store(_) => "internal",
    };
    ExecError::new(code, e.to_string())
}

fn decode(params: &serde_json::Value) -> Result<ScheduleSpec, ParamError> {
    ScheduleSpec::from_value(params.clone()).map_err(|e| ParamError {
        field: e.field,
        message: e.reason,
    })
}

/// The schedule's job params redacted by their own kind's executor: a schedule carries
/// the credentials of the jobs it submits, and this job's record must not.
fn redact_spec(s: &Schedules, params: &serde_json::Value) -> serde_json::Value {
    let mut out = params.clone();
    let kind = params
        .pointer("/job/kind")
        .and_then(|k| k.as_str())
        .unwrap_or("");
    let inner = params.pointer("/job/params").cloned().unwrap_or_default();
    let redacted = s
        .inner()
        .dispatcher
        .get()
        .and_then(|d| d.registry().redact(kind, &inner));
    if let Some(p) = out.pointer_mut("/job/params") {
        // Unknown kind (or not yet running): nothing of the params is kept.
        *p = redacted.unwrap_or(serde_json::Value::Null);
    }
    out
}

pub struct Add(Schedules);
pub struct Update(Schedules);
pub struct Remove(Schedules);
pub struct List(Schedules);

impl Executor for Add {
    type Params = serde_json::Value;
    type Output = ScheduleView;

    fn kind(&self) -> &'static str {
        "schedule.add"
    }

    fn check(&self, p: &serde_json::Value) -> Result<(), ParamError> {
        decode(p).map(drop)
    }

    fn redact(&self, params: &serde_json::Value) -> serde_json::Value {
        redact_spec(&self.0, params)
    }

    async fn run(&self, p: serde_json::Value, cx: JobContext) -> Result<ScheduleView, ExecError> {
        let spec = decode(&p).map_err(|e| ExecError::new("invalid_field", e.to_string()))?;
        self.0.add(spec, source(&cx)).await.map_err(exec_error)
    }
}

impl Executor for Update {
    type Params = serde_json::Value;
    type Output = ScheduleView;

    fn kind(&self) -> &'static str {
        "schedule.update"
    }

    fn check(&self, p: &serde_json::Value) -> Result<(), ParamError> {
        let spec = decode(p)?;
        if spec.id.is_none() {
            return Err(ParamError {
                field: "id".into(),
                message: "required: the schedule to update".into(),
            });
        }
        Ok(())
    }

    fn redact(&self, params: &serde_json::Value) -> serde_json::Value {
        redact_spec(&self.0, params)
    }

    async fn run(&self, p: serde_json::Value, cx: JobContext) -> Result<ScheduleView, ExecError> {
        let spec = decode(&p).map_err(|e| ExecError::new("invalid_field", e.to_string()))?;
        let id = spec.id.clone().unwrap_or_default();
        self.0
            .update(&id, spec, source(&cx))
            .await
            .map_err(exec_error)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveParams {
    id: String,
}

#[derive(Serialize)]
pub struct Removed {
    id: String,
    removed: bool,
}

impl Executor for Remove {
    type Params = RemoveParams;
    type Output = Removed;

    fn kind(&self) -> &'static str {
        "schedule.remove"
    }

    async fn run(&self, p: RemoveParams, _cx: JobContext) -> Result<Removed, ExecError> {
        let removed = self.0.remove(&p.id).await.map_err(exec_error)?;
        Ok(Removed { id: p.id, removed })
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListParams {}

#[derive(Serialize)]
pub struct Listed {
    schedules: Vec<ScheduleView>,
}

impl Executor for List {
    type Params = Option<ListParams>;
    type Output = Listed;

    fn kind(&self) -> &'static str {
        "schedule.list"
    }

    async fn run(&self, _p: Option<ListParams>, _cx: JobContext) -> Result<Listed, ExecError> {
        let schedules = self.0.list().await.map_err(exec_error)?;
        Ok(Listed { schedules })
    }
}
