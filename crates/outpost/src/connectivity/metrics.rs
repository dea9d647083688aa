//! The monitor's figures on `/metrics`, read from its status at scrape time.

use std::sync::{Arc, Mutex};

use outpost_connectivity::{Health, Status};
use outpost_host::prom::{counters, gauge, gauges};

#[derive(Debug)]
pub struct Collector(pub Arc<Mutex<Status>>);

impl prometheus_client::collector::Collector for Collector {
    fn encode(
        &self,
        mut enc: prometheus_client::encoding::DescriptorEncoder<'_>,
    ) -> std::fmt::Result {
        let st = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        gauges(
            &mut enc,
            "outpost_connectivity_state",
            "The uplink's state: 1 for the current one (unknown, online, degraded, offline)",
            Health::ALL.map(|h| ([("state", h.as_str())], f64::from(u8::from(h == st.state)))),
        )?;
        gauge(
            &mut enc,
            "outpost_connectivity_score",
            "Connectivity score, 0 to 100: the weight of the probes up (route 10, DNS, TCP and HTTP 30 each) over the weight of those configured",
            f64::from(st.score),
        )?;
        gauges(
            &mut enc,
            "outpost_connectivity_probe_up",
            "Each probe's settled state (after hysteresis): 1 up, 0 down; absent until settled",
            st.probes.iter().filter_map(|p| {
                p.up.map(|up| ([("probe", p.probe.as_str())], f64::from(u8::from(up))))
            }),
        )?;
        gauges(
            &mut enc,
            "outpost_connectivity_probe_latency_seconds",
            "Each probe's latest duration",
            st.probes.iter().filter_map(|p| {
                let l = p.last.as_ref()?.latency?;
                Some(([("probe", p.probe.as_str())], l.as_secs_f64()))
            }),
        )?;
        counters(
            &mut enc,
            "outpost_connectivity_actions",
            "Recovery steps due, by decision (ran, failed, would_run, skipped) and reason (the guard rail that skipped it)",
            st.actions.iter().map(|(k, v)| {
                let (decision, reason) = k.split_once(':').unwrap_or((k.as_str(), ""));
                (
                    [("decision", decision.to_owned()), ("reason", reason.to_owned())],
                    *v,
                )
            }),
        )?;
        Ok(())
    }
}
