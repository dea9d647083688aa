//! Saved jobs (`GET /agent/jobs`, `POST`/`PUT`/`DELETE /agent/job`, `PUT /agent/jobs/start`
//! and `stop`): each ScriptRequest becomes a schedule, id = `script_name`, on its cron
//! expression (rusty_agent's 6/7 fields translated, see `cron.rs`), whose job is an inline
//! `exec` script with the decoded content: so saving one needs `exec.allow_inline`. What
//! the schedule API does not hold (the original expression, `arguments`, `script_type`,
//! the OpenSearch fields) is kept in its labels, to answer `GET /agent/jobs?name=` with
//! what was saved. Unlike rusty_agent, a bad cron expression saves nothing, the content is
//! run as it was sent after decoding (never the base64 text), and a name is never spliced
//! into SQL.

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use base64::Engine as _;
use outpost_exec::Request;

use super::{
    command::interpreter,
    cron, reply,
    wire::{ScriptRequest, ScriptView},
    RustyState,
};
use crate::schedules::{
    JobTemplate, Missed, Overlap, ScheduleError, ScheduleSpec, ScheduleView, Source, When,
};

const L_CRON: &str = "rusty.cron_expression";
const L_ARGS: &str = "rusty.arguments";
const L_TYPE: &str = "rusty.script_type";
const L_INDEX: &str = "rusty.opensearch_index";
const L_ENABLED: &str = "rusty.opensearch_enabled";

fn source() -> Source {
    Source::Adapter("rusty".into())
}

/// Saved job names, for `metric`, `info` and `GET /agent/jobs`: every schedule's id.
pub async fn names(state: &RustyState) -> Vec<String> {
    match state.schedules.list().await {
        Ok(v) => v.into_iter().map(|s| s.id).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "compat.rusty: listing schedules failed");
            Vec::new()
        }
    }
}

fn view(s: &ScheduleView) -> ScriptView {
    let label = |k: &str| s.labels.get(k).cloned().unwrap_or_default();
    let cron = match s.labels.get(L_CRON) {
        Some(c) => c.clone(),
        None => s
            .when
            .get("cron")
            .and_then(|c| c.as_str())
            .unwrap_or_default()
            .to_owned(),
    };
    ScriptView {
        script_name: s.id.clone(),
        // Base64, as rusty_agent's table held the content of jobs saved over its API.
        content: s
            .job
            .pointer("/params/inline/content_base64")
            .and_then(|c| c.as_str())
            .unwrap_or_default()
            .to_owned(),
        arguments: label(L_ARGS),
        cron_expression: cron,
        script_type: label(L_TYPE).parse().unwrap_or(1),
        opensearch_index: label(L_INDEX),
        opensearch_enabled: label(L_ENABLED) == "true",
    }
}

/// `GET /agent/jobs` → the names; `GET /agent/jobs?name=N` → that job, or 500
/// `"Script does not exist"`.
pub async fn list(
    State(state): State<Arc<RustyState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(name) = q.get("name") else {
        return match state.schedules.list().await {
            Ok(v) => Json(v.into_iter().map(|s| s.id).collect::<Vec<_>>()).into_response(),
            Err(e) => reply::text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        };
    };
    match state.schedules.get(name).await {
        Ok(Some(s)) => Json(view(&s)).into_response(),
        Ok(None) => reply::text(StatusCode::INTERNAL_SERVER_ERROR, "Script does not exist"),
        Err(e) => reply::text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The schedule a ScriptRequest becomes, or the message of the 500 refusing it.
fn spec(state: &RustyState, b: &ScriptRequest) -> Result<ScheduleSpec, String> {
    let fail = |m: String| Err(m);
    if !state.allow_inline {
        return fail(format!(
            "Unable to save script {}: saved jobs run as inline scripts, which this agent \
             refuses (exec.allow_inline = false)",
            b.script_name
        ));
    }
    let Some(interp) = interpreter(b.script_type) else {
        return fail(format!("The script type is invalid: {}", b.script_type));
    };
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b.content.trim()) else {
        return fail(format!(
            "Unable to save script {}: content is not standard base64",
            b.script_name
        ));
    };
    // rusty_agent stripped carriage returns from the decoded script.
    let content: Vec<u8> = bytes.into_iter().filter(|c| *c != b'\r').collect();
    let expr = match cron::from_rusty(&b.cron_expression) {
        Ok(e) => e,
        Err(why) => return fail(format!("Error parsing the cron expression: {why}")),
    };
    let params = match serde_json::to_value(Request::inline(&content, Some(interp))) {
        Ok(p) => p,
        Err(e) => return fail(format!("Unable to save script {}: {e}", b.script_name)),
    };
    let labels = [
        (L_CRON, b.cron_expression.clone()),
        (L_ARGS, b.arguments.clone()),
        (L_TYPE, b.script_type.to_string()),
        (L_INDEX, b.opensearch_index.clone()),
        (L_ENABLED, b.opensearch_enabled.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Ok(ScheduleSpec {
        id: Some(b.script_name.clone()),
        when: When::Cron { expr, tz: None },
        job: JobTemplate {
            kind: crate::executors::exec::KIND.into(),
            params,
            timeout_ms: None,
        },
        // rusty_agent ran a job at its next due time after a restart, never a missed one,
        // and one at a time per job.
        missed: Missed::Skip,
        overlap: Overlap::Skip,
        jitter_ms: 0,
        labels,
    })
}

/// A schedule refusal in rusty_agent's terms: a cron field as its parse error, the rest
/// naming the field.
fn refused(name: &str, e: &ScheduleError) -> Response {
    let message = match e {
        ScheduleError::InvalidField { field, reason } if field.starts_with("when") => {
            format!("Error parsing the cron expression: {reason}")
        }
        ScheduleError::Exists(_) => {
            format!("Unable to save script {name}. Record already present.")
        }
        ScheduleError::NotFound(_) => {
            format!("Unable to update script {name}. Record not present.")
        }
        e => format!("Unable to save script {name}: {e}"),
    };
    reply::fail(StatusCode::INTERNAL_SERVER_ERROR, message)
}

pub async fn add(State(state): State<Arc<RustyState>>, Json(b): Json<ScriptRequest>) -> Response {
    let spec = match spec(&state, &b) {
        Ok(s) => s,
        Err(m) => return reply::fail(StatusCode::INTERNAL_SERVER_ERROR, m),
    };
    match state.schedules.add(spec, source()).await {
        Ok(_) => reply::ok("Script saved successfully"),
        Err(e) => refused(&b.script_name, &e),
    }
}

pub async fn update(
    State(state): State<Arc<RustyState>>,
    Json(b): Json<ScriptRequest>,
) -> Response {
    let spec = match spec(&state, &b) {
        Ok(s) => s,
        Err(m) => return reply::fail(StatusCode::INTERNAL_SERVER_ERROR, m),
    };
    match state.schedules.update(&b.script_name, spec, source()).await {
        Ok(_) => reply::ok("Script saved successfully"),
        Err(e) => refused(&b.script_name, &e),
    }
}

/// `DELETE /agent/job?script_name=N` → `"Script deleted successfully"`, or 500 str.
pub async fn remove(
    State(state): State<Arc<RustyState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(name) = q.get("script_name") else {
        return reply::text(StatusCode::BAD_REQUEST, "script_name: missing");
    };
    match state.schedules.remove(name).await {
        Ok(true) => reply::text(StatusCode::OK, "Script deleted successfully"),
        Ok(false) => reply::text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Unable to delete script {name}. Record not present."),
        ),
        Err(e) => reply::text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Every schedule runs again (rusty_agent's signal 1). Not persisted: a restart resumes.
pub async fn start(State(state): State<Arc<RustyState>>) -> Response {
    state.schedules.resume_all();
    reply::text(StatusCode::OK, "Job execution started")
}

/// Due times pass without runs until `jobs/start` (rusty_agent's signal 2).
pub async fn stop(State(state): State<Arc<RustyState>>) -> Response {
    state.schedules.pause_all();
    reply::text(StatusCode::OK, "Job execution stopped")
}
