//! Components: how `outpost run` starts every capability, in the manner of vector's topology
//! builder.
//!
//! A component is built from its already-parsed config section (a disabled section builds
//! nothing, and the component is listed as `off`). Then, in two phases:
//! 1. **register**: it adds its job kinds, its `/metrics` collectors and its API routes to a
//!    [`Registrar`]. Nothing runs yet; the dispatcher is built from the kinds afterwards.
//! 2. **start**: it starts its tasks through [`Start`], which hands it the dispatcher, the
//!    store, the host handle and a shutdown token of its own.
//!
//! Each component stops in the [`Phase`] it declares; the daemon stops the phases in order
//! (intake → drain → egress → serve, then the store), each within one deadline from
//! `shutdown.*`. Adding a capability is a module here and one line in `daemon.rs`'s list.

pub mod api;
pub mod builtins;
#[cfg(feature = "connectivity")]
pub mod connectivity;
#[cfg(feature = "containers")]
pub mod containers;
#[cfg(feature = "containers")]
pub mod containers_disk;
#[cfg(feature = "containers")]
pub mod containers_metrics;
#[cfg(feature = "exec")]
pub mod exec;
pub mod host;
mod inventory;
pub mod lifecycle;
#[cfg(feature = "probes")]
pub mod probes;
#[cfg(feature = "schedules")]
pub mod schedules;
pub mod snmp;
pub mod stats;
pub mod traps;
#[cfg(feature = "update")]
pub mod update;
pub mod uplinks;

use std::{
    any::{Any, TypeId},
    collections::HashMap,
    future::Future,
    path::PathBuf,
    sync::Arc,
    time::Instant,
};

use outpost_core::{CoreMetrics, Dispatcher, Store};
use outpost_host::Host;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub use inventory::{Inventory, State};

use crate::config::Config;

/// When a component stops, in shutdown order. Store closing comes after all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Sources of new work that are not jobs: stop reading, store what was read.
    Intake,
    /// Running jobs finish or are interrupted (the dispatcher's `drain`); no component
    /// stops here, but the phase has its deadline (`shutdown.grace_ms`).
    Drain,
    /// Links that deliver results: they send what the drain produced, then close.
    Egress,
    /// The local API: last, so health and results stay readable while the rest stops.
    Serve,
}

impl Phase {
    pub const ALL: [Phase; 4] = [Phase::Intake, Phase::Drain, Phase::Egress, Phase::Serve];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Intake => "intake",
            Phase::Drain => "drain",
            Phase::Egress => "egress",
            Phase::Serve => "serve",
        }
    }
}

/// What every component may read while it is built and registered.
pub struct Shared {
    pub started: Instant,
    pub data_dir: PathBuf,
    /// This agent's id: uplink topics, the trap receiver's engine id.
    pub agent_id: String,
    /// The process's one host-metrics handle; `/ws`, `/metrics`, metrics jobs and the stats
    /// push share its caches. It has no task or timer: collection happens on request.
    pub host: Host,
    pub store: Store,
    pub core_metrics: CoreMetrics,
    /// Every component and its state, for `agent.info`.
    pub inventory: Arc<Inventory>,
    /// The key that seals secrets kept in the store (schedules' credentials).
    pub keyring: Arc<outpost_secrets::Keyring>,
    /// Restart, shutdown and config changes, for the API, uplink jobs and adapters.
    pub lifecycle: crate::lifecycle::Lifecycle,
    /// What an update's probation waits for (uplinks register what they need).
    pub readiness: crate::probation::Readiness,
}

/// A capability the daemon starts and stops. Its name and its phase are on its line of the
/// daemon's list, where the order of start and stop can be read at a glance.
pub trait Component: Send {
    /// Phase 1: add job kinds, collectors and routes. Runs nothing.
    fn register(&mut self, _r: &mut Registrar<'_>) -> anyhow::Result<()> {
        Ok(())
    }
    /// Phase 2: start the tasks. A failure stops the daemon's start, naming the component.
    fn start(self: Box<Self>, _cx: &mut Start<'_>) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Builds a component from its config section; `None` when the section is off. The
/// factory takes what it needs out of `cfg` (secrets are moved, not copied).
pub type Build = fn(&mut Config, &Shared) -> anyhow::Result<Option<Box<dyn Component>>>;

/// Phase 1 of a component that is always on and runs no task of its own.
pub type Register = fn(&mut Registrar<'_>) -> anyhow::Result<()>;

enum Make {
    Build(Build),
    Passive(Register),
}

/// One line of the daemon's component list.
pub struct Factory {
    /// The name `agent.info` lists, on or off.
    pub name: &'static str,
    /// When it stops.
    pub phase: Phase,
    make: Make,
}

impl Factory {
    pub const fn new(name: &'static str, phase: Phase, build: Build) -> Self {
        Factory {
            name,
            phase,
            make: Make::Build(build),
        }
    }

    /// A component that only registers (kinds, collectors, routes): always on, no task, so
    /// it stops with the drain, when the jobs it serves have finished.
    pub const fn passive(name: &'static str, register: Register) -> Self {
        Factory {
            name,
            phase: Phase::Drain,
            make: Make::Passive(register),
        }
    }
}

struct Passive(Register);

impl Component for Passive {
    fn register(&mut self, r: &mut Registrar<'_>) -> anyhow::Result<()> {
        (self.0)(r)
    }
}

/// A component built from its line of the list.
pub struct Built {
    name: &'static str,
    phase: Phase,
    component: Box<dyn Component>,
}

/// Builds every listed component; the ones whose section is off stay `off` in the inventory.
pub fn build_all(
    list: &[Factory],
    cfg: &mut Config,
    shared: &Shared,
) -> anyhow::Result<Vec<Built>> {
    let mut built = Vec::new();
    for f in list {
        let component = match f.make {
            Make::Build(build) => build(cfg, shared).map_err(|e| e.context(f.name))?,
            Make::Passive(register) => Some(Box::new(Passive(register)) as Box<dyn Component>),
        };
        if let Some(component) = component {
            shared.inventory.set(f.name, State::Built);
            built.push(Built {
                name: f.name,
                phase: f.phase,
                component,
            });
        }
    }
    Ok(built)
}

/// An API route a component serves, with its OpenAPI description. The route is already
/// bound to its own state, so the API need not know the component's types.
pub struct ApiRoute {
    pub path: &'static str,
    pub service: axum::routing::MethodRouter,
    /// Built only when the document is first asked for (an idle agent does not hold it).
    pub doc: fn() -> utoipa::openapi::OpenApi,
}

/// Phase 1's collection point.
pub struct Registrar<'a> {
    pub shared: &'a Shared,
    pub kinds: &'a mut outpost_core::Registry,
    pub metrics: &'a mut Registry,
    pub routes: &'a mut Vec<ApiRoute>,
    common: &'a mut HashMap<TypeId, Box<dyn Any + Send>>,
}

impl Registrar<'_> {
    /// Puts `t` in the common state, replacing what was there: a provider (the
    /// connectivity monitor) publishes itself for the components registered after it.
    pub fn set_common<T: Clone + Send + 'static>(&mut self, t: T) {
        self.common.insert(TypeId::of::<T>(), Box::new(t));
    }

    /// State that components of one family share (the uplinks' metric families, labelled
    /// by uplink): made, and registered on `/metrics`, by the first that asks.
    pub fn common<T: Clone + Send + 'static>(
        &mut self,
        init: impl FnOnce(&mut Registry) -> T,
    ) -> T {
        if let Some(t) = self
            .common
            .get(&TypeId::of::<T>())
            .and_then(|b| b.downcast_ref::<T>())
        {
            return t.clone();
        }
        let t = init(self.metrics);
        self.common.insert(TypeId::of::<T>(), Box::new(t.clone()));
        t
    }
}

/// What phase 1 collected.
pub struct Registered {
    pub kinds: outpost_core::Registry,
    pub metrics: Registry,
    pub routes: Vec<ApiRoute>,
}

/// Phase 2's context for one component.
pub struct Start<'a> {
    pub shared: &'a Shared,
    pub dispatcher: &'a Dispatcher,
    /// `/metrics`, complete after phase 1.
    pub registry: &'a Arc<Registry>,
    /// Routes registered in phase 1; the API takes them.
    pub routes: &'a mut Vec<ApiRoute>,
    name: &'static str,
    stop: CancellationToken,
    tasks: &'a TaskTracker,
    fatal: &'a mpsc::Sender<anyhow::Error>,
}

impl Start<'_> {
    /// Cancelled when this component's phase of the shutdown begins.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Runs `task` until it ends; the phase waits for it, within its deadline.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task);
    }

    /// Like [`spawn`](Self::spawn), for a task the agent cannot run without: if it ends
    /// before its phase stops it, the daemon stops with its reason.
    pub fn spawn_critical(&self, task: impl Future<Output = anyhow::Result<()>> + Send + 'static) {
        let (name, stop, fatal) = (self.name, self.stop.clone(), self.fatal.clone());
        self.tasks.spawn(async move {
            let why = match task.await {
                Ok(()) if stop.is_cancelled() => return,
                Ok(()) => anyhow::anyhow!("{name}: stopped on its own"),
                Err(e) => e.context(name),
            };
            // One reason is enough to stop; later ones have nowhere to go.
            let _ = fatal.try_send(why);
        });
    }
}

/// Started components, grouped by the phase that stops them.
pub struct Running {
    inventory: Arc<Inventory>,
    phases: Vec<(Phase, CancellationToken, TaskTracker, Vec<&'static str>)>,
    fatal: mpsc::Receiver<anyhow::Error>,
}

/// Phase 1 for every component, in list order. The core's figures go on `/metrics` first;
/// the inventory learns the kinds once all are in.
pub fn register_all(components: &mut [Built], shared: &Shared) -> anyhow::Result<Registered> {
    let mut out = Registered {
        kinds: outpost_core::Registry::new(),
        metrics: Registry::default(),
        routes: Vec::new(),
    };
    shared.core_metrics.register(&mut out.metrics);
    let mut common = HashMap::new();
    let mut r = Registrar {
        shared,
        kinds: &mut out.kinds,
        metrics: &mut out.metrics,
        routes: &mut out.routes,
        common: &mut common,
    };
    for c in components.iter_mut() {
        let name = c.name;
        c.component
            .register(&mut r)
            .map_err(|e| e.context(format!("{name}: registering")))?;
        shared.inventory.set(name, State::Registered);
    }
    shared
        .inventory
        .set_kinds(out.kinds.kinds().iter().map(|k| k.to_string()).collect());
    Ok(out)
}

/// A component failed to start. The ones started before it are in `started`, for the daemon
/// to stop in their phases (their tasks may hold the store, sockets, child processes).
pub struct StartFailed {
    pub error: anyhow::Error,
    pub started: Running,
}

/// Phase 2 for every component, in list order.
pub fn start_all(
    components: Vec<Built>,
    shared: &Shared,
    dispatcher: &Dispatcher,
    registry: &Arc<Registry>,
    routes: &mut Vec<ApiRoute>,
) -> Result<Running, StartFailed> {
    let (fatal_tx, fatal) = mpsc::channel(4);
    let mut phases: Vec<_> = Phase::ALL
        .iter()
        .map(|p| (*p, CancellationToken::new(), TaskTracker::new(), Vec::new()))
        .collect();
    for Built {
        name,
        phase,
        component,
    } in components
    {
        let Some((_, stop, tasks, names)) = phases.iter_mut().find(|(p, ..)| *p == phase) else {
            continue;
        };
        let mut cx = Start {
            shared,
            dispatcher,
            registry,
            routes: &mut *routes,
            name,
            stop: stop.child_token(),
            tasks,
            fatal: &fatal_tx,
        };
        // Running from before its start: a component may serve from within it (the API
        // answers as soon as it is bound), and a failed start stops the daemon anyway.
        shared.inventory.set(name, State::Running);
        // Listed before its start: a component that fails half-way may have started tasks.
        names.push(name);
        if let Err(e) = component.start(&mut cx) {
            shared.inventory.set(name, State::Stopped);
            for (_, _, tasks, _) in &phases {
                tasks.close();
            }
            return Err(StartFailed {
                error: e.context(format!("{name}: starting")),
                started: Running {
                    inventory: shared.inventory.clone(),
                    phases,
                    fatal,
                },
            });
        }
    }
    for (_, _, tasks, _) in &phases {
        tasks.close();
    }
    Ok(Running {
        inventory: shared.inventory.clone(),
        phases,
        fatal,
    })
}

impl Running {
    /// Resolves when a critical task ended on its own, with its reason.
    pub async fn failed(&mut self) -> anyhow::Error {
        match self.fatal.recv().await {
            Some(e) => e,
            // Every sender is held by `self` through the tasks' clones or the start, so
            // this only happens once all of them are gone: nothing can fail any more.
            None => std::future::pending().await,
        }
    }

    /// Stops the components of `phase` and waits for their tasks, at most `deadline`.
    /// Returns false when the deadline passed first (the tasks are left to the runtime's
    /// end).
    pub async fn stop(&mut self, phase: Phase, deadline: std::time::Duration) -> bool {
        let Some((_, stop, tasks, names)) = self.phases.iter().find(|(p, ..)| *p == phase) else {
            return true;
        };
        for n in names {
            self.inventory.set(n, State::Stopping);
        }
        let began = Instant::now();
        stop.cancel();
        let done = tokio::time::timeout(deadline, tasks.wait()).await.is_ok();
        for n in names {
            self.inventory.set(
                n,
                if done {
                    State::Stopped
                } else {
                    State::Abandoned
                },
            );
        }
        if done {
            tracing::info!(
                phase = phase.as_str(),
                elapsed_ms = began.elapsed().as_millis() as u64,
                components = ?names,
                "shutdown: phase done"
            );
        } else {
            tracing::warn!(
                phase = phase.as_str(),
                deadline_ms = deadline.as_millis() as u64,
                components = ?names,
                "shutdown: phase deadline passed; its tasks are abandoned"
            );
        }
        done
    }
}
