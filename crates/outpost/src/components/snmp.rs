//! SNMP polling: the `snmp.*` kinds over one engine, and the engine's counters on
//! `/metrics`. The engine binds its socket on the first SNMP job, so an agent that never
//! polls holds no socket and no task.

use crate::executors;

use super::Registrar;

pub fn register(r: &mut Registrar<'_>) -> anyhow::Result<()> {
    let engine = executors::snmp::register(r.kinds);
    r.metrics.register_collector(Box::new(engine));
    Ok(())
}
