//! The executors this binary registers: one file per job kind.

mod agent_info;
mod echo;
mod sleep;
pub mod snmp;

use std::{sync::Arc, time::Instant};

use outpost_core::Registry;

/// Every kind this build serves. `agent.info` reports the list, itself included.
pub fn registry(started: Instant) -> Registry {
    registry_and_snmp(started).0
}

/// [`registry`], and the SNMP executors' shared engine, whose counters `/metrics` shows.
pub fn registry_and_snmp(started: Instant) -> (Registry, Arc<snmp::Shared>) {
    let mut reg = Registry::new();
    reg.register(echo::Echo).register(sleep::Sleep);
    let snmp = snmp::Shared::new();
    reg.register(snmp::SnmpGet(snmp.clone()))
        .register(snmp::SnmpWalk(snmp.clone()))
        .register(snmp::SnmpSet(snmp.clone()));
    let mut kinds: Vec<String> = reg.kinds().iter().map(|k| k.to_string()).collect();
    kinds.push(agent_info::KIND.to_owned());
    kinds.sort();
    reg.register(agent_info::AgentInfo::new(started, kinds));
    (reg, snmp)
}
