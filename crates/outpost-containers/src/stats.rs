//! `container.stats`: one sample of one container, with the figures `docker stats` shows
//! computed the way it computes them.

use std::time::Instant;

use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::StatsOptions;
use futures_util::StreamExt;
use serde::Serialize;

use crate::engine::Engine;
use crate::error::EngineError;

/// One sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StatsSample {
    pub id: String,
    pub name: String,
    /// Percent of one CPU (200 = two CPUs busy), over the engine's sampling interval.
    pub cpu_percent: f64,
    pub online_cpus: u32,
    /// Usage minus the page cache, as `docker stats` shows it.
    pub memory_usage_bytes: u64,
    pub memory_limit_bytes: u64,
    pub network_rx_bytes: u64,
    pub network_tx_bytes: u64,
    pub block_read_bytes: u64,
    pub block_write_bytes: u64,
    pub pids: u64,
}

/// The sample's figures from the engine's answer.
pub fn sample(s: &ContainerStatsResponse) -> StatsSample {
    let cpu = s.cpu_stats.as_ref();
    let pre = s.precpu_stats.as_ref();
    let total = |c: Option<&bollard::models::ContainerCpuStats>| {
        c.and_then(|c| c.cpu_usage.as_ref())
            .and_then(|u| u.total_usage)
            .unwrap_or(0)
    };
    let system = |c: Option<&bollard::models::ContainerCpuStats>| {
        c.and_then(|c| c.system_cpu_usage).unwrap_or(0)
    };
    let online = cpu
        .and_then(|c| c.online_cpus)
        .filter(|n| *n > 0)
        .or_else(|| {
            cpu.and_then(|c| c.cpu_usage.as_ref())
                .and_then(|u| u.percpu_usage.as_ref())
                .map(|v| v.len() as u32)
        })
        .unwrap_or(1);
    let cpu_delta = total(cpu).saturating_sub(total(pre)) as f64;
    let sys_delta = system(cpu).saturating_sub(system(pre)) as f64;
    let cpu_percent = if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * f64::from(online) * 100.0
    } else {
        0.0
    };
    let mem = s.memory_stats.as_ref();
    let usage = mem.and_then(|m| m.usage).unwrap_or(0);
    let cache = inactive_file(s);
    let (rx, tx) = network_bytes(s);
    let (read, write) = block_io_bytes(s);
    let (read, write) = (read.unwrap_or(0), write.unwrap_or(0));
    StatsSample {
        id: s.id.clone().unwrap_or_default(),
        name: s
            .name
            .as_deref()
            .map(|n| n.strip_prefix('/').unwrap_or(n).to_owned())
            .unwrap_or_default(),
        cpu_percent: (cpu_percent * 100.0).round() / 100.0,
        online_cpus: online,
        memory_usage_bytes: usage.saturating_sub(cache),
        memory_limit_bytes: mem.and_then(|m| m.limit).unwrap_or(0),
        network_rx_bytes: rx,
        network_tx_bytes: tx,
        block_read_bytes: read,
        block_write_bytes: write,
        pids: s.pids_stats.as_ref().and_then(|p| p.current).unwrap_or(0),
    }
}

/// The inactive page cache (cgroup v2 calls it `inactive_file`, v1 `total_inactive_file`):
/// memory usage minus it is what `docker stats` shows and cAdvisor calls the working set.
pub(crate) fn inactive_file(s: &ContainerStatsResponse) -> u64 {
    s.memory_stats
        .as_ref()
        .and_then(|m| m.stats.as_ref())
        .and_then(|st| {
            st.get("inactive_file")
                .or_else(|| st.get("total_inactive_file"))
                .copied()
        })
        .unwrap_or(0)
}

/// Bytes received and sent over all the container's interfaces.
pub(crate) fn network_bytes(s: &ContainerStatsResponse) -> (u64, u64) {
    let (mut rx, mut tx) = (0u64, 0u64);
    for n in s.networks.iter().flat_map(|m| m.values()) {
        rx = rx.saturating_add(n.rx_bytes.unwrap_or(0));
        tx = tx.saturating_add(n.tx_bytes.unwrap_or(0));
    }
    (rx, tx)
}

/// Block bytes read and written; `None` when the engine reports no block I/O at all (an
/// engine that reports it gives zero as zero).
pub(crate) fn block_io_bytes(s: &ContainerStatsResponse) -> (Option<u64>, Option<u64>) {
    let Some(io) = s
        .blkio_stats
        .as_ref()
        .and_then(|b| b.io_service_bytes_recursive.as_ref())
    else {
        return (None, None);
    };
    let (mut read, mut write) = (0u64, 0u64);
    for e in io {
        let v = e.value.unwrap_or(0);
        match e.op.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => read = read.saturating_add(v),
            Some("write") => write = write.saturating_add(v),
            _ => {}
        }
    }
    (Some(read), Some(write))
}

impl Engine {
    /// One sample (`stream=false`: the engine measures over about a second and answers).
    pub async fn stats(&self, id: &str, deadline: Instant) -> Result<StatsSample, EngineError> {
        let opts = StatsOptions {
            stream: false,
            one_shot: false,
        };
        self.call_with(deadline, |d| async move {
            let mut s = d.stats(id, Some(opts));
            match s.next().await {
                Some(Ok(r)) => Ok(sample(&r)),
                Some(Err(e)) => Err(self.map(e)),
                None => Err(EngineError::engine(None, "the engine sent no sample")),
            }
        })
        .await
    }
}
