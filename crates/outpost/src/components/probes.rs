//! Probes: the `ping` kind over one ICMP engine, and the engine's counters on `/metrics`;
//! the service checks `check.tcp`, `check.http`, `check.dns`, `check.tls`. The engine opens
//! its sockets on the first `ping` job, so an agent that never pings holds no ICMP socket
//! and no task; the checks hold nothing between jobs but their TLS configurations.

use std::sync::Arc;

use outpost_checks::tls_config::TlsConfigs;

use crate::executors;

use super::Registrar;

/// The agent's one set of TLS client configurations (system roots read once, one rustls
/// config per (verify, CA file)), shared by the `check.http`/`check.tls` kinds and the
/// connectivity monitor's HTTPS probe: `r.common::<SharedTls>(SharedTls::new)`, made by
/// whichever registers first.
#[derive(Clone)]
pub struct SharedTls(pub Arc<TlsConfigs>);

impl SharedTls {
    pub fn new(_: &mut prometheus_client::registry::Registry) -> Self {
        SharedTls(Arc::new(TlsConfigs::new()))
    }
}

pub fn register(r: &mut Registrar<'_>) -> anyhow::Result<()> {
    let engine = executors::ping::register(r.kinds);
    r.metrics.register_collector(Box::new(engine));
    let tls = r.common(SharedTls::new).0;
    executors::checks::register_with(r.kinds, tls);
    Ok(())
}
