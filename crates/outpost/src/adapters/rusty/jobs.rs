//! Saved jobs (`GET /agent/jobs`, `POST`/`PUT`/`DELETE /agent/job`, `PUT /agent/jobs/start`
//! and `stop`): each ScriptRequest becomes a schedule. Until schedules are on this build,
//! these routes answer 501 in rusty_agent's envelope.

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{Query, State},
    response::Response,
    Json,
};

use super::{reply, wire::ScriptRequest, RustyState};

const NOT_YET: &str = "saved jobs are not available on this build (they become schedules)";

/// Saved job names, for `metric`, `info` and `GET /agent/jobs`.
pub async fn names(_state: &RustyState) -> Vec<String> {
    Vec::new()
}

pub async fn list(
    State(_state): State<Arc<RustyState>>,
    Query(_q): Query<HashMap<String, String>>,
) -> Response {
    reply::not_done(NOT_YET)
}

pub async fn add(State(_state): State<Arc<RustyState>>, Json(_b): Json<ScriptRequest>) -> Response {
    reply::not_done(NOT_YET)
}

pub async fn update(
    State(_state): State<Arc<RustyState>>,
    Json(_b): Json<ScriptRequest>,
) -> Response {
    reply::not_done(NOT_YET)
}

pub async fn remove(
    State(_state): State<Arc<RustyState>>,
    Query(_q): Query<HashMap<String, String>>,
) -> Response {
    reply::not_done(NOT_YET)
}

pub async fn start(State(_state): State<Arc<RustyState>>) -> Response {
    reply::not_done(NOT_YET)
}

pub async fn stop(State(_state): State<Arc<RustyState>>) -> Response {
    reply::not_done(NOT_YET)
}
