//! The running containers' figures on `/metrics`, with cAdvisor's names (issue 15 §5),
//! hooked in by the `containers` component's registration.
//!
//! Collected on scrape only, never on a timer. Whether a scrape asks the engine at all:
//! only once a container job has connected it, or always with `containers.metrics = true`
//! (an agent that never uses containers must not open the engine's socket on every scrape,
//! nor log its absence). A scrape's engine calls share one deadline
//! (`containers.metrics_timeout_ms`): a slow or absent engine costs the scrape that much at
//! most, the rest of `/metrics` is served, and the failure is counted.
//!
//! prometheus-client's collectors encode synchronously, so the collection is run on the
//! scraping worker thread with `block_in_place` (the runtime moves its other tasks away);
//! outside a multi-threaded runtime (never the case in the daemon) it is skipped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use outpost_containers::metrics::{ContainerFigures, Snapshot};
use outpost_containers::Engine;
use outpost_host::prom::{atomic_counters, counters, gauges};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use crate::config::ContainersSection;

use super::Registrar;

/// What the collector is built from (`containers.metrics*`).
#[derive(Debug, Clone)]
pub struct Options {
    pub always: bool,
    pub max_containers: usize,
    pub timeout: Duration,
}

impl Options {
    pub fn from_config(c: &ContainersSection) -> Self {
        Options {
            always: c.metrics,
            max_containers: usize::try_from(c.metrics_max_containers).unwrap_or(usize::MAX),
            timeout: Duration::from_millis(c.metrics_timeout_ms),
        }
    }
}

/// Registers the collector on the root registry (cAdvisor's names are unprefixed).
pub fn register(r: &mut Registrar<'_>, engine: &Engine, opts: Options) {
    r.metrics
        .register_collector(Box::new(ContainerCollector::new(engine.clone(), opts)));
}

#[derive(Debug, Default)]
struct Counts {
    /// Scrapes whose engine calls failed or ran out of time.
    failures: AtomicU64,
    /// Running containers left out by `metrics_max_containers`, summed over scrapes.
    dropped: AtomicU64,
    /// Listed running containers whose stats failed (stopped meanwhile, out of time).
    stats_failed: AtomicU64,
}

pub struct ContainerCollector {
    engine: Engine,
    opts: Options,
    counts: Arc<Counts>,
}

impl std::fmt::Debug for ContainerCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerCollector")
            .field("socket", &self.engine.socket())
            .field("opts", &self.opts)
            .finish()
    }
}

type Labels = [(&'static str, String); 3];

fn labels(c: &ContainerFigures) -> Labels {
    [
        ("id", c.id.clone()),
        ("name", c.name.clone()),
        ("image", c.image.clone()),
    ]
}

impl ContainerCollector {
    fn new(engine: Engine, opts: Options) -> Self {
        ContainerCollector {
            engine,
            opts,
            counts: Arc::default(),
        }
    }

    /// This scrape's snapshot; `None` when the engine is not to be asked or did not answer.
    fn collect(&self) -> Option<Snapshot> {
        if !self.opts.always && !self.engine.connected() {
            return None;
        }
        let handle = tokio::runtime::Handle::try_current().ok()?;
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return None;
        }
        let deadline = Instant::now() + self.opts.timeout;
        let engine = &self.engine;
        let max = self.opts.max_containers;
        let got = tokio::task::block_in_place(|| {
            handle.block_on(async {
                tokio::time::timeout(self.opts.timeout, engine.metrics_snapshot(max, deadline))
                    .await
            })
        });
        match got {
            Ok(Ok(s)) => {
                self.counts.dropped.fetch_add(s.dropped, Ordering::Relaxed);
                self.counts
                    .stats_failed
                    .fetch_add(s.failed, Ordering::Relaxed);
                Some(s)
            }
            Ok(Err(e)) => {
                self.counts.failures.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "containers: no container figures for this scrape");
                None
            }
            Err(_) => {
                self.counts.failures.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("containers: the engine did not answer within the scrape's budget");
                None
            }
        }
    }
}

impl Collector for ContainerCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> std::fmt::Result {
        let snap = self.collect();
        atomic_counters(
            &mut enc,
            &[
                (
                    "outpost_container_metrics_failures",
                    "Scrapes served without container figures: the engine failed or was slower than containers.metrics_timeout_ms",
                    &self.counts.failures,
                ),
                (
                    "outpost_container_metrics_dropped",
                    "Running containers left off /metrics by containers.metrics_max_containers, summed over scrapes",
                    &self.counts.dropped,
                ),
                (
                    "outpost_container_metrics_stats_failed",
                    "Running containers left off a scrape because their stats failed (stopped meanwhile, or out of time)",
                    &self.counts.stats_failed,
                ),
            ],
        )?;
        let Some(snap) = snap else {
            return Ok(());
        };
        let cs = &snap.containers;
        counters(
            &mut enc,
            "container_cpu_usage_seconds",
            "Cumulative cpu time consumed in seconds.",
            cs.iter().map(|c| (labels(c), c.cpu_seconds)),
        )?;
        gauges(
            &mut enc,
            "container_memory_usage_bytes",
            "Current memory usage in bytes, including all memory regardless of when it was accessed",
            cs.iter().map(|c| (labels(c), c.memory_usage_bytes as f64)),
        )?;
        gauges(
            &mut enc,
            "container_memory_working_set_bytes",
            "Current working set in bytes.",
            cs.iter()
                .map(|c| (labels(c), c.memory_working_set_bytes as f64)),
        )?;
        counters(
            &mut enc,
            "container_network_receive_bytes",
            "Cumulative count of bytes received",
            cs.iter().map(|c| (labels(c), c.network_rx_bytes as f64)),
        )?;
        counters(
            &mut enc,
            "container_network_transmit_bytes",
            "Cumulative count of bytes transmitted",
            cs.iter().map(|c| (labels(c), c.network_tx_bytes as f64)),
        )?;
        if cs.iter().any(|c| c.fs_reads_bytes.is_some()) {
            counters(
                &mut enc,
                "container_fs_reads_bytes",
                "Cumulative count of bytes read",
                cs.iter()
                    .filter_map(|c| c.fs_reads_bytes.map(|v| (labels(c), v as f64))),
            )?;
            counters(
                &mut enc,
                "container_fs_writes_bytes",
                "Cumulative count of bytes written",
                cs.iter()
                    .filter_map(|c| c.fs_writes_bytes.map(|v| (labels(c), v as f64))),
            )?;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        gauges(
            &mut enc,
            "container_last_seen",
            "Last time a container was seen by the exporter",
            cs.iter().map(|c| (labels(c), now)),
        )?;
        Ok(())
    }
}
