//! `GET /v1/connectivity`: the monitor's state, score, each probe's last result, the
//! ladder's position and next action, and the guard rails in force.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::{extract::State, Json};
use outpost_connectivity::status::{GuardsView, LadderView};
use outpost_connectivity::{Health, ProbeView, Status};
use serde::Serialize;
use utoipa::ToSchema;

use crate::components::ApiRoute;

type Shared = Arc<Mutex<Status>>;

/// The connectivity monitor's view.
#[derive(Serialize, ToSchema)]
pub struct ConnectivityView {
    /// `unknown` (just started), `online`, `degraded` or `offline`.
    #[schema(value_type = String)]
    pub state: Health,
    /// 0 to 100: route 10, DNS, TCP and HTTP 30 each, of the probes configured.
    pub score: u8,
    /// Unix milliseconds of the last state change.
    pub since_ms: Option<u64>,
    /// Unix milliseconds of the last probe round.
    pub last_round_ms: Option<u64>,
    /// Each probe: `probe`, settled `up` (null until settled), `last` result (`up`,
    /// `detail`, `latency_ms`, `target`).
    #[schema(value_type = Vec<Object>)]
    pub probes: Vec<ProbeView>,
    /// Distinct remote targets of the probes that are down.
    pub failing_targets: Vec<String>,
    /// `steps`, `position`, `next_step`, `next_action_at_ms` (null unless offline), `delay_ms`.
    #[schema(value_type = Object)]
    pub ladder: LadderView,
    /// `dry_run`, `boot_grace_secs`, `uptime_secs`, `in_boot_grace`,
    /// `min_reboot_interval_secs`, `reboot_step`, `last_reboot_unix`,
    /// `reboot_allowed_from_unix`, `stamp_note`, `min_failed_targets`.
    #[schema(value_type = Object)]
    pub guards: GuardsView,
    /// Recovery steps due so far, by `decision` or `decision:reason`.
    #[schema(value_type = Object)]
    pub actions: BTreeMap<String, u64>,
}

#[utoipa::path(get, path = "/v1/connectivity",
    responses((status = 200, description = "The connectivity monitor's state", body = ConnectivityView)),
    security(("bearer" = [])), tag = "agent")]
pub async fn get_connectivity(State(s): State<Shared>) -> Json<ConnectivityView> {
    let st = s.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Json(ConnectivityView {
        state: st.state,
        score: st.score,
        since_ms: st.since_ms,
        last_round_ms: st.last_round_ms,
        probes: st.probes,
        failing_targets: st.failing_targets,
        ladder: st.ladder,
        guards: st.guards,
        actions: st.actions,
    })
}

fn doc() -> utoipa::openapi::OpenApi {
    let (_, doc): (axum::Router<Shared>, _) = utoipa_axum::router::OpenApiRouter::new()
        .routes(utoipa_axum::routes!(get_connectivity))
        .split_for_parts();
    doc
}

pub fn route(status: Shared) -> ApiRoute {
    ApiRoute {
        path: "/v1/connectivity",
        service: axum::routing::get(get_connectivity).with_state(status),
        doc,
    }
}
