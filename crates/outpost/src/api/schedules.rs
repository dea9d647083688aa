//! `/v1/schedules`: list, add, read, replace and remove schedules. Routes of the schedules
//! component, bound to its [`Schedules`] handle (the API knows nothing of schedules).
//! Bad input: 400 for a body that is not JSON, 422 naming the field for a bad schedule (an
//! invalid cron expression names `when.cron`), 404 for an unknown id. A job's secret
//! params are never shown back.

use std::collections::BTreeMap;

use axum::{
    body::Body,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
    Json,
};
use outpost_schedule::DecodeError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    error::{ApiError, ErrorBody},
    extract::{bounded, Path},
};
use crate::{
    components::ApiRoute,
    schedules::{ScheduleError, ScheduleSpec, ScheduleView, Schedules, Source},
};

/// The largest schedule body: a job's params are rarely more than a few KiB.
pub const MAX_BODY: usize = 256 * 1024;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScheduleList {
    pub schedules: Vec<ScheduleView>,
}

/// A schedule as submitted. Only `when` and `job` are required.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documentation only: bodies are decoded by `ScheduleSpec::from_json`
pub struct NewSchedule {
    /// Letters, digits and `. _ - : @ +`, at most 128; generated when absent.
    id: Option<String>,
    /// `{"cron": "*/5 * * * *", "tz": "Europe/Oslo"}` (five fields, or six with seconds
    /// first; `tz` an IANA name, UTC if absent) or `{"every_ms": 60000}`.
    #[schema(value_type = Object, example = json!({"cron": "*/5 * * * *"}))]
    when: serde_json::Value,
    /// `{"kind": "snmp.get", "params": {...}, "timeout_ms": 10000}`.
    #[schema(value_type = Object, example = json!({"kind": "echo", "params": {"hello": "world"}}))]
    job: serde_json::Value,
    /// `skip` (default) or `run_once`: due times missed while the agent was stopped.
    missed: Option<String>,
    /// `skip` (default), `queue_one` or `allow`: a due time while the last job still runs.
    overlap: Option<String>,
    /// Up to this many milliseconds later than due (deterministic per schedule and time).
    jitter_ms: Option<u64>,
    labels: Option<BTreeMap<String, String>>,
}

/// The two routes, bound to `s`.
pub fn routes(s: Schedules) -> Vec<ApiRoute> {
    vec![
        ApiRoute {
            path: "/v1/schedules",
            service: get(list).post(add).with_state(s.clone()),
            doc,
        },
        ApiRoute {
            path: "/v1/schedules/{id}",
            service: get(read).put(replace).delete(remove).with_state(s),
            // Both paths are in the first route's document.
            doc: utoipa::openapi::OpenApi::default,
        },
    ]
}

fn doc() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(components(schemas(ScheduleView, ScheduleList, NewSchedule)))]
    struct Schemas;
    let (_, mut doc): (axum::Router<Schedules>, _) =
        utoipa_axum::router::OpenApiRouter::with_openapi(<Schemas as utoipa::OpenApi>::openapi())
            .routes(utoipa_axum::routes!(list, add))
            .routes(utoipa_axum::routes!(read, replace, remove))
            .split_for_parts();
    doc.info = Default::default();
    doc
}

/// The API's answer to a schedule error.
pub fn schedule_error(e: ScheduleError) -> ApiError {
    let msg = e.to_string();
    match e {
        ScheduleError::InvalidField { field, .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", msg).field(field)
        }
        ScheduleError::NotFound(_) => ApiError::not_found(msg),
        ScheduleError::Exists(_) => ApiError::new(StatusCode::CONFLICT, "exists", msg).field("id"),
        ScheduleError::TooMany { .. } => ApiError::new(StatusCode::CONFLICT, "too_many", msg),
        ScheduleError::NotRunning => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_running", msg)
        }
        ScheduleError::Secret { .. } | ScheduleError::Store(_) => ApiError::internal(msg),
    }
}

async fn decode(body: Body) -> Result<ScheduleSpec, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body exceeds {MAX_BODY} bytes"),
        )
    })?;
    ScheduleSpec::from_json(&bytes).map_err(|e| match e {
        DecodeError::Malformed(m) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("request body is not valid JSON: {m}"),
        ),
        DecodeError::Invalid(e) => schedule_error(e.into()),
    })
}

/// Every schedule, by id.
#[utoipa::path(get, path = "/v1/schedules", operation_id = "list_schedules",
    responses((status = 200, description = "Schedules, by id", body = ScheduleList)),
    security(("bearer" = [])), tag = "schedules")]
pub async fn list(State(s): State<Schedules>) -> Result<Json<ScheduleList>, ApiError> {
    let schedules = s.list().await.map_err(schedule_error)?;
    Ok(Json(ScheduleList { schedules }))
}

/// Add a schedule. Answers 201 with it, secrets redacted.
#[utoipa::path(post, path = "/v1/schedules", operation_id = "add_schedule", request_body = NewSchedule,
    responses(
        (status = 201, description = "Added", body = ScheduleView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 409, description = "The id is taken, or too many schedules", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Invalid field (`when.cron`, `job.params.x`...)", body = ErrorBody)),
    security(("bearer" = [])), tag = "schedules")]
pub async fn add(State(s): State<Schedules>, body: Body) -> Result<Response, ApiError> {
    let spec = decode(body).await?;
    let view = s.add(spec, Source::Api).await.map_err(schedule_error)?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// One schedule.
#[utoipa::path(get, path = "/v1/schedules/{id}", operation_id = "get_schedule", params(("id" = String, Path, description = "Schedule id")),
    responses(
        (status = 200, description = "The schedule", body = ScheduleView),
        (status = 404, description = "No such schedule", body = ErrorBody)),
    security(("bearer" = [])), tag = "schedules")]
pub async fn read(
    State(s): State<Schedules>,
    Path(id): Path<String>,
) -> Result<Json<ScheduleView>, ApiError> {
    s.get(&id)
        .await
        .map_err(schedule_error)?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no schedule {:?}", bounded(&id))))
}

/// Replace a schedule's spec. Due times before the change count as handled.
#[utoipa::path(put, path = "/v1/schedules/{id}", operation_id = "replace_schedule", params(("id" = String, Path, description = "Schedule id")),
    request_body = NewSchedule,
    responses(
        (status = 200, description = "Replaced", body = ScheduleView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, description = "No such schedule", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody)),
    security(("bearer" = [])), tag = "schedules")]
pub async fn replace(
    State(s): State<Schedules>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<ScheduleView>, ApiError> {
    let spec = decode(body).await?;
    match s.update(&id, spec, Source::Api).await {
        Err(ScheduleError::NotFound(_)) => Err(ApiError::not_found(format!(
            "no schedule {:?}",
            bounded(&id)
        ))),
        other => other.map(Json).map_err(schedule_error),
    }
}

/// Remove a schedule. A job it already submitted runs on.
#[utoipa::path(delete, path = "/v1/schedules/{id}", operation_id = "remove_schedule", params(("id" = String, Path, description = "Schedule id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such schedule", body = ErrorBody)),
    security(("bearer" = [])), tag = "schedules")]
pub async fn remove(
    State(s): State<Schedules>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if s.remove(&id).await.map_err(schedule_error)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "no schedule {:?}",
            bounded(&id)
        )))
    }
}
