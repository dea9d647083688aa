//! SNMP polling: the `snmp.*` kinds over one engine, and the engine's counters on
//! `/metrics`. The engine binds its socket on the first SNMP job, so an agent that never
//! polls holds no socket and no task.

use crate::config::Config;
use crate::executors;

use super::{Component, Registrar, Shared};

pub const NAME: &str = "snmp";

/// Always on; holds only `snmp.*`'s settings until it registers.
struct Snmp {
    max_pdus_per_second: Option<u32>,
}

pub fn build(cfg: &mut Config, _: &Shared) -> anyhow::Result<Option<Box<dyn Component>>> {
    Ok(Some(Box::new(Snmp {
        max_pdus_per_second: cfg.snmp.max_pdus_per_second,
    })))
}

impl Component for Snmp {
    fn register(&mut self, r: &mut Registrar<'_>) -> anyhow::Result<()> {
        // Kept in the registrar's common state: the Towerops adapter's jobs use this engine too.
        let engine = r.common(|_| executors::snmp::Shared::new());
        engine.configure_rate(self.max_pdus_per_second);
        executors::snmp::register_with(r.kinds, engine.clone());
        r.metrics.register_collector(Box::new(engine));
        Ok(())
    }
}
