//! The API's JSON shapes. The core's records are mapped here, at the edge.

use outpost_core::{JobError, JobRecord, OutboxItem, OutboxRow, RawJson};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitJob {
    /// Job kind, e.g. `echo`, `sleep`, `agent.info`.
    #[schema(example = "echo")]
    pub kind: String,
    /// The kind's parameters, any JSON value the kind takes (`echo` takes anything).
    /// Defaults to `{}`.
    #[serde(default = "empty_object")]
    #[schema(example = json!({"hello": "world"}))]
    pub params: serde_json::Value,
    /// Run deadline in milliseconds, at most `jobs.max_timeout_ms` (an hour by default).
    /// Defaults to `jobs.default_timeout_ms`.
    #[schema(minimum = 1, example = 5000)]
    pub timeout_ms: Option<u64>,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubmitQuery {
    /// Wait up to this many seconds (at most 300) for the result before answering.
    #[param(minimum = 0, maximum = 300, example = 5)]
    pub wait: Option<f64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only jobs in this state.
    #[param(value_type = Option<StateName>)]
    pub state: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Replay outbox rows after this sequence number before streaming live ones. Sequence
    /// numbers are SQLite rowids: at most 2^63 - 1.
    #[param(minimum = 0, maximum = 9223372036854775807_usize)]
    pub after: Option<u64>,
}

/// A job state, as the `state` filter takes it. Documentation only: the handler parses the
/// filter with `JobState`'s own names; `state_names_match_the_core` keeps the two equal.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // only its schema is used
pub enum StateName {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    TimedOut,
    Interrupted,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    pub id: String,
    pub kind: String,
    /// queued, running, succeeded, failed, cancelled, timed_out or interrupted.
    pub state: String,
    /// The job's parameters as stored, secrets redacted; any JSON value.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Option<serde_json::Value>)]
    pub params: Option<RawJson>,
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
    /// The result, once succeeded; any JSON value (its shape is the kind's). Written out as
    /// the executor made it: the text is shared with the store, never rebuilt.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Option<serde_json::Value>)]
    pub output: Option<RawJson>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<JobErrorView>,
    /// The id of the schedule that submitted the job; null for every other job.
    #[serde(default)]
    pub schedule: Option<String>,
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
            schedule: r.schedule,
        }
    }
}

/// One `/v1/events` frame: an outbox row in the API's shape, `{"seq","created_at","item"}`,
/// where a result's item is its [`JobView`] (as the uplinks send it) and an event's item is
/// [`EventView`], each tagged with `type`. Built here, at the edge, so the store's own row
/// format is free to change without changing the API (issue 12, item 5).
#[derive(Debug, Serialize)]
pub struct EventsRow<'a> {
    pub seq: u64,
    pub created_at: i64,
    pub item: EventsItem<'a>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventsItem<'a> {
    Result(JobView),
    Event(EventView<'a>),
}

/// Something the agent noticed (a trap, ...): `id`, `kind`, `at` (Unix ms) and its `payload`
/// (any JSON value; its shape is the kind's).
#[derive(Debug, Serialize)]
pub struct EventView<'a> {
    pub id: uuid::Uuid,
    pub kind: &'a str,
    pub at: i64,
    pub payload: &'a serde_json::value::RawValue,
}

impl<'a> From<&'a OutboxRow> for EventsRow<'a> {
    fn from(row: &'a OutboxRow) -> Self {
        EventsRow {
            seq: row.seq,
            created_at: row.created_at,
            item: match &row.item {
                // A clone of the record is a few short strings: its output is shared text.
                OutboxItem::Result(rec) => EventsItem::Result(JobView::from(rec.clone())),
                OutboxItem::Event(ev) => EventsItem::Event(EventView {
                    id: ev.id,
                    kind: &ev.kind,
                    at: ev.at,
                    payload: &ev.payload,
                }),
            },
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

#[cfg(test)]
mod tests {
    use utoipa::PartialSchema;

    #[test]
    fn state_names_match_the_core() {
        let schema = serde_json::to_value(super::StateName::schema()).unwrap_or_default();
        let documented: Vec<&str> = schema["enum"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let core: Vec<&str> = outpost_core::JobState::ALL
            .iter()
            .map(|s| s.as_str())
            .collect();
        assert_eq!(documented, core);
    }
}
