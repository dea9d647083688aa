//! Query-string and path extractors whose every failure is our JSON error naming the
//! parameter. axum's own `Query` and `Path` answer `text/plain`; every handler takes these
//! instead, so no parameter error anywhere escapes the documented shape.

use axum::{
    extract::{rejection::PathRejection, rejection::QueryRejection, FromRequestParts},
    http::{request::Parts, StatusCode},
};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Decoded query string. A bad value is a 400 `invalid_query` whose `field` is the parameter.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(query_error)
    }
}

fn query_error(rejection: QueryRejection) -> ApiError {
    // axum deserializes through serde_path_to_error; the path it reports is the parameter.
    // The error sits two `source()` levels down (rejection, then axum's boxed error), typed as
    // serde_urlencoded's error, which is serde's own `value::Error`.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&rejection);
    while let Some(e) = source {
        if let Some(e) = e.downcast_ref::<serde_path_to_error::Error<serde::de::value::Error>>() {
            let inner = e.inner().to_string();
            let path = e.path().to_string();
            let field = if path == "." {
                // Whole-struct errors (`duplicate field `wait``) name the field in the text.
                backticked(&inner).unwrap_or_default()
            } else {
                path
            };
            let msg = if field.is_empty() {
                format!("invalid query string: {inner}")
            } else {
                format!("query parameter `{field}`: {inner}")
            };
            return ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", msg).field(field);
        }
        source = e.source();
    }
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_query",
        rejection.body_text(),
    )
}

/// The first `` `name` `` in a serde message.
fn backticked(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let len = msg.get(start..)?.find('`')?;
    msg.get(start..start + len).map(str::to_owned)
}

/// Decoded path parameters. A segment that is not valid percent-encoded UTF-8, or does not
/// parse, is a 400 `invalid_path` whose `field` is the parameter's name (`id`).
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(e) => Err(path_error(e)),
        }
    }
}

fn path_error(rejection: PathRejection) -> ApiError {
    use axum::extract::path::ErrorKind;
    let PathRejection::FailedToDeserializePathParams(e) = &rejection else {
        // MissingPathParams: a handler mounted on a route without its parameter, our bug.
        return ApiError::internal(rejection.body_text());
    };
    let (field, msg) = match e.kind() {
        ErrorKind::InvalidUtf8InPathParam { key } => (
            key.clone(),
            format!("path parameter `{key}` is not valid percent-encoded UTF-8"),
        ),
        ErrorKind::ParseErrorAtKey {
            key,
            value,
            expected_type,
        } => (
            key.clone(),
            format!(
                "path parameter `{key}`: cannot parse `{}` as {expected_type}",
                bounded(value)
            ),
        ),
        ErrorKind::DeserializeError {
            key,
            value,
            message,
        } => (
            key.clone(),
            format!("path parameter `{key}`: `{}`: {message}", bounded(value)),
        ),
        _ => (String::new(), e.body_text()),
    };
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", msg).field(field)
}

/// Echoed input is cut short: an error message must not carry a megabyte back.
pub fn bounded(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}
