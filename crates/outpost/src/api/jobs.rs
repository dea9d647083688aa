//! `/v1/jobs`: submit, read, list, cancel.

use std::time::Duration;

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use outpost_core::{dispatcher::Cancel, JobId, JobSpec, JobState, SubmitError};

use super::{
    body::JsonBody,
    error::{ApiError, ErrorBody},
    extract::{bounded, Path, Query},
    wire::{JobList, JobView, ListQuery, SubmitJob, SubmitQuery},
    AppState,
};

/// The longest `?wait=` honoured; longer waits belong to `/v1/events`.
const MAX_WAIT_SECS: f64 = 300.0;

fn parse_id(id: &str) -> Result<JobId, ApiError> {
    id.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_id",
            format!("`{}` is not a job id (a UUID)", bounded(id)),
        )
        .field("id")
    })
}

fn submit_error(e: SubmitError) -> ApiError {
    let code = e.code();
    let msg = e.to_string();
    match e {
        SubmitError::UnknownKind { .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, msg).field("kind")
        }
        SubmitError::BadParams(p) => {
            let field = if p.field.is_empty() {
                "params".to_owned()
            } else {
                format!("params.{}", p.field)
            };
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", msg).field(field)
        }
        SubmitError::BadTimeout { .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", msg)
                .field("timeout_ms")
        }
        SubmitError::Busy { .. } => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, msg),
        SubmitError::ShuttingDown => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, msg),
        SubmitError::Duplicate(_) => ApiError::new(StatusCode::CONFLICT, code, msg),
        SubmitError::Store(e) => ApiError::internal(e),
    }
}

/// Decodes and validates a job submission body without running it: the path every byte of
/// a `POST /v1/jobs` body takes. The fuzz target and the proptests drive it directly.
pub fn decode_job(registry: &outpost_core::Registry, bytes: &[u8]) -> Result<SubmitJob, ApiError> {
    let job: SubmitJob = super::body::decode(bytes)?;
    registry
        .validate(&job.kind, &job.params)
        .map_err(submit_error)?;
    Ok(job)
}

/// Submit a job. Answers 202 with the job as accepted, or with `?wait=` 200 and the result
/// if it finishes in time (202 with its current state if not).
#[utoipa::path(post, path = "/v1/jobs", request_body = SubmitJob, params(SubmitQuery),
    responses(
        (status = 200, description = "Finished within ?wait", body = JobView),
        (status = 202, description = "Accepted", body = JobView),
        (status = 400, description = "Malformed JSON, or an invalid `wait`", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
        (status = 503, description = "Busy or shutting down", body = ErrorBody),
    ), security(("bearer" = [])), tag = "jobs")]
pub async fn submit(
    State(state): State<AppState>,
    Query(q): Query<SubmitQuery>,
    JsonBody(req): JsonBody<SubmitJob>,
) -> Result<Response, ApiError> {
    let wait = match q.wait {
        None => None,
        Some(w) if w.is_finite() && (0.0..=MAX_WAIT_SECS).contains(&w) => {
            Some(Duration::from_secs_f64(w))
        }
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("wait must be between 0 and {MAX_WAIT_SECS} seconds"),
            )
            .field("wait"))
        }
    };
    let timeout = Duration::from_millis(req.timeout_ms.unwrap_or(state.default_timeout_ms));
    let submitted = state
        .dispatcher
        .submit(JobSpec {
            id: None,
            kind: req.kind,
            params: req.params,
            timeout,
            source: "api".into(),
        })
        .await
        .map_err(submit_error)?;
    let record = match wait {
        Some(w) => state.dispatcher.wait(submitted.id, w).await,
        None => state.dispatcher.job(submitted.id).await,
    }
    .map_err(ApiError::internal)?
    .ok_or_else(|| ApiError::internal("accepted job vanished"))?;
    let status = if record.state.is_terminal() && wait.is_some() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(JobView::from(record))).into_response())
}

/// One job: live state while queued or running, its result once finished.
#[utoipa::path(get, path = "/v1/jobs/{id}", params(("id" = String, Path, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "Job id (a UUID)")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 400, description = "`id` is not a job id", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody)),
    security(("bearer" = [])), tag = "jobs")]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let id = parse_id(&id)?;
    let rec = state
        .dispatcher
        .job(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no job {id}")))?;
    Ok(Json(rec.into()))
}

/// Recent jobs, newest first.
#[utoipa::path(get, path = "/v1/jobs", params(ListQuery),
    responses(
        (status = 200, description = "Jobs, newest first", body = JobList),
        (status = 400, description = "Invalid `state` or `limit`", body = ErrorBody)),
    security(("bearer" = [])), tag = "jobs")]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<JobList>, ApiError> {
    let st = match q.state.as_deref() {
        None => None,
        Some(s) => Some(s.parse::<JobState>().map_err(|_| {
            let names: Vec<_> = JobState::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!(
                    "query parameter `state`: unknown state `{}`; expected one of {}",
                    bounded(s),
                    names.join(", ")
                ),
            )
            .field("state")
        })?),
    };
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "limit must be between 1 and 1000",
        )
        .field("limit"));
    }
    // Queued and running jobs live in the dispatcher; the store sees them as queued.
    let mut jobs = Vec::new();
    for rec in state
        .dispatcher
        .store()
        .jobs(
            st.map(|s| {
                if s == JobState::Running {
                    JobState::Queued
                } else {
                    s
                }
            }),
            limit,
        )
        .await
        .map_err(ApiError::internal)?
    {
        let live = if rec.state.is_terminal() {
            rec
        } else {
            state
                .dispatcher
                .job(rec.id)
                .await
                .map_err(ApiError::internal)?
                .unwrap_or(rec)
        };
        if st.is_none_or(|s| s == live.state) {
            jobs.push(JobView::from(live));
        }
    }
    Ok(Json(JobList { jobs }))
}

/// Cancel a queued or running job. Answers with its final record.
#[utoipa::path(delete, path = "/v1/jobs/{id}", params(("id" = String, Path, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "Job id (a UUID)")),
    responses(
        (status = 200, description = "Cancelled; the job's final record", body = JobView),
        (status = 400, description = "`id` is not a job id", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "Already finished", body = ErrorBody)),
    security(("bearer" = [])), tag = "jobs")]
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let id = parse_id(&id)?;
    match state
        .dispatcher
        .cancel(id)
        .await
        .map_err(ApiError::internal)?
    {
        Cancel::NotFound => Err(ApiError::not_found(format!("no job {id}"))),
        Cancel::AlreadyFinished(rec) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_finished",
            format!("job {id} already finished as {}", rec.state.as_str()),
        )),
        Cancel::Requested => {
            let rec = state
                .dispatcher
                .wait(id, Duration::from_secs(5))
                .await
                .map_err(ApiError::internal)?
                .ok_or_else(|| ApiError::not_found(format!("no job {id}")))?;
            Ok(Json(rec.into()))
        }
    }
}
