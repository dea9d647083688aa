//! Container figures for `/metrics`, with cAdvisor's names (issue 15 §5): one snapshot of
//! the running containers, taken when `/metrics` is scraped (never on a timer), bounded in
//! the number of containers and in time.
//!
//! The engine's one-shot stats (`one-shot=true`) give cumulative counters (CPU
//! nanoseconds, bytes), which is what cAdvisor exports, from one sample; the two-sample form
//! `docker stats` uses (two seconds per container here) is only needed for a percentage.

use std::time::Instant;

use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::StatsOptions;
use futures_util::StreamExt;

use crate::containers::ListFilter;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::stats;

/// Stats requests in flight at once during a snapshot. The engine answers a one-shot
/// request on its stats collector's next tick (about a second, measured here: 100
/// containers one after another took 99 s, all at once 1.3 s), so requests in flight
/// together share one tick: the default bound of 100 containers is one round.
const CONCURRENCY: usize = 128;

/// One running container's figures, as cAdvisor names them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerFigures {
    pub id: String,
    pub name: String,
    pub image: String,
    /// `container_cpu_usage_seconds_total`.
    pub cpu_seconds: f64,
    /// `container_memory_usage_bytes`: the cgroup's usage, page cache included.
    pub memory_usage_bytes: u64,
    /// `container_memory_working_set_bytes`: usage minus inactive page cache.
    pub memory_working_set_bytes: u64,
    pub network_rx_bytes: u64,
    pub network_tx_bytes: u64,
    /// Block I/O, when the engine reports it (`None`: no figures, nothing exported).
    pub fs_reads_bytes: Option<u64>,
    pub fs_writes_bytes: Option<u64>,
}

/// One scrape's worth.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// At most `max` running containers, by name.
    pub containers: Vec<ContainerFigures>,
    /// Running containers left out by the bound.
    pub dropped: u64,
    /// Containers listed but whose stats failed (stopped meanwhile, engine error).
    pub failed: u64,
}

/// The figures of one stats answer (the list's `id`, `name`, `image` are the caller's).
pub fn figures(s: &ContainerStatsResponse) -> ContainerFigures {
    let cpu_ns = s
        .cpu_stats
        .as_ref()
        .and_then(|c| c.cpu_usage.as_ref())
        .and_then(|u| u.total_usage)
        .unwrap_or(0);
    let usage = s.memory_stats.as_ref().and_then(|m| m.usage).unwrap_or(0);
    let inactive = stats::inactive_file(s);
    let (rx, tx) = stats::network_bytes(s);
    let (read, write) = stats::block_io_bytes(s);
    ContainerFigures {
        cpu_seconds: cpu_ns as f64 / 1e9,
        memory_usage_bytes: usage,
        memory_working_set_bytes: usage.saturating_sub(inactive),
        network_rx_bytes: rx,
        network_tx_bytes: tx,
        fs_reads_bytes: read,
        fs_writes_bytes: write,
        ..ContainerFigures::default()
    }
}

impl Engine {
    /// The running containers' figures: at most `max` of them (by name, so the same ones
    /// stay in from one scrape to the next), everything within `deadline`. The list failing
    /// is the error; one container's stats failing only leaves it out (and counts it).
    pub async fn metrics_snapshot(
        &self,
        max: usize,
        deadline: Instant,
    ) -> Result<Snapshot, EngineError> {
        let filter = ListFilter {
            status: vec!["running".into()],
            ..ListFilter::default()
        };
        let mut rows = self.list(&filter, deadline).await?;
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        let dropped = rows.len().saturating_sub(max) as u64;
        rows.truncate(max);
        let results: Vec<_> = futures_util::stream::iter(rows)
            .map(|row| async move {
                let s = self.stats_once(&row.id, deadline).await;
                (row, s)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut snap = Snapshot {
            dropped,
            ..Snapshot::default()
        };
        for (row, s) in results {
            match s {
                Ok(s) => {
                    let mut f = figures(&s);
                    f.id = row.id;
                    f.name = row.name;
                    f.image = row.image;
                    snap.containers.push(f);
                }
                Err(e) => {
                    tracing::debug!(container = %row.name, error = %e, "containers: no stats for the scrape");
                    snap.failed += 1;
                }
            }
        }
        snap.containers.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(snap)
    }

    /// One immediate stats answer (`one_shot`: no second sample, no one-second wait).
    async fn stats_once(
        &self,
        id: &str,
        deadline: Instant,
    ) -> Result<ContainerStatsResponse, EngineError> {
        let opts = StatsOptions {
            stream: false,
            one_shot: true,
        };
        self.call_with(deadline, |d| async move {
            let mut s = d.stats(id, Some(opts));
            match s.next().await {
                Some(Ok(r)) => Ok(r),
                Some(Err(e)) => Err(self.map(e)),
                None => Err(EngineError::engine(None, "the engine sent no sample")),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerCpuStats, ContainerCpuUsage, ContainerMemoryStats};

    #[test]
    fn issue15_figures_are_cumulative_seconds_and_cadvisor_working_set() {
        let s = ContainerStatsResponse {
            cpu_stats: Some(ContainerCpuStats {
                cpu_usage: Some(ContainerCpuUsage {
                    total_usage: Some(2_500_000_000),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            memory_stats: Some(ContainerMemoryStats {
                usage: Some(10_000),
                stats: Some([("inactive_file".to_owned(), 4_000u64)].into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let f = figures(&s);
        assert!((f.cpu_seconds - 2.5).abs() < 1e-9, "{f:?}");
        assert_eq!(f.memory_usage_bytes, 10_000);
        assert_eq!(f.memory_working_set_bytes, 6_000);
        // No block I/O reported: no figure, rather than a made-up zero.
        assert_eq!(f.fs_reads_bytes, None);
    }
}
