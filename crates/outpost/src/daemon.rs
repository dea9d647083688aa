//! `outpost run`: opens the store, starts the component list around the dispatcher, and
//! stops it in phases (intake, drain, egress, serve), then closes the store.

use std::{
    fs,
    os::unix::fs::DirBuilderExt,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use outpost_core::{CoreMetrics, Dispatcher, DispatcherConfig, Store, StoreConfig};
use tokio::signal::unix::{signal, SignalKind};

use crate::{
    cli::RunArgs,
    components::{self, Factory, Inventory, Phase, Shared},
    config::{self, Config, Sources, SyncMode},
    lifecycle::{Action, Lifecycle},
    probation, telemetry, uplink,
};

/// The store's file in the data directory.
pub const STORE_FILE: &str = "outpost.db";

/// This binary's path as it was at start: an update renames another file over it, after
/// which the running process's own link names a deleted inode.
static EXE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// [`EXE`], once `run` has set it.
pub fn exe_path() -> Option<PathBuf> {
    EXE.get().cloned()
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    if let Ok(exe) = std::env::current_exe() {
        let _ = EXE.set(exe);
    }

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
    if let Some(p) = &args.socketman_config {
        flags.push((
            "--socketman-config",
            "socketman.config",
            toml::Value::String(p.display().to_string()),
        ));
    }
    if let Some(p) = &args.token_file {
        crate::adapters::towerops::config::set_token_file(p.clone());
    }
    if let Some(p) = &args.reagent_config {
        flags.push((
            "--reagent-config",
            "reagent.config",
            toml::Value::String(p.display().to_string()),
        ));
    }
    if let Some(u) = &args.socketman_init_url {
        flags.push((
            "--socketman-init-url",
            "socketman.init_url",
            toml::Value::String(u.clone()),
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
        flags: flags.clone(),
    })?;
    let cfg = loaded.config;
    let lifecycle = Lifecycle::new(args.file.config.clone(), flags, loaded.values);
    telemetry::init_to(
        cfg.log.level,
        cfg.log.format,
        &telemetry::Output::choose(
            cfg.log.target,
            cfg.socketman.config.is_some(),
            std::env::var_os("DEBUG").is_some(),
            &cfg.log.syslog_socket,
        ),
    );
    let data_dir = cfg.data_dir()?;
    create_private_dir(&data_dir)?;
    probation::child_started(&data_dir);
    let update = probation::at_start(&data_dir, crate::version::get());
    if let probation::StartDecision::RolledBack(p) = &update {
        // The previous binary is back at this path: run it, before anything is opened.
        return exec(&p.binary);
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.runtime.worker_threads)
        .thread_name("outpost")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // Boxed: `serve` is a large future, and `block_on` would otherwise move it through
    // several stack frames; the pages it dirties stay resident for the process's life.
    let action = runtime.block_on(Box::pin(serve(
        cfg,
        data_dir.clone(),
        started,
        lifecycle,
        update,
    )))?;
    drop(runtime);
    match action {
        Some(Action::Restart) => {
            probation::before_restart(&data_dir, crate::version::get());
            reexec()
        }
        _ => Ok(()),
    }
}

/// Replaces this process with the same binary and arguments (the environment is
/// inherited): a restart keeps the PID, so a supervisor sees no exit. Only returns on error.
fn reexec() -> anyhow::Result<()> {
    let exe = match EXE.get() {
        Some(e) => e.clone(),
        None => std::env::current_exe().context("finding this binary to restart it")?,
    };
    exec(&exe)
}

/// Execs `exe` with this process's arguments and environment. Only returns on error.
fn exec(exe: &Path) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    tracing::info!(exe = %exe.display(), "restarting");
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .exec();
    Err(anyhow::Error::new(err).context(format!("restarting {}", exe.display())))
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

/// Every capability, in start order; each stops in the phase it declares. A new capability
/// is a module in `components/` and one line here.
const COMPONENTS: &[Factory] = &[
    Factory::passive("builtins", components::builtins::register),
    Factory::new(
        components::snmp::NAME,
        Phase::Drain,
        components::snmp::build,
    ),
    #[cfg(feature = "probes")]
    Factory::passive("probes", components::probes::register),
    Factory::passive("host", components::host::register),
    Factory::passive("lifecycle", components::lifecycle::register),
    #[cfg(feature = "update")]
    Factory::new(
        components::update::NAME,
        Phase::Drain,
        components::update::build,
    ),
    #[cfg(feature = "exec")]
    Factory::new("exec", Phase::Drain, components::exec::build),
    // After exec, whose `Exec` it runs recovery steps through.
    #[cfg(feature = "connectivity")]
    Factory::new(
        components::connectivity::NAME,
        Phase::Intake,
        components::connectivity::build,
    ),
    // After exec, whose allowlist and audit log `container.exec` uses. Its jobs finish in
    // the drain; it has no task of its own.
    #[cfg(feature = "containers")]
    Factory::new(
        components::containers::NAME,
        Phase::Drain,
        components::containers::build,
    ),
    #[cfg(feature = "schedules")]
    Factory::new("schedules", Phase::Intake, components::schedules::build),
    Factory::new("traps", Phase::Intake, components::traps::build),
    Factory::new("uplink.mqtt", Phase::Egress, components::uplinks::mqtt),
    #[cfg(feature = "ws")]
    Factory::new("uplink.ws", Phase::Egress, components::uplinks::ws),
    Factory::new("stats", Phase::Egress, components::stats::build),
    Factory::new("api", Phase::Serve, components::api::build),
    // After the schedules, whose handle it takes when it registers.
    #[cfg(feature = "rusty")]
    Factory::new(
        crate::adapters::rusty::NAME,
        Phase::Serve,
        crate::adapters::rusty::build,
    ),
    // After exec, whose allowlist its jobs go through, and connectivity, whose monitor
    // gives its score and checks its `network` jobs.
    #[cfg(feature = "socketman")]
    Factory::new(
        crate::adapters::socketman::NAME,
        Phase::Intake,
        crate::adapters::socketman::build,
    ),
    // After snmp, whose engine its jobs share; it delivers results, so it stops in egress.
    #[cfg(feature = "towerops")]
    Factory::new(
        crate::adapters::towerops::NAME,
        Phase::Egress,
        crate::adapters::towerops::build,
    ),
    #[cfg(feature = "reagent")]
    Factory::new(
        crate::adapters::reagent::NAME,
        Phase::Intake,
        crate::adapters::reagent::build,
    ),
    #[cfg(feature = "opensearch")]
    Factory::new(
        crate::sinks::opensearch::NAME,
        Phase::Egress,
        crate::sinks::opensearch::build,
    ),
];

/// Runs until a signal, a failed component or a lifecycle request; returns the requested
/// action (restart or shutdown), if that is what stopped it.
async fn serve(
    mut cfg: Config,
    data_dir: PathBuf,
    started: Instant,
    lifecycle: Lifecycle,
    update: probation::StartDecision,
) -> anyhow::Result<Option<Action>> {
    // Before anything can answer: a SIGTERM that arrives while the first requests are served
    // must start the graceful stop, not find the default action (death by signal, with
    // accepted jobs left running).
    let signals = ShutdownSignals::install()?;
    let core_metrics = CoreMetrics::default();
    let store = open_store(&cfg, &data_dir, core_metrics.clone())?;
    let keyring = Arc::new(crate::secrets::open_keyring(&cfg, &data_dir)?);
    let shared = Shared {
        keyring,
        lifecycle: lifecycle.clone(),
        started,
        agent_id: uplink::agent_id(cfg.agent.id.as_deref(), &data_dir)?,
        host: build_host(&cfg),
        store: store.clone(),
        core_metrics: core_metrics.clone(),
        inventory: Arc::new(Inventory::new(COMPONENTS.iter().map(|f| f.name))),
        readiness: probation::Readiness::default(),
        data_dir,
    };
    let mut built = components::build_all(COMPONENTS, &mut cfg, &shared)?;
    let registered = components::register_all(&mut built, &shared)?;
    let dispatcher = Dispatcher::new(
        registered.kinds,
        store.clone(),
        core_metrics,
        DispatcherConfig {
            queue_capacity: cfg.jobs.queue_capacity,
            max_timeout: Duration::from_millis(cfg.jobs.max_timeout_ms),
        },
    );
    let mut routes = registered.routes;
    let registry = Arc::new(registered.metrics);
    let mut running = match components::start_all(
        built,
        &shared,
        &dispatcher,
        &registry,
        &mut routes,
    ) {
        Ok(r) => r,
        Err(components::StartFailed { error, mut started }) => {
            // What started is stopped in its phases, and the store closed, before the error
            // ends the process: no task is cut off holding a half-written batch.
            tracing::error!(error = %format!("{error:#}"), "start failed: stopping what started");
            stop_phases(&cfg, &dispatcher, &mut started).await;
            close_store(&cfg, &store).await?;
            return Err(error);
        }
    };

    shared.readiness.mark_started();
    match update {
        probation::StartDecision::Report(outcome) => {
            report_update(&store, &shared.data_dir, &outcome).await;
        }
        probation::StartDecision::Probation(p) => {
            let (store, data_dir, readiness, lifecycle) = (
                store.clone(),
                shared.data_dir.clone(),
                shared.readiness.clone(),
                lifecycle.clone(),
            );
            tokio::spawn(async move {
                let outcome = probation::probation(&data_dir, p, &readiness).await;
                let rolled_back = matches!(outcome, probation::Outcome::RolledBack { .. });
                if rolled_back {
                    // The previous binary is at our path again: the restart runs it, and
                    // it reports the rollback once its store is open.
                    lifecycle.restart();
                } else {
                    report_update(&store, &data_dir, &outcome).await;
                }
            });
        }
        probation::StartDecision::Normal | probation::StartDecision::RolledBack(_) => {}
    }

    let outcome = tokio::select! {
        s = signals.recv() => Ok(s.to_string()),
        a = lifecycle.requested() => Ok(format!("{a:?} requested")),
        e = running.failed() => Err(e),
    };
    let d = &cfg.shutdown;
    tracing::info!(
        reason = match &outcome {
            Ok(s) => s.clone(),
            Err(e) => format!("{e:#}"),
        },
        grace_ms = d.grace_ms,
        pending = dispatcher.pending(),
        "shutting down: new jobs refused, running jobs draining"
    );
    stop_phases(&cfg, &dispatcher, &mut running).await;
    close_store(&cfg, &store).await?;
    outcome?;
    tracing::info!("stopped");
    Ok(lifecycle.action())
}

/// Stores an update's outcome as an `agent.update` event, then forgets the update: the
/// marker goes only once the event is stored, so the control plane is told exactly once.
async fn report_update(store: &Store, data_dir: &Path, outcome: &probation::Outcome) {
    let payload = serde_json::value::to_raw_value(outcome);
    let stored = match payload {
        Ok(p) => store
            .append_events(vec![outpost_core::Event::encoded(
                &mut outpost_core::EventIds::new(),
                probation::EVENT_KIND,
                p,
            )])
            .await
            .map(drop)
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match stored {
        Ok(()) => {
            tracing::info!(outcome = ?outcome, "update: outcome stored");
            if matches!(outcome, probation::Outcome::RolledBack { .. }) {
                if let Err(e) = probation::remove_marker(data_dir) {
                    tracing::error!(error = %e, "update: cannot remove the marker");
                }
                probation::notify_settled();
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "update: cannot store the outcome; kept for the next start")
        }
    }
}

/// Stops the components phase by phase (intake, drain, egress, serve), each within its
/// `shutdown.*` deadline; the drain lets running jobs finish or records them interrupted.
async fn stop_phases(cfg: &Config, dispatcher: &Dispatcher, running: &mut components::Running) {
    let d = &cfg.shutdown;
    for phase in Phase::ALL {
        let ms = match phase {
            Phase::Intake => d.intake_ms,
            Phase::Drain => d.grace_ms,
            Phase::Egress => d.egress_ms,
            Phase::Serve => d.serve_ms,
        };
        if phase == Phase::Drain {
            let drained = dispatcher.drain(Duration::from_millis(ms)).await;
            if drained.interrupted > 0 {
                tracing::warn!(
                    interrupted = drained.interrupted,
                    "grace period over: unfinished jobs recorded as interrupted"
                );
            }
        }
        running.stop(phase, Duration::from_millis(ms)).await;
    }
}

async fn close_store(cfg: &Config, store: &Store) -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_millis(cfg.shutdown.store_ms), store.close())
        .await
        .context("closing the store: shutdown.store_ms passed")?
        .context("closing the store")
}

/// Opens the store in DATA_DIR, marking jobs the last process left unfinished interrupted.
fn open_store(cfg: &Config, data_dir: &Path, metrics: CoreMetrics) -> anyhow::Result<Store> {
    let store_cfg = StoreConfig {
        sync_full: cfg.store.sync == SyncMode::Full,
        outbox_max_rows: cfg.store.outbox_max_rows,
        outbox_max_age: Duration::from_secs(cfg.store.outbox_max_age_secs),
        jobs_max_rows: cfg.store.jobs_max_rows,
        jobs_max_age: Duration::from_secs(cfg.store.jobs_max_age_secs),
        ..StoreConfig::new(data_dir.join(STORE_FILE))
    };
    let (store, interrupted) = Store::open(store_cfg, metrics)
        .with_context(|| format!("opening the store in {}", data_dir.display()))?;
    for r in &interrupted {
        tracing::warn!(job = %r.id, kind = %r.kind, "job interrupted by the previous stop; recorded as interrupted");
    }
    Ok(store)
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
