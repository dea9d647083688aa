//! The executors this binary registers: one file per job kind.

mod agent_info;
mod echo;
pub mod metrics;
mod sleep;
pub mod snmp;

use std::{sync::Arc, time::Instant};

use outpost_core::Registry;
pub use outpost_host::Host;

/// Every kind this build serves. `agent.info` reports the list, itself included.
/// `host` is the process's one host-metrics handle (the `metrics` kind shares its caches).
pub fn registry(started: Instant, host: Host) -> Registry {
    registry_and_snmp(started, host).0
}

/// [`registry`], and the SNMP executors' shared engine, whose counters `/metrics` shows.
pub fn registry_and_snmp(started: Instant, host: Host) -> (Registry, Arc<snmp::Shared>) {
    let mut reg = Registry::new();
    reg.register(echo::Echo).register(sleep::Sleep);
    reg.register(metrics::Metrics::new(host));
    let snmp = snmp::Shared::new();
    reg.register(snmp::SnmpGet(snmp.clone()))
        .register(snmp::SnmpWalk(snmp.clone()))
        .register(snmp::SnmpPoll(snmp.clone()))
        .register(snmp::SnmpSet(snmp.clone()));
    let mut kinds: Vec<String> = reg.kinds().iter().map(|k| k.to_string()).collect();
    kinds.push(agent_info::KIND.to_owned());
    kinds.sort();
    reg.register(agent_info::AgentInfo::new(started, kinds));
    (reg, snmp)
}
