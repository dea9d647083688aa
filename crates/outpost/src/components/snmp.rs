//! SNMP polling: the `snmp.*` kinds over one engine, and the engine's counters on
//! `/metrics`. The engine binds its socket on the first SNMP job, so an agent that never
//! polls holds no socket and no task.

use crate::executors;

use super::{Component, Phase, Registrar, Shared, Start};

pub struct Snmp;

pub fn build(
    _: &mut crate::config::Config,
    _: &Shared,
) -> anyhow::Result<Option<Box<dyn Component>>> {
    Ok(Some(Box::new(Snmp)))
}

impl Component for Snmp {
    fn name(&self) -> &'static str {
        "snmp"
    }

    fn phase(&self) -> Phase {
        Phase::Drain
    }

    fn register(&mut self, r: &mut Registrar<'_>) -> anyhow::Result<()> {
        let engine = executors::snmp::register(r.kinds);
        r.metrics.register_collector(Box::new(engine));
        Ok(())
    }

    fn start(self: Box<Self>, _: &mut Start<'_>) -> anyhow::Result<()> {
        Ok(())
    }
}
