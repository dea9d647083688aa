//! `outpost run`: wires the store, the dispatcher and the API, and shuts them down in order.

use std::{
    fs,
    net::SocketAddr,
    os::unix::fs::DirBuilderExt,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::Context;
use outpost_core::{CoreMetrics, Dispatcher, DispatcherConfig, Store, StoreConfig};
use prometheus_client::registry::Registry;
use tokio::signal::unix::{signal, SignalKind};

use crate::{
    api::{self, metrics::ApiMetrics, AppState, TokenCheck},
    cli::RunArgs,
    config::{self, Config, Sources, SyncMode},
    executors, telemetry,
    token::{self, TokenSource},
    uplink,
};

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut flags = Vec::new();
    if let Some(l) = args.listen {
        flags.push(("--listen", "api.listen", toml::Value::String(l.to_string())));
    }
    if let Some(d) = &args.data_dir {
        flags.push((
            "--data-dir",
            "data_dir",
            toml::Value::String(d.display().to_string()),
        ));
    }
    if args.tls {
        flags.push(("--tls", "api.tls", toml::Value::Boolean(true)));
    }
    if args.insecure_plaintext {
        flags.push((
            "--insecure-plaintext",
            "api.insecure_plaintext",
            toml::Value::Boolean(true),
        ));
    }
    if let Some(f) = args.log_format {
        let name = match f {
            config::LogFormat::Text => "text",
            config::LogFormat::Json => "json",
        };
        flags.push((
            "--log-format",
            "log.format",
            toml::Value::String(name.into()),
        ));
    }
    let loaded = config::load(Sources {
        file: args.file.config.as_deref(),
        env: &|k| std::env::var(k).ok(),
        flags,
    })?;
    let cfg = loaded.config;
    telemetry::init(cfg.log.level, cfg.log.format);
    let data_dir = cfg.data_dir()?;
    create_private_dir(&data_dir)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.runtime.worker_threads)
        .thread_name("outpost")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // Boxed: `serve` is a large future, and `block_on` would otherwise move it through
    // several stack frames; the pages it dirties stay resident for the process's life.
    runtime.block_on(Box::pin(serve(cfg, data_dir, started)))
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating data directory {}", dir.display()))
}

async fn serve(mut cfg: Config, data_dir: PathBuf, started: Instant) -> anyhow::Result<()> {
    // Before anything can answer: a SIGTERM that arrives while the first requests are served
    // must start the graceful stop, not find the default action (death by signal, with
    // accepted jobs left running).
    let signals = ShutdownSignals::install()?;
    let (token, source) = token::resolve(cfg.api.token.take(), &data_dir)?;
    let core_metrics = CoreMetrics::default();
    let store_cfg = StoreConfig {
        sync_full: cfg.store.sync == SyncMode::Full,
        outbox_max_rows: cfg.store.outbox_max_rows,
        outbox_max_age: Duration::from_secs(cfg.store.outbox_max_age_secs),
        jobs_max_rows: cfg.store.jobs_max_rows,
        jobs_max_age: Duration::from_secs(cfg.store.jobs_max_age_secs),
        ..StoreConfig::new(data_dir.join("outpost.db"))
    };
    let (store, interrupted) = Store::open(store_cfg, core_metrics.clone())
        .with_context(|| format!("opening the store in {}", data_dir.display()))?;
    for r in &interrupted {
        tracing::warn!(job = %r.id, kind = %r.kind, "job interrupted by the previous stop; recorded as interrupted");
    }

    // One host handle for the process: /ws, /metrics, metrics jobs and the stats push share
    // its caches. It has no task or timer; collection happens only when someone asks.
    let host = build_host(&cfg);
    let (executor_registry, snmp) = executors::registry_and_snmp(started, host.clone());
    let dispatcher = Dispatcher::new(
        executor_registry,
        store.clone(),
        core_metrics.clone(),
        DispatcherConfig {
            queue_capacity: cfg.jobs.queue_capacity,
            max_timeout: Duration::from_millis(cfg.jobs.max_timeout_ms),
        },
    );
    let api_metrics = ApiMetrics::default();
    let uplink_metrics = uplink::UplinkMetrics::default();
    let mut registry = Registry::default();
    core_metrics.register(&mut registry);
    api_metrics.register(&mut registry);
    uplink_metrics.register(&mut registry);
    registry.register_collector(Box::new(snmp));
    // On the root registry, unprefixed: node_exporter's names, collected on scrape.
    registry.register_collector(Box::new(outpost_host::prom::HostCollector::new(
        host.clone(),
    )));
    let trap_metrics = crate::trap::TrapMetrics::default();
    trap_metrics.register(&mut registry);

    let agent_id = uplink::agent_id(cfg.agent.id.as_deref(), &data_dir)?;
    let uplinks_stop = tokio_util::sync::CancellationToken::new();
    let uplinks = tokio_util::task::TaskTracker::new();
    let ucx = uplink::Context::new(
        agent_id.clone(),
        dispatcher.clone(),
        uplink_metrics,
        Duration::from_millis(cfg.jobs.default_timeout_ms),
        &cfg.uplink,
    );
    if let Some(broker) = cfg.uplink.mqtt.url.take() {
        let m = &mut cfg.uplink.mqtt;
        let tls = match broker.tls {
            true => Some(
                uplink::tls::client_config_with(&uplink::tls::ClientTls {
                    ca_file: m.ca_file.as_deref(),
                    identity: m.client_cert.as_deref().zip(m.client_key.as_deref()),
                })
                .context("uplink.mqtt: TLS")?,
            ),
            false => None,
        };
        let mqtt = uplink::mqtt::MqttUplink {
            broker,
            protocol: m.protocol,
            tls,
            username: m.username.clone(),
            password: m.password.take(),
            pool: m.pool.clone(),
            keepalive: Duration::from_secs(m.keepalive_secs),
        };
        uplinks.spawn(mqtt.run(ucx.clone(), uplinks_stop.clone()));
    }
    if let Some(url) = cfg.uplink.ws.url.take() {
        let ws = uplink::ws::WsUplink {
            url,
            token: cfg.uplink.ws.token.take(),
            pin: cfg.uplink.ws.pin_sha256,
        };
        uplinks.spawn(ws.run(ucx.clone(), uplinks_stop.clone()));
    }
    uplinks.close();
    let traps = match cfg.trap.take() {
        Some(mut settings) => {
            settings.engine_id = crate::trap::engine_id(&agent_id);
            settings.engine_boots = crate::trap::boots::advance(&data_dir)
                .context("advancing the trap receiver's snmpEngineBoots")?;
            Some(crate::trap::Receiver::start(
                settings,
                crate::trap::Sink::Store(store.clone()),
                trap_metrics,
            )?)
        }
        None => None,
    };

    let stats_stop = tokio_util::sync::CancellationToken::new();
    let stats_task = spawn_stats_push(&mut cfg, &data_dir, host.clone(), stats_stop.clone())?;
    let stats_task = stats_task.map(|(task, counters)| {
        registry.register_collector(Box::new(StatsPushCollector(counters)));
        task
    });

    let state = AppState::new(api::Inner {
        dispatcher: dispatcher.clone(),
        token: TokenCheck::new(&token),
        registry: std::sync::Arc::new(registry),
        core_metrics,
        api_metrics,
        started,
        default_timeout_ms: cfg.jobs.default_timeout_ms,
        max_body: cfg.api.max_body_bytes,
        socktop: api::ws::Socktop::new(host),
    });
    let app = api::router(state).into_make_service_with_connect_info::<SocketAddr>();

    let listener = std::net::TcpListener::bind(cfg.api.listen)
        .with_context(|| format!("binding the API to {}", cfg.api.listen))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let handle = axum_server::Handle::new();
    let tls = cfg.tls_enabled();
    let scheme = if tls { "https" } else { "http" };
    let server = if tls {
        let id = api::tls::load_or_generate(
            cfg.api.tls_cert.as_deref(),
            cfg.api.tls_key.as_deref(),
            &data_dir,
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
        tokio::spawn(async move { server.serve(app).await })
    } else {
        let server = axum_server::from_tcp(listener)?.handle(handle.clone());
        tokio::spawn(async move { server.serve(app).await })
    };
    let token_hint = match &source {
        TokenSource::Configured => {
            "the token is the configured api.token / OUTPOST_TOKEN".to_owned()
        }
        TokenSource::File(p) => format!("the token is in {}", p.display()),
        TokenSource::Generated(p) => {
            format!("a new token was generated into {} (mode 0600)", p.display())
        }
    };
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        data_dir = %data_dir.display(),
        agent_id = %agent_id,
        kinds = ?dispatcher.kinds(),
        "outpost: listening on {scheme}://{addr}; {token_hint}"
    );

    let mut server = server;
    let stop = tokio::select! {
        s = signals.recv() => s,
        res = &mut server => {
            // The server ended on its own: report why and stop everything else.
            let why = match res {
                Ok(Ok(())) => "server stopped".to_owned(),
                Ok(Err(e)) => format!("server failed: {e}"),
                Err(e) => format!("server task failed: {e}"),
            };
            anyhow::bail!("{why}");
        }
    };
    let grace = Duration::from_millis(cfg.shutdown.grace_ms);
    tracing::info!(
        signal = stop,
        grace_ms = grace.as_millis() as u64,
        pending = dispatcher.pending(),
        "shutting down: new jobs refused, running jobs draining"
    );
    if let Some(t) = traps {
        // Stop reading, then store everything queued (and acknowledge those informs).
        t.stop().await;
    }
    let drained = dispatcher.drain(grace).await;
    if drained.interrupted > 0 {
        tracing::warn!(
            interrupted = drained.interrupted,
            "grace period over: unfinished jobs recorded as interrupted"
        );
    }
    uplinks_stop.cancel();
    stats_stop.cancel();
    if let Some(task) = stats_task {
        let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(3), uplinks.wait()).await;
    handle.graceful_shutdown(Some(Duration::from_secs(2)));
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    store.close().await.context("closing the store")?;
    tracing::info!("stopped");
    Ok(())
}

/// The host handle, with the cache times from `metrics.*`.
pub fn build_host(cfg: &Config) -> outpost_host::Host {
    outpost_host::Host::new(outpost_host::HostConfig {
        metrics_ttl: Duration::from_millis(cfg.metrics.ttl_ms),
        disks_ttl: Duration::from_millis(cfg.metrics.disks_ttl_ms),
        processes_ttl: Duration::from_millis(cfg.metrics.processes_ttl_ms),
        ..outpost_host::HostConfig::default()
    })
}

/// Starts the stats push when `stats.url` is set; it caches in DATA_DIR/stats and stops
/// when `stop` is cancelled. A bad URL or CA file fails the start, naming the key.
fn spawn_stats_push(
    cfg: &mut Config,
    data_dir: &Path,
    host: outpost_host::Host,
    stop: tokio_util::sync::CancellationToken,
) -> anyhow::Result<Option<(tokio::task::JoinHandle<()>, std::sync::Arc<PushCounters>)>> {
    use outpost_host::push::{self, Pusher, StatsConfig};
    use secrecy::ExposeSecret;
    let Some(url) = cfg.stats.url.take() else {
        return Ok(None);
    };
    let mut stats = StatsConfig::new(url.expose_secret(), data_dir.join("stats"));
    stats.backup_url = cfg
        .stats
        .backup_url
        .take()
        .map(|u| u.expose_secret().to_owned());
    stats.interval = Duration::from_secs(cfg.stats.interval_secs);
    stats.max_cache_bytes = cfg.stats.cache_max_bytes;
    stats.ca_file = cfg.stats.ca_file.clone();
    let interval = stats.interval;
    // PushError names the URL by scheme and host only, never its path or query.
    let pusher =
        Pusher::new(stats, host).context("stats.url / stats.backup_url / stats.ca_file")?;
    tracing::info!(
        interval_secs = interval.as_secs(),
        cache = %pusher.cache_path().display(),
        "stats push: on"
    );
    let counters = pusher.counters();
    let task = tokio::spawn(async move {
        push::run_pusher(&pusher, stop.cancelled_owned()).await;
    });
    Ok(Some((task, counters)))
}

use outpost_host::push::PushCounters;

/// The stats push's counters on `/metrics`, read at scrape time.
#[derive(Debug)]
struct StatsPushCollector(std::sync::Arc<PushCounters>);

impl prometheus_client::collector::Collector for StatsPushCollector {
    fn encode(
        &self,
        mut enc: prometheus_client::encoding::DescriptorEncoder<'_>,
    ) -> std::fmt::Result {
        use prometheus_client::{
            encoding::EncodeMetric,
            metrics::{counter::ConstCounter, MetricType},
        };
        use std::sync::atomic::Ordering::Relaxed;
        let c = &self.0;
        for (name, help, value) in [
            (
                "outpost_stats_lines_cached",
                "Snapshots appended to the stats cache",
                &c.lines_cached,
            ),
            (
                "outpost_stats_lines_dropped",
                "Stats snapshots dropped: cache full (oldest first) or unreadable",
                &c.lines_dropped,
            ),
            (
                "outpost_stats_batches_sent",
                "Stats batches a URL answered 2xx to",
                &c.batches_sent,
            ),
            (
                "outpost_stats_posts_failed",
                "Stats POST attempts that failed, per URL tried",
                &c.posts_failed,
            ),
        ] {
            let metric = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(value.load(Relaxed)).encode(metric)?;
        }
        Ok(())
    }
}

/// SIGTERM and SIGINT, caught from the moment they are installed.
struct ShutdownSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> anyhow::Result<Self> {
        Ok(ShutdownSignals {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        })
    }

    async fn recv(mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
