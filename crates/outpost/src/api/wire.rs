//! The API's JSON shapes. The core's records are mapped here, at the edge.

use outpost_core::{JobError, JobRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitJob {
    /// Job kind, e.g. `echo`, `sleep`, `agent.info`.
    pub kind: String,
    /// The kind's parameters. Defaults to `{}`.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// Run deadline in milliseconds. Defaults to `jobs.default_timeout_ms`.
    pub timeout_ms: Option<u64>,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubmitQuery {
    /// Wait up to this many seconds (at most 300) for the result before answering.
    pub wait: Option<f64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only jobs in this state: queued, running, succeeded, failed, cancelled, timed_out, interrupted.
    pub state: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Replay outbox rows after this sequence number before streaming live ones.
    pub after: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    pub id: String,
    pub kind: String,
    /// queued, running, succeeded, failed, cancelled, timed_out or interrupted.
    pub state: String,
    #[schema(value_type = Object)]
    #[serde(skip_serializing_if = "serde_json::Value::is_null", default)]
    pub params: serde_json::Value,
    pub timeout_ms: u64,
    pub source: String,
    /// Unix milliseconds.
    pub created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub started_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub finished_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_ms: Option<i64>,
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<JobErrorView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobErrorView {
    pub code: String,
    pub message: String,
}

impl From<JobRecord> for JobView {
    fn from(r: JobRecord) -> Self {
        let duration_ms = r.duration_ms();
        JobView {
            id: r.id.to_string(),
            kind: r.kind,
            state: r.state.as_str().to_owned(),
            params: r.params,
            timeout_ms: r.timeout_ms,
            source: r.source,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            duration_ms,
            output: r.output,
            error: r
                .error
                .map(|JobError { code, message }| JobErrorView { code, message }),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobList {
    pub jobs: Vec<JobView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
}
