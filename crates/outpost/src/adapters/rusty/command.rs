//! `POST /agent/command/execute` and `POST /agent/job/execute`: run now, as `exec` jobs
//! through the dispatcher (source `rusty_agent:USER`), so every attempt, run or refused, is
//! in the exec audit log like any other.

use std::sync::Arc;

use axum::{extract::State, http::StatusCode, response::Response, Extension, Json};
use base64::Engine as _;
use outpost_core::{JobRecord, JobSpec, JobState};
use outpost_exec::Request;

use super::{
    auth::Authenticated,
    reply,
    wire::{CommandRequest, ScriptRequest},
    words::{self, Mapped},
    RustyState,
};

/// How an exec job ended, in the terms rusty_agent replies with.
pub enum Ran {
    /// Exit code 0: stdout.
    Ok(String),
    /// Ran and failed (non-zero exit, signal, timeout): stderr, or what happened.
    Failed(String),
    /// Refused by exec (audited) or not accepted: why.
    Refused(String),
}

/// Submits `req` as an `exec` job for `who`; waits for its result when `wait`.
pub async fn run(state: &RustyState, who: &str, req: &Request, wait: bool) -> Ran {
    let params = match serde_json::to_value(req) {
        Ok(p) => p,
        Err(e) => return Ran::Refused(format!("request not encodable: {e}")),
    };
    let spec = JobSpec {
        id: None,
        kind: crate::executors::exec::KIND.into(),
        params,
        timeout: state.default_timeout,
        source: format!("rusty_agent:{who}"),
    };
    let submitted = match state.dispatcher.submit(spec).await {
        Ok(s) => s,
        Err(e) if e.code() == "unknown_kind" => {
            tracing::warn!("compat.rusty: a command was asked for, but exec is off");
            return Ran::Refused("commands are off on this agent (exec.enabled = false)".into());
        }
        Err(e) => return Ran::Refused(format!("not accepted: {e}")),
    };
    if !wait {
        return Ran::Ok(String::new());
    }
    let mut done = submitted.done;
    let record = match done.wait_for(Option::is_some).await {
        Ok(r) => r.clone(),
        Err(_) => None,
    };
    match record {
        Some(r) => outcome(&r),
        None => Ran::Failed("the agent stopped before the command finished".into()),
    }
}

fn outcome(r: &JobRecord) -> Ran {
    let out = r.output.as_ref().map(|o| o.to_value());
    let text = |field: &str| {
        out.as_ref()
            .and_then(|o| o.get(field))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    match r.state {
        JobState::Succeeded => {
            let code = out
                .as_ref()
                .and_then(|o| o.pointer("/exit/code"))
                .and_then(|c| c.as_i64());
            if code == Some(0) {
                Ran::Ok(text("stdout"))
            } else {
                let why = match code {
                    Some(c) => format!("exit code {c}"),
                    None => "killed by a signal".to_owned(),
                };
                let err = text("stderr");
                Ran::Failed(if err.is_empty() { why } else { err })
            }
        }
        _ => {
            let (code, msg) = r
                .error
                .as_ref()
                .map(|e| (e.code.as_str(), e.message.as_str()))
                .unwrap_or((r.state.as_str(), ""));
            match code {
                "timeout" | "cancelled" | "interrupted" | "exec_failed" => {
                    Ran::Failed(format!("{code}: {msg}"))
                }
                _ => Ran::Refused(format!("{code}: {msg}")),
            }
        }
    }
}

/// `{"command": base64}`. Exit 0 → `{success:true, message:stdout}`; a failure → 500
/// `{success:false, message:"Command failed with error: <stderr>"}`; a refusal → 500
/// `{success:false, message:"Command refused: ..."}`; empty → 400 `"empty command"`.
pub async fn execute(
    State(state): State<Arc<RustyState>>,
    Extension(who): Extension<Authenticated>,
    Json(body): Json<CommandRequest>,
) -> Response {
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(body.command.trim()) else {
        return reply::text(StatusCode::BAD_REQUEST, "command: not standard base64");
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return reply::text(StatusCode::BAD_REQUEST, "command: not UTF-8 text");
    };
    let (req, shell_why) = match words::map(&text, &state.order, state.allow_inline) {
        Mapped::Empty => return reply::text(StatusCode::BAD_REQUEST, "empty command"),
        Mapped::Command(r) => (r, None),
        Mapped::Shell { request, why } => (request, Some(why)),
    };
    match run(&state, &who.0, &req, true).await {
        Ran::Ok(stdout) => reply::ok(stdout),
        Ran::Failed(err) => reply::fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Command failed with error: {err}"),
        ),
        Ran::Refused(why) => {
            let message = match shell_why {
                // Shell text while inline scripts are off: say why it was not a command.
                Some(s) if !state.allow_inline => format!(
                    "Command refused: {s}: only allowlisted commands run, as plain words \
                     (inline scripts are off: exec.allow_inline = false) [{why}]"
                ),
                _ => format!("Command refused: {why}"),
            };
            reply::fail(StatusCode::INTERNAL_SERVER_ERROR, message)
        }
    }
}

/// The interpreter of rusty_agent's `script_type`: 0 Python, 1 Bash.
pub fn interpreter(script_type: u64) -> Option<&'static str> {
    match script_type {
        0 => Some("python3"),
        1 => Some("bash"),
        _ => None,
    }
}

/// A ScriptRequest run now; `content` is the raw script (not base64 on this route). It is
/// an inline script: run when `exec.allow_inline` is on, otherwise refused by exec, which
/// audits the attempt.
pub async fn job_execute(
    State(state): State<Arc<RustyState>>,
    Extension(who): Extension<Authenticated>,
    Json(body): Json<ScriptRequest>,
) -> Response {
    let Some(interp) = interpreter(body.script_type) else {
        return reply::text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("The script type is invalid: {}", body.script_type),
        );
    };
    let content = body.content.replace('\r', "");
    let req = Request::inline(content.as_bytes(), Some(interp));
    let ran = run(
        &state,
        &who.0,
        &req,
        !body.async_exec || !state.allow_inline,
    )
    .await;
    match ran {
        Ran::Ok(_) if body.async_exec => reply::ok(if body.script_type == 1 {
            "Job running in the background"
        } else {
            "Job executing asynchronously"
        }),
        Ran::Ok(stdout) => reply::ok(stdout),
        Ran::Failed(err) => reply::fail(StatusCode::INTERNAL_SERVER_ERROR, err),
        Ran::Refused(why) if !state.allow_inline => reply::fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "Script refused: scripts sent in a request run only when exec.allow_inline = true \
                 on this agent [{why}]"
            ),
        ),
        Ran::Refused(why) => reply::fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Script refused: {why}"),
        ),
    }
}
