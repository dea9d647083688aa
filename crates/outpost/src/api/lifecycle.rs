//! `/v1/config` and `/v1/agent/{restart,shutdown}`: the agent's lifecycle over the local
//! API. Registered by the `lifecycle` component; the work is `crate::lifecycle`'s.

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    body::decode,
    error::{ApiError, ErrorBody},
};
use crate::{
    components::ApiRoute,
    lifecycle::{Applied, ConfigRejected, Lifecycle},
};

/// A change sets a few keys; anything larger is not a config change.
const MAX_CONFIG_BODY: usize = 64 * 1024;

/// The effective configuration.
#[derive(Serialize, ToSchema)]
pub struct ConfigView {
    /// The config file this agent reads (null: none, built-in defaults and environment).
    pub file: Option<String>,
    /// Every set key: `{"value", "origin"}`; secrets are `[redacted]`.
    #[schema(value_type = Object)]
    pub values: serde_json::Value,
}

/// What a change did.
#[derive(Serialize, ToSchema)]
pub struct ConfigChanged {
    pub file: String,
    #[serde(flatten)]
    pub applied: Applied,
}

/// A lifecycle action was accepted; it runs once this reply is sent.
#[derive(Serialize, ToSchema)]
pub struct ActionAccepted {
    /// `restart` or `shutdown`.
    pub action: &'static str,
}

#[utoipa::path(get, path = "/v1/config",
    responses((status = 200, description = "The effective configuration, secrets redacted", body = ConfigView)),
    security(("bearer" = [])), tag = "agent")]
pub async fn get_config(State(l): State<Lifecycle>) -> Json<ConfigView> {
    Json(ConfigView {
        file: l.file().map(|p| p.display().to_string()),
        values: l.config_view(),
    })
}

/// Sets keys (dotted names, `{"log.level": "debug"}`) in the config file: validated as
/// `outpost config check` would, written atomically, applied live where possible.
#[utoipa::path(put, path = "/v1/config",
    request_body(content = Object, description = "Dotted key names and their new values"),
    responses(
        (status = 200, description = "Written; what applies now and what after a restart", body = ConfigChanged),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 409, description = "The agent runs without a config file", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "A key or value is invalid (named in `field`); nothing was written", body = ErrorBody)),
    security(("bearer" = [])), tag = "agent")]
pub async fn put_config(
    State(l): State<Lifecycle>,
    body: axum::body::Bytes,
) -> Result<Json<ConfigChanged>, ApiError> {
    if body.len() > MAX_CONFIG_BODY {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("a config change is at most {MAX_CONFIG_BODY} bytes"),
        ));
    }
    let changes: serde_json::Map<String, serde_json::Value> = decode(&body)?;
    if changes.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "give at least one key to set, e.g. {\"log.level\": \"debug\"}",
        ));
    }
    let mut list = Vec::with_capacity(changes.len());
    for (k, v) in changes {
        let value = to_toml(&v).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                "a value is a string, number, boolean or an array of them",
            )
            .field(k.clone())
        })?;
        list.push((k, value));
    }
    let file = l
        .file()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    // File I/O and fsync: off the runtime's threads.
    let res = tokio::task::spawn_blocking(move || l.set(list))
        .await
        .map_err(ApiError::internal)?;
    match res {
        Ok(applied) => Ok(Json(ConfigChanged { file, applied })),
        Err(e @ ConfigRejected::NoFile) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_config_file",
            e.to_string(),
        )),
        Err(e @ ConfigRejected::Io { .. }) => Err(ApiError::internal(e)),
        Err(e) => {
            let field = e.key().unwrap_or("").to_owned();
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                e.to_string(),
            )
            .field(field))
        }
    }
}

fn to_toml(v: &serde_json::Value) -> Option<toml::Value> {
    use serde_json::Value as J;
    Some(match v {
        J::String(s) => toml::Value::String(s.clone()),
        J::Bool(b) => toml::Value::Boolean(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        J::Array(a) => toml::Value::Array(a.iter().map(to_toml).collect::<Option<_>>()?),
        J::Null | J::Object(_) => return None,
    })
}

#[utoipa::path(post, path = "/v1/agent/restart",
    responses((status = 202, description = "Stopping gracefully, then starting again (same PID)", body = ActionAccepted)),
    security(("bearer" = [])), tag = "agent")]
pub async fn restart(State(l): State<Lifecycle>) -> impl IntoResponse {
    l.restart();
    (
        StatusCode::ACCEPTED,
        Json(ActionAccepted { action: "restart" }),
    )
}

#[utoipa::path(post, path = "/v1/agent/shutdown",
    responses((status = 202, description = "Stopping gracefully, then exiting", body = ActionAccepted)),
    security(("bearer" = [])), tag = "agent")]
pub async fn shutdown(State(l): State<Lifecycle>) -> impl IntoResponse {
    l.shutdown();
    (
        StatusCode::ACCEPTED,
        Json(ActionAccepted { action: "shutdown" }),
    )
}

#[cfg(feature = "openapi")]
macro_rules! doc_of {
    ($($h:path),+) => {
        || {
            let (_, doc): (axum::Router<Lifecycle>, _) = utoipa_axum::router::OpenApiRouter::new()
                .routes(utoipa_axum::routes!($($h),+))
                .split_for_parts();
            doc
        }
    };
}

// Without the document (router builds) nothing ever calls `doc`: an empty one, so that the
// handlers' descriptions are never referenced and the linker drops them with utoipa's
// builders.
#[cfg(not(feature = "openapi"))]
macro_rules! doc_of {
    ($($h:path),+) => {
        utoipa::openapi::OpenApi::default
    };
}

/// The three routes, bound to the lifecycle handle.
pub fn routes(l: &Lifecycle) -> Vec<ApiRoute> {
    use axum::routing::{get, post};
    vec![
        ApiRoute {
            path: "/v1/config",
            service: get(get_config).put(put_config).with_state(l.clone()),
            doc: doc_of!(get_config, put_config),
        },
        ApiRoute {
            path: "/v1/agent/restart",
            service: post(restart).with_state(l.clone()),
            doc: doc_of!(restart),
        },
        ApiRoute {
            path: "/v1/agent/shutdown",
            service: post(shutdown).with_state(l.clone()),
            doc: doc_of!(shutdown),
        },
    ]
}
