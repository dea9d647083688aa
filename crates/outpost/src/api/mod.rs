//! The local API: axum, JSON everywhere, bearer token on everything but `/healthz`.
//!
//! The OpenAPI document comes from `routes!` declarations of the handlers, built on the first
//! request for it: building it allocates a few hundred KiB that an idle agent should not hold
//! (bench/host/RESULTS.md). The served routes are listed once more in [`router`], beside it;
//! `issue2_openapi_document_is_valid_and_covers_the_routes` requests every documented
//! operation and fails on the router's own 404 or 405, and
//! `issue10_schemathesis_finds_no_5xx_or_schema_violation` checks every response against the
//! document. Nothing checks the reverse (a served route missing from the document): keep
//! the two lists side by side.

mod auth;
pub mod body;
pub mod error;
mod events;
pub mod extract;
mod health;
#[cfg(not(feature = "http2"))]
pub mod http1;
pub mod jobs;
pub mod lifecycle;
pub mod metrics;
#[cfg(feature = "schedules")]
pub mod schedules;
pub mod tls;
pub mod wire;
#[cfg(feature = "ws")]
pub mod ws;

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{Request, State},
    http::StatusCode,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};
use outpost_core::{CoreMetrics, Dispatcher};
use prometheus_client::registry::Registry;
// The document's builders: left out with the `openapi` feature (router builds), so the
// routes' descriptions are never assembled and the linker drops them.
#[cfg(feature = "openapi")]
use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};
#[cfg(feature = "openapi")]
use utoipa_axum::{router::OpenApiRouter, routes};

pub use auth::TokenCheck;
use error::{ApiError, RejectCode};
use metrics::{ApiMetrics, CodeLabel};

/// What every handler may reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub dispatcher: Dispatcher,
    pub token: TokenCheck,
    pub registry: Arc<Registry>,
    pub core_metrics: CoreMetrics,
    pub api_metrics: ApiMetrics,
    pub started: Instant,
    pub default_timeout_ms: u64,
    pub max_body: usize,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        AppState(Arc::new(inner))
    }
}

#[cfg(feature = "openapi")]
#[derive(OpenApi)]
#[openapi(
    info(title = "Outpost local API", description = "Submit jobs, read results, stream the outbox."),
    modifiers(&BearerAuth),
    paths(health::healthz),
    components(schemas(error::ErrorBody, wire::JobView, wire::JobList, wire::Health, wire::StateName))
)]
struct ApiDoc;

#[cfg(feature = "openapi")]
struct BearerAuth;

#[cfg(feature = "openapi")]
impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document, from the handlers' `#[utoipa::path]` declarations, with the
/// descriptions of the routes other components registered.
#[cfg(feature = "openapi")]
fn openapi(extra: &[fn() -> utoipa::openapi::OpenApi]) -> utoipa::openapi::OpenApi {
    let (_, mut doc): (Router<AppState>, _) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(jobs::submit, jobs::list))
        .routes(routes!(jobs::get, jobs::cancel))
        .routes(routes!(events::stream))
        .routes(routes!(metrics::scrape))
        .split_for_parts();
    for d in extra {
        doc.merge(d());
    }
    document_unauthorized(&mut doc);
    doc
}

/// Every operation that needs the token can answer 401: said once here rather than in every
/// handler's list, so a new route cannot forget it.
#[cfg(feature = "openapi")]
fn document_unauthorized(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
    let unauthorized = ResponseBuilder::new()
        .description("Missing, malformed or wrong token (`WWW-Authenticate: Bearer`)")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "ErrorBody",
                ))))
                .build(),
        )
        .build();
    for item in doc.paths.paths.values_mut() {
        let ops = [
            item.get.as_mut(),
            item.post.as_mut(),
            item.put.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ];
        for op in ops.into_iter().flatten() {
            if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                op.responses
                    .responses
                    .entry("401".into())
                    .or_insert_with(|| RefOr::T(unauthorized.clone()));
            }
        }
    }
}

/// The documented routes, as served. Keep in step with [`openapi`] (the test below checks).
fn documented_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/jobs", post(jobs::submit).get(jobs::list))
        .route("/v1/jobs/{id}", get(jobs::get).delete(jobs::cancel))
        .route("/v1/events", get(events::stream))
        .route("/metrics", get(metrics::scrape))
}

/// The API: its own routes and `extra`, the routes other components registered (served
/// behind the same token check, and described in the same document).
pub fn router(state: AppState, extra: Vec<crate::components::ApiRoute>) -> Router {
    let mut protected = documented_routes();
    #[cfg(feature = "openapi")]
    {
        let docs: Vec<_> = extra.iter().map(|r| r.doc).collect();
        protected = protected.route("/v1/openapi.json", openapi_route(docs));
    }
    for r in extra {
        protected = protected.route_service(r.path, r.service);
    }
    let protected = protected
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .route("/healthz", get(health::healthz))
        .merge(protected)
        // For the unprotected routes (`POST /healthz`); the protected ones have theirs.
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_rejections,
        ))
        .with_state(state)
}

/// `GET /v1/openapi.json`: the document with `docs`, the other components' descriptions.
#[cfg(feature = "openapi")]
fn openapi_route(
    docs: Vec<fn() -> utoipa::openapi::OpenApi>,
) -> axum::routing::MethodRouter<AppState> {
    // Serialized once, on the first request for it.
    let doc: Arc<std::sync::OnceLock<Vec<u8>>> = Arc::default();
    get(move || {
        let (doc, docs) = (Arc::clone(&doc), docs.clone());
        async move {
            let body = doc.get_or_init(|| serde_json::to_vec(&openapi(&docs)).unwrap_or_default());
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body.clone(),
            )
        }
    })
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!("no route {} {}", req.method(), req.uri().path()))
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

/// Counts every error response by its code, in one place.
async fn count_rejections(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    if let Some(RejectCode(code)) = resp.extensions().get::<RejectCode>() {
        state
            .api_metrics
            .rejected
            .get_or_create(&CodeLabel {
                code: (*code).into(),
            })
            .inc();
    }
    resp.into_response()
}
