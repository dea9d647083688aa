//! The `metrics` job: typed params in, a typed snapshot out. The binary's
//! job pipeline validates params at the edge and calls [`run`].

use crate::cpu::Cpu;
use crate::disks::Disk;
use crate::gpu::Gpu;
use crate::load::Load;
use crate::memory::Memory;
use crate::net::Interface;
use crate::processes::ProcessList;
use crate::temps::Temperature;
use crate::{Host, HostError};
use serde::{Deserialize, Serialize};

/// A group of host metrics a job can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricGroup {
    /// CPU usage and counters.
    Cpu,
    /// Memory and swap.
    Memory,
    /// Load averages and uptime.
    Load,
    /// Filesystems.
    Disks,
    /// Interface counters.
    Network,
    /// Every process; the largest group, so not in the default set.
    Processes,
    /// hwmon sensors.
    Temperatures,
    /// GPUs.
    Gpus,
}

impl MetricGroup {
    /// Every group.
    pub const ALL: [MetricGroup; 8] = [
        MetricGroup::Cpu,
        MetricGroup::Memory,
        MetricGroup::Load,
        MetricGroup::Disks,
        MetricGroup::Network,
        MetricGroup::Processes,
        MetricGroup::Temperatures,
        MetricGroup::Gpus,
    ];

    /// What a job gets when it names no group: all but processes.
    pub const DEFAULT: [MetricGroup; 7] = [
        MetricGroup::Cpu,
        MetricGroup::Memory,
        MetricGroup::Load,
        MetricGroup::Disks,
        MetricGroup::Network,
        MetricGroup::Temperatures,
        MetricGroup::Gpus,
    ];
}

/// Params of a `metrics` job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsParams {
    /// Groups to include; empty means [`MetricGroup::DEFAULT`].
    #[serde(default)]
    pub groups: Vec<MetricGroup>,
}

impl MetricsParams {
    /// Whether `group` is asked for.
    pub fn wants(&self, group: MetricGroup) -> bool {
        if self.groups.is_empty() {
            MetricGroup::DEFAULT.contains(&group)
        } else {
            self.groups.contains(&group)
        }
    }
}

/// The result of a `metrics` job. Groups not asked for are absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MetricsSnapshot {
    /// Epoch milliseconds of the fast metrics' collection.
    pub sampled_at_ms: u64,
    /// Which host this describes.
    pub hostname: String,
    /// CPU, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    /// Memory and swap, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    /// Load and uptime, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<Load>,
    /// Filesystems, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disks: Option<Vec<Disk>>,
    /// Interfaces, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<Vec<Interface>>,
    /// Processes, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processes: Option<ProcessList>,
    /// Temperatures, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperatures: Option<Vec<Temperature>>,
    /// GPUs, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpus: Option<Vec<Gpu>>,
}

/// Runs a `metrics` job through the host's caches. Only the groups asked for
/// are collected (disks and processes have their own caches).
pub fn run(host: &Host, params: &MetricsParams) -> Result<MetricsSnapshot, HostError> {
    let m = host.metrics()?;
    let want = |g| params.wants(g);
    Ok(MetricsSnapshot {
        sampled_at_ms: m.sampled_at_ms,
        hostname: m.hostname.clone(),
        cpu: want(MetricGroup::Cpu).then(|| m.cpu.clone()),
        memory: want(MetricGroup::Memory).then_some(m.memory),
        load: want(MetricGroup::Load).then_some(m.load),
        disks: if want(MetricGroup::Disks) {
            Some(host.disks()?.as_ref().clone())
        } else {
            None
        },
        network: want(MetricGroup::Network).then(|| m.networks.clone()),
        processes: if want(MetricGroup::Processes) {
            Some(host.processes()?.as_ref().clone())
        } else {
            None
        },
        temperatures: want(MetricGroup::Temperatures).then(|| m.temperatures.clone()),
        gpus: want(MetricGroup::Gpus).then(|| m.gpus.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_parse_and_select() {
        let p: MetricsParams = serde_json::from_str(r#"{"groups":["cpu","load"]}"#).unwrap();
        assert!(p.wants(MetricGroup::Cpu) && !p.wants(MetricGroup::Disks));
        assert!(serde_json::from_str::<MetricsParams>(r#"{"groups":["bogus"]}"#).is_err());
        let all = MetricsParams::default();
        assert!(all.wants(MetricGroup::Disks) && !all.wants(MetricGroup::Processes));
    }

    #[test]
    fn snapshot_has_only_asked_groups() {
        let host = Host::default();
        let s = run(
            &host,
            &MetricsParams {
                groups: vec![MetricGroup::Memory, MetricGroup::Processes],
            },
        )
        .unwrap();
        let v = serde_json::to_value(&s).unwrap();
        assert!(v.get("memory").is_some());
        assert!(v.get("processes").is_some());
        assert!(v.get("cpu").is_none());
        assert!(v.get("disks").is_none());
        assert!(!s.hostname.is_empty());
    }
}
