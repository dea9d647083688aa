//! rusty_agent's two reply envelopes: a bare JSON body (a string, a number, an object) and
//! `ExecResponse` (`{"success":bool,"message":string}`).

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};

use super::wire::ExecResponse;

/// A bare JSON string, rusty_agent's `AxumResult` on both paths.
pub fn text(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(message.into())).into_response()
}

/// `{"success":true,"message":...}`, 200.
pub fn ok(message: impl Into<String>) -> Response {
    (
        StatusCode::OK,
        Json(ExecResponse {
            success: true,
            message: message.into(),
        }),
    )
        .into_response()
}

/// `{"success":false,"message":...}` with `status` (rusty_agent answers failures with 500).
pub fn fail(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(ExecResponse {
            success: false,
            message: message.into(),
        }),
    )
        .into_response()
}
