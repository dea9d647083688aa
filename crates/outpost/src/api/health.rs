//! `/healthz`: unauthenticated liveness for load balancers and supervisors.

use axum::Json;

use super::wire::Health;

/// Liveness. Needs no token and reveals nothing but the version.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health)), tag = "agent")]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: crate::version::get().into(),
    })
}
