//! SNMP polling: the `snmp.*` kinds over one engine, and the engine's counters on
//! `/metrics`. The engine binds its socket on the first SNMP job, so an agent that never
//! polls holds no socket and no task.

use crate::executors;

use super::Registrar;

pub fn register(r: &mut Registrar<'_>) -> anyhow::Result<()> {
    // Kept in the registrar's common state: the Towerops adapter's jobs use this engine too.
    let engine = r.common(|_| executors::snmp::Shared::new());
    executors::snmp::register_with(r.kinds, engine.clone());
    r.metrics.register_collector(Box::new(engine));
    Ok(())
}
