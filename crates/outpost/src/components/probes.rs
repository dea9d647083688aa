//! Probes: the `ping` kind over one ICMP engine, and the engine's counters on `/metrics`.
//! The engine opens its sockets on the first `ping` job, so an agent that never pings holds
//! no ICMP socket and no task.

use crate::executors;

use super::Registrar;

pub fn register(r: &mut Registrar<'_>) -> anyhow::Result<()> {
    let engine = executors::ping::register(r.kinds);
    r.metrics.register_collector(Box::new(engine));
    Ok(())
}
