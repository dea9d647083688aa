//! The executors this binary registers: one file per job kind.

mod agent_info;
#[cfg(feature = "update")]
pub mod agent_update;
#[cfg(feature = "probes")]
pub mod checks;
#[cfg(feature = "containers")]
pub mod containers;
mod echo;
#[cfg(feature = "exec")]
pub mod exec;
pub mod interfaces;
pub mod lifecycle;
pub mod metrics;
#[cfg(all(feature = "exec", feature = "probes"))]
pub mod nagios;
#[cfg(feature = "probes")]
pub mod ping;
#[cfg(feature = "schedules")]
pub mod schedules;
mod sleep;
pub mod snmp;

use std::{sync::Arc, time::Instant};

use outpost_core::Registry;

use crate::components::Inventory;
pub use outpost_host::Host;

/// Every kind this build serves, in one registry: for tests, fuzz targets and benchmarks
/// that drive the executors without a daemon. The daemon registers the same executors
/// through its components (`components/`), with these same functions.
pub fn registry(started: Instant, host: Host) -> Registry {
    let mut reg = Registry::new();
    let inventory = Arc::new(Inventory::new([]));
    register_builtins(&mut reg, started, inventory.clone());
    metrics::register(&mut reg, host.clone());
    interfaces::register(&mut reg, host);
    snmp::register(&mut reg);
    #[cfg(feature = "probes")]
    {
        ping::register(&mut reg);
        checks::register(&mut reg);
    }
    inventory.set_kinds(reg.kinds().iter().map(|k| k.to_string()).collect());
    reg
}

/// `echo`, `sleep` and `agent.info`; the last reports `inventory`'s kinds and components.
pub fn register_builtins(reg: &mut Registry, started: Instant, inventory: Arc<Inventory>) {
    reg.register(echo::Echo).register(sleep::Sleep);
    reg.register(agent_info::AgentInfo::new(started, inventory));
}
