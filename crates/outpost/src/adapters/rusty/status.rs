//! Status, pid, heartbeat, version, metric and info: read-only routes.
//!
//! The metric and info figures are honest values from the host handle. Where rusty_agent's
//! were mislabelled, the key and type stay and the meaning is the label's:
//! - `memory`: the agent's resident set in MiB (rusty_agent: RSS plus virtual size, "MB");
//! - `cpu_usage`: the host's CPU busy percent since the previous sample (rusty_agent: its
//!   own user time over its total CPU time, a ratio that could be NaN);
//! - `disk_usage`: percent used of the filesystem holding the data directory (rusty_agent:
//!   the bytes the agent had read, from /proc/self/io);
//! - `up_time`: the agent's uptime in seconds (rusty_agent: always 0);
//! - `port`: the port actually bound (rusty_agent: the configured one);
//! - `rust_version`: "Not Found" (rusty_agent ran `rustc --version`; Outpost is one binary
//!   and never looks for a toolchain).

use std::sync::Arc;

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};

use super::{
    config::agent_config,
    reply,
    wire::{AgentDetails, AgentInfo, AgentLocalConfig, Heartbeat, MetricResponse, VersionView},
    RustyState,
};

pub async fn status() -> Response {
    reply::text(StatusCode::OK, "Running")
}

pub async fn pid() -> Response {
    Json(std::process::id()).into_response()
}

/// An echo, as in rusty_agent (which wrote nothing to OpenSearch here either).
pub async fn heartbeat(Json(body): Json<Heartbeat>) -> Response {
    reply::ok(body.id)
}

pub async fn version() -> Response {
    Json(VersionView {
        version: crate::version::get().to_owned(),
        version_valid: true,
        build_date: String::new(),
    })
    .into_response()
}

/// rusty_agent asked a "node app" for the versions it could install; Outpost has no such
/// source until signed self-updates exist: an empty list.
pub async fn version_list() -> Response {
    Json(Vec::<String>::new()).into_response()
}

/// What both routes report, read on a blocking thread (the process list and /proc reads).
struct Figures {
    memory_mib: f32,
    cpu_percent: f32,
    disk_percent: f32,
    hostname: String,
    os_name: String,
    os_version: String,
    kernel: String,
    ip: String,
}

fn os_release() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_default()
    };
    (field("PRETTY_NAME"), field("VERSION"))
}

fn figures(state: &RustyState, with_ip: bool) -> Figures {
    let host = &state.host;
    let metrics = host.metrics().ok();
    let memory_mib = host
        .process_detail(std::process::id())
        .map(|d| d.rss_bytes as f32 / (1024.0 * 1024.0))
        .unwrap_or(0.0);
    let cpu_percent = metrics.as_ref().map(|m| m.cpu.total_percent).unwrap_or(0.0);
    let hostname = metrics
        .as_ref()
        .map(|m| m.hostname.clone())
        .unwrap_or_default();
    // The longest mount point that holds the data directory.
    let disk_percent = host
        .disks()
        .ok()
        .and_then(|disks| {
            disks
                .iter()
                .filter(|d| state.data_dir.starts_with(&d.mount_point) && d.total_bytes > 0)
                .max_by_key(|d| d.mount_point.len())
                .map(|d| {
                    let used = d.total_bytes.saturating_sub(d.available_bytes);
                    (used as f64 * 100.0 / d.total_bytes as f64) as f32
                })
        })
        .unwrap_or(0.0);
    let (os_name, os_version) = os_release();
    let kernel = rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned();
    // rusty_agent ran `hostname -i`: the host name's addresses.
    let ip = if with_ip && !hostname.is_empty() {
        use std::net::ToSocketAddrs as _;
        (hostname.as_str(), 0)
            .to_socket_addrs()
            .map(|a| a.map(|s| s.ip().to_string()).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    } else {
        String::new()
    };
    Figures {
        memory_mib,
        cpu_percent: if cpu_percent.is_finite() {
            cpu_percent
        } else {
            0.0
        },
        disk_percent,
        hostname,
        os_name,
        os_version,
        kernel,
        ip,
    }
}

async fn figures_async(state: &Arc<RustyState>, with_ip: bool) -> Option<Figures> {
    let s = state.clone();
    tokio::task::spawn_blocking(move || figures(&s, with_ip))
        .await
        .ok()
}

pub async fn metric(State(state): State<Arc<RustyState>>) -> Response {
    let Some(f) = figures_async(&state, false).await else {
        return reply::text(StatusCode::INTERNAL_SERVER_ERROR, "metrics unavailable");
    };
    Json(MetricResponse {
        memory: f.memory_mib,
        cpu_usage: f.cpu_percent,
        rust_version: "Not Found".into(),
        os_name: f.os_name,
        kernel_version: f.kernel,
        os_version: f.os_version,
        disk_usage: f.disk_percent,
        up_time: state.started.elapsed().as_secs(),
        port: state.port,
        jobs: super::jobs::names(&state).await,
    })
    .into_response()
}

pub async fn info(State(state): State<Arc<RustyState>>) -> Response {
    let Some(f) = figures_async(&state, true).await else {
        return reply::text(StatusCode::INTERNAL_SERVER_ERROR, "metrics unavailable");
    };
    let config = agent_config(&state);
    let local = AgentLocalConfig {
        auto_upgrade: config.auto_upgrade,
        port: config.port,
        ..AgentLocalConfig::default()
    };
    Json(AgentInfo {
        agent_details: AgentDetails {
            version: crate::version::get().to_owned(),
            vm_hostname: f.hostname,
            vm_ip: f.ip,
            install_dir: config.install_dir.clone(),
            rust_version: "Not Found".into(),
            os_version: f.os_version,
            port: state.port,
            pid: std::process::id(),
            up_time: state.started.elapsed().as_secs(),
            memory: f.memory_mib,
            cpu_usage: f.cpu_percent,
            disk_usage: f.disk_percent,
        },
        agent_config: config,
        agent_local_config: local,
        jobs: super::jobs::names(&state).await,
    })
    .into_response()
}
