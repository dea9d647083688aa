//! Probes: the `ping` kind over one ICMP engine, and the engine's counters on `/metrics`;
//! the service checks `check.tcp`, `check.http`, `check.dns`, `check.tls`. The engine opens
//! its sockets on the first `ping` job, so an agent that never pings holds no ICMP socket
//! and no task; the checks hold nothing between jobs but their TLS configurations.

use crate::executors;

use super::Registrar;

pub fn register(r: &mut Registrar<'_>) -> anyhow::Result<()> {
    let engine = executors::ping::register(r.kinds);
    r.metrics.register_collector(Box::new(engine));
    executors::checks::register(r.kinds);
    Ok(())
}
