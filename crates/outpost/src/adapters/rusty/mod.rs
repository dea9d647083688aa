//! `compat.rusty`: rusty_agent's API (`/agent/...`, HTTPS with Basic auth) on a listener of
//! its own, off unless `compat.rusty.listen` is set. Every route keeps rusty_agent's wire
//! (request JSON, reply bodies, status codes; see ../shared/compat/rusty_agent.md) and maps
//! onto Outpost: commands go through the exec allowlist as audited `exec` jobs, scripts
//! only as inline scripts when `exec.allow_inline` is on, saved jobs become schedules
//! (`r.common::<Schedules>()`, so this component comes after the schedules component),
//! metrics come from the host handle. What rusty_agent left open (a shell for any caller,
//! SQL built from input, default credentials, passwords in clear) stays closed.

mod auth;
mod command;
mod config;
pub mod cron;
mod jobs;
mod lifecycle;
mod password;
mod reply;
mod status;
pub mod wire;
pub mod words;

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{atomic::AtomicBool, Arc},
    time::{Duration, Instant},
};

use anyhow::Context;
use axum::{
    http::StatusCode,
    middleware,
    routing::{get, post, put},
    Router,
};
use outpost_core::Dispatcher;
use outpost_exec::Allowlist;
use secrecy::ExposeSecret;
use serde::Deserialize;
use words::ParamOrder;

pub use auth::{FAILED, NO_HEADER};
pub use config::property;
pub use password::PasswordHash;

use crate::{
    components::{Component, Registrar, Shared, Start},
    config::Config,
    schedules::Schedules,
};

/// The component's name in the daemon's list and in `agent.info`.
pub const NAME: &str = "compat.rusty";

/// What the OpenSearch routes show of `sink.opensearch.*` (the password only as present).
#[derive(Debug, Clone, Default)]
pub struct SinkFacts {
    pub url: String,
    pub user: String,
    pub index: String,
    pub password_set: bool,
}

/// Shared by every handler.
pub struct RustyState {
    pub dispatcher: Dispatcher,
    pub host: outpost_host::Host,
    pub started: Instant,
    pub data_dir: PathBuf,
    pub user: Arc<str>,
    pub auth: Arc<auth::BasicCheck>,
    /// The port actually bound (rusty_agent reported its configured `server_port`).
    pub port: u16,
    /// The address bound.
    pub listen: SocketAddr,
    /// The exec allowlist's parameter order, to map a command line's words onto a
    /// command's parameters; the exec component checks and runs the request itself.
    pub order: ParamOrder,
    pub allow_inline: bool,
    pub sink: SinkFacts,
    /// rusty_agent's `auto_upgrade` flag: kept and shown, read by nothing (as there).
    pub auto_upgrade: AtomicBool,
    pub default_timeout: Duration,
    /// Shutdown, restart and config changes.
    pub lifecycle: crate::lifecycle::Lifecycle,
    /// Saved jobs are schedules.
    pub schedules: Schedules,
}

pub struct Rusty {
    listen: SocketAddr,
    user: String,
    hash: PasswordHash,
    tls: Option<(Option<PathBuf>, Option<PathBuf>)>,
    order: ParamOrder,
    allow_inline: bool,
    sink: SinkFacts,
    default_timeout: Duration,
    grace: Duration,
    /// Taken in the register phase (the schedules component registers first).
    schedules: Option<Schedules>,
}

pub fn build(cfg: &mut Config, _shared: &Shared) -> anyhow::Result<Option<Box<dyn Component>>> {
    let section = &cfg.compat.rusty;
    let Some(listen) = section.listen else {
        return Ok(None);
    };
    // `Config::validate` has checked both already; an absent hash never reaches here.
    let hash = section
        .password_hash
        .as_ref()
        .map(|h| PasswordHash::parse(h.expose_secret()))
        .transpose()
        .map_err(|why| anyhow::anyhow!("compat.rusty.password_hash: {why}"))?
        .context("compat.rusty.password_hash: required when compat.rusty.listen is set")?;
    let tls =
        (!section.insecure_plaintext).then(|| (section.tls_cert.clone(), section.tls_key.clone()));
    // The exec component checks and runs the commands; only their parameter order is kept.
    let order = match (&cfg.commands, cfg.exec.enabled) {
        (Some(table), true) => {
            ParamOrder::of(&Allowlist::deserialize(table.clone()).context("commands")?)
        }
        _ => ParamOrder::default(),
    };
    let os = &cfg.sink.opensearch;
    let sink = SinkFacts {
        url: os.url.clone().unwrap_or_default(),
        user: os.user.clone().unwrap_or_default(),
        index: os.index.clone(),
        password_set: os.password.is_some(),
    };
    Ok(Some(Box::new(Rusty {
        listen,
        user: section.user.clone(),
        hash,
        tls,
        order,
        allow_inline: cfg.exec.enabled && cfg.exec.allow_inline,
        sink,
        default_timeout: Duration::from_millis(cfg.jobs.default_timeout_ms),
        grace: Duration::from_millis(cfg.shutdown.serve_ms * 3 / 4),
        schedules: None,
    })))
}

/// The router: every route behind Basic auth; the fallback (rusty_agent's text 404) open.
pub fn router(state: Arc<RustyState>) -> Router {
    Router::new()
        .route("/agent/status", get(status::status))
        .route("/agent/pid", get(status::pid))
        .route("/agent/metric", get(status::metric))
        .route("/agent/info", get(status::info))
        .route("/agent/heartbeat", post(status::heartbeat))
        .route(
            "/agent/version",
            get(status::version).put(lifecycle::version_change),
        )
        .route("/agent/version/list", get(status::version_list))
        .route("/agent/config", get(config::get).put(config::put))
        .route("/agent/config/auto_upgrade", put(config::auto_upgrade))
        .route(
            "/agent/userpassword/update",
            put(lifecycle::password_update),
        )
        .route("/agent/command/execute", post(command::execute))
        .route("/agent/job/execute", post(command::job_execute))
        .route("/agent/jobs", get(jobs::list))
        .route(
            "/agent/job",
            post(jobs::add).put(jobs::update).delete(jobs::remove),
        )
        .route("/agent/jobs/start", put(jobs::start))
        .route("/agent/jobs/stop", put(jobs::stop))
        .route("/agent/shutdown", put(lifecycle::shutdown))
        .route("/agent/restart", put(lifecycle::restart))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_basic,
        ))
        .fallback(|| async { (StatusCode::NOT_FOUND, "NOT FOUND") })
        .with_state(state)
}

impl Component for Rusty {
    fn register(&mut self, r: &mut Registrar<'_>) -> anyhow::Result<()> {
        let store = r.shared.store.clone();
        // The schedules component is earlier in the list and has shared its handle; a
        // detached one (every call "not running") only if it ever is not.
        self.schedules = Some(r.common::<Schedules>(move |_| Schedules::detached(store)));
        Ok(())
    }

    fn start(self: Box<Self>, cx: &mut Start<'_>) -> anyhow::Result<()> {
        let shared = cx.shared;
        let listener = std::net::TcpListener::bind(self.listen)
            .with_context(|| format!("binding compat.rusty.listen {}", self.listen))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(RustyState {
            dispatcher: cx.dispatcher.clone(),
            host: shared.host.clone(),
            started: shared.started,
            data_dir: shared.data_dir.clone(),
            user: Arc::from(self.user.as_str()),
            auth: Arc::new(auth::BasicCheck::new(&self.user, self.hash)),
            port: addr.port(),
            listen: addr,
            order: self.order,
            allow_inline: self.allow_inline,
            sink: self.sink,
            auto_upgrade: AtomicBool::new(false),
            default_timeout: self.default_timeout,
            lifecycle: shared.lifecycle.clone(),
            schedules: self
                .schedules
                .clone()
                .unwrap_or_else(|| Schedules::detached(shared.store.clone())),
        });
        let app = router(state).into_make_service();
        let handle = axum_server::Handle::new();
        match &self.tls {
            Some((cert, key)) => {
                // Its own generated identity (DATA_DIR/rusty/tls), apart from the API's.
                let dir = shared.data_dir.join("rusty");
                let id =
                    crate::api::tls::load_or_generate(cert.as_deref(), key.as_deref(), &dir, addr)?;
                // Never "listening on": that line announces the local API's address.
                tracing::info!(
                    cert = %id.cert_path.display(),
                    sha256 = %id.fingerprint,
                    generated = id.generated,
                    "compat.rusty: serving rusty_agent's /agent API at https://{addr}"
                );
                let rustls = axum_server::tls_rustls::RustlsConfig::from_config(id.config);
                let server = axum_server::from_tcp_rustls(listener, rustls)?.handle(handle.clone());
                cx.spawn_critical(async move { Ok(server.serve(app).await?) });
            }
            None => {
                tracing::warn!(
                    "compat.rusty: serving rusty_agent's /agent API at http://{addr} in PLAIN TEXT \
                     (compat.rusty.insecure_plaintext): Basic credentials cross the network in clear"
                );
                let server = axum_server::from_tcp(listener)?.handle(handle.clone());
                cx.spawn_critical(async move { Ok(server.serve(app).await?) });
            }
        }
        let stop = cx.stop_token();
        let grace = self.grace;
        cx.spawn(async move {
            stop.cancelled().await;
            handle.graceful_shutdown(Some(grace));
        });
        Ok(())
    }
}
