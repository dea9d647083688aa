//! Host metrics: the `metrics` kind, node_exporter's figures on `/metrics`, and socktop's
//! `/ws`, all reading the process's one host handle (collected on request, never on a
//! timer).

use crate::executors;

use super::Registrar;

pub fn register(r: &mut Registrar<'_>) -> anyhow::Result<()> {
    let host = &r.shared.host;
    executors::metrics::register(r.kinds, host.clone());
    executors::interfaces::register(r.kinds, host.clone());
    // On the root registry, unprefixed: node_exporter's names, collected on scrape.
    r.metrics
        .register_collector(Box::new(outpost_host::prom::HostCollector::new(
            host.clone(),
        )));
    #[cfg(feature = "ws")]
    r.routes.push(crate::api::ws::route(host.clone()));
    Ok(())
}
