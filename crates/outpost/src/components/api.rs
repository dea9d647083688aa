//! The local API (`api.*`): always on. It serves every route the other components
//! registered, behind one token check, and stops last, so health and results stay readable
//! while the rest of the agent stops.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context;

use crate::{
    api::{self, metrics::ApiMetrics, AppState, TokenCheck},
    config::Config,
    token::{self, TokenSource},
};

use super::{Component, Registrar, Shared, Start};

pub struct Api {
    token: secrecy::SecretString,
    source: TokenSource,
    listen: SocketAddr,
    tls: Option<(Option<PathBuf>, Option<PathBuf>)>,
    default_timeout_ms: u64,
    max_body: usize,
    /// How long open connections get to finish once the serve phase begins.
    grace: Duration,
    metrics: ApiMetrics,
}

pub fn build(cfg: &mut Config, shared: &Shared) -> anyhow::Result<Option<Box<dyn Component>>> {
    let (token, source) = token::resolve(cfg.api.token.take(), &shared.data_dir)?;
    let tls = cfg
        .tls_enabled()
        .then(|| (cfg.api.tls_cert.clone(), cfg.api.tls_key.clone()));
    Ok(Some(Box::new(Api {
        token,
        source,
        listen: cfg.api.listen,
        tls,
        default_timeout_ms: cfg.jobs.default_timeout_ms,
        max_body: cfg.api.max_body_bytes,
        // Three quarters of the phase: connections still open then are closed, and the
        // server task ends within the phase's deadline.
        grace: Duration::from_millis(cfg.shutdown.serve_ms * 3 / 4),
        metrics: ApiMetrics::default(),
    })))
}

impl Component for Api {
    fn register(&mut self, r: &mut Registrar<'_>) -> anyhow::Result<()> {
        self.metrics.register(r.metrics);
        Ok(())
    }

    fn start(self: Box<Self>, cx: &mut Start<'_>) -> anyhow::Result<()> {
        let shared = cx.shared;
        let state = AppState::new(api::Inner {
            dispatcher: cx.dispatcher.clone(),
            token: TokenCheck::new(&self.token),
            registry: cx.registry.clone(),
            core_metrics: shared.core_metrics.clone(),
            api_metrics: self.metrics,
            started: shared.started,
            default_timeout_ms: self.default_timeout_ms,
            max_body: self.max_body,
        });
        let routes = std::mem::take(cx.routes);
        let router = api::router(state, routes);

        let listener = std::net::TcpListener::bind(self.listen)
            .with_context(|| format!("binding the API to {}", self.listen))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        #[cfg(feature = "http2")]
        let handle = axum_server::Handle::new();
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        match &self.tls {
            #[cfg(not(feature = "api-tls"))]
            Some(_) => anyhow::bail!("this build has no HTTPS for the API (feature api-tls)"),
            #[cfg(feature = "api-tls")]
            Some((cert, key)) => {
                let id = api::tls::load_or_generate(
                    cert.as_deref(),
                    key.as_deref(),
                    &shared.data_dir,
                    addr,
                )?;
                tracing::info!(
                    cert = %id.cert_path.display(),
                    sha256 = %id.fingerprint,
                    generated = id.generated,
                    "tls: serving with this certificate; clients may pin its SHA-256 fingerprint"
                );
                let rustls = axum_server::tls_rustls::RustlsConfig::from_config(id.config);
                let server = axum_server::from_tcp_rustls(listener, rustls)?.handle(handle.clone());
                let app = router.into_make_service_with_connect_info::<SocketAddr>();
                cx.spawn_critical(async move { Ok(server.serve(app).await?) });
            }
            #[cfg(feature = "http2")]
            None => {
                let server = axum_server::from_tcp(listener)?.handle(handle.clone());
                let app = router.into_make_service_with_connect_info::<SocketAddr>();
                cx.spawn_critical(async move { Ok(server.serve(app).await?) });
            }
            // HTTP/1.1 only: the server stops itself on the stop token, within the grace.
            #[cfg(not(feature = "http2"))]
            None => {
                let (stop, grace) = (cx.stop_token(), self.grace);
                cx.spawn_critical(async move {
                    Ok(api::http1::serve(listener, router, stop, grace).await?)
                });
            }
        }
        #[cfg(feature = "http2")]
        {
            let stop = cx.stop_token();
            let grace = self.grace;
            cx.spawn(async move {
                stop.cancelled().await;
                handle.graceful_shutdown(Some(grace));
            });
        }

        let token_hint = match &self.source {
            TokenSource::Configured => {
                "the token is the configured api.token / OUTPOST_TOKEN".to_owned()
            }
            TokenSource::File(p) => format!("the token is in {}", p.display()),
            TokenSource::Generated(p) => {
                format!("a new token was generated into {} (mode 0600)", p.display())
            }
        };
        tracing::info!(
            version = crate::version::get(),
            data_dir = %shared.data_dir.display(),
            agent_id = %shared.agent_id,
            kinds = ?cx.dispatcher.kinds(),
            "outpost: listening on {scheme}://{addr}; {token_hint}"
        );
        Ok(())
    }
}
