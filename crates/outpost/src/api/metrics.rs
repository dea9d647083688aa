//! `/metrics`: the agent's own figures in Prometheus text exposition.

use std::sync::Arc;

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};
use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use super::{error::ApiError, AppState};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabel {
    pub version: String,
}

/// The API's own figures.
#[derive(Clone, Default)]
pub struct ApiMetrics {
    /// Requests answered with an error, by error code (`unauthorized`, `malformed_json`...).
    pub rejected: Family<CodeLabel, Counter>,
    /// Seconds since start; set at scrape time so idle costs nothing.
    pub uptime: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Constant 1, labelled with the version, the Prometheus convention for build facts.
    pub build: Family<VersionLabel, Gauge>,
}

impl ApiMetrics {
    pub fn register(&self, reg: &mut Registry) {
        reg.register(
            "outpost_api_rejected_requests",
            "API requests answered with an error, by code",
            self.rejected.clone(),
        );
        reg.register(
            "outpost_uptime_seconds",
            "Seconds since the agent started",
            self.uptime.clone(),
        );
        reg.register(
            "outpost_build_info",
            "Build facts; always 1",
            self.build.clone(),
        );
        self.build
            .get_or_create(&VersionLabel {
                version: crate::version::get().into(),
            })
            .set(1);
    }
}

/// Prometheus exposition of the agent's own figures.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text")),
    security(("bearer" = [])), tag = "agent")]
pub async fn scrape(State(state): State<AppState>) -> Result<Response, ApiError> {
    let stats = state
        .dispatcher
        .store()
        .stats()
        .await
        .map_err(ApiError::internal)?;
    let core = &state.core_metrics;
    core.outbox_depth.set(stats.outbox_depth as i64);
    core.store_bytes.set(stats.size_bytes as i64);
    let seen = core.outbox_dropped.get();
    if stats.outbox_dropped > seen {
        core.outbox_dropped.inc_by(stats.outbox_dropped - seen);
    }
    state
        .api_metrics
        .uptime
        .set(state.started.elapsed().as_secs_f64());
    let mut body = String::new();
    encode(&mut body, registry(&state)).map_err(ApiError::internal)?;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response())
}

fn registry(state: &AppState) -> &Registry {
    Arc::as_ref(&state.registry)
}
