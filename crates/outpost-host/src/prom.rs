//! Prometheus exposition of host metrics with node_exporter's names, so
//! existing dashboards and alerts work unchanged. Collected on scrape,
//! through the same TTL caches as every other reader.

use crate::{CacheGroup, Host};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeLabelSet, EncodeMetric,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use std::fmt;

/// Registers with `Registry::register_collector`; each scrape reads the
/// host's caches. Register it on the root registry (no prefix), or the
/// node_exporter names get the prefix too.
#[derive(Debug, Clone)]
pub struct HostCollector {
    /// Where the figures come from.
    host: Host,
}

impl HostCollector {
    /// A collector reading `host`.
    pub fn new(host: Host) -> Self {
        HostCollector { host }
    }
}

type Labels = Vec<(&'static str, String)>;

// The helpers every collector in the agent writes its figures with (read at scrape time,
// so a figure that lives elsewhere, an atomic or a /proc table, is never copied on a timer).

/// A gauge family, one row per label set.
pub fn gauges<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (L, f64)>,
) -> fmt::Result {
    let mut metric = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in rows {
        ConstGauge::new(value).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A gauge without labels.
pub fn gauge(enc: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: f64) -> fmt::Result {
    // Without labels the value is encoded on the descriptor itself; an empty
    // label set would print `name{}`.
    let metric = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
}

/// A counter family, one row per label set. `name` without `_total`: the encoder appends
/// it to counters.
pub fn counters<L: EncodeLabelSet, N: EncodeCounterValue>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (L, N)>,
) -> fmt::Result {
    let mut metric = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in rows {
        ConstCounter::new(value).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A counter without labels; `name` without `_total`.
pub fn counter<N: EncodeCounterValue>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: N,
) -> fmt::Result {
    let metric = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(metric)
}

/// Counters without labels read from atomics at scrape time: `(name, help, value)` rows, each
/// `name` without `_total`.
pub fn atomic_counters(
    enc: &mut DescriptorEncoder<'_>,
    rows: &[(&str, &str, &std::sync::atomic::AtomicU64)],
) -> fmt::Result {
    for (name, help, value) in rows {
        counter(
            enc,
            name,
            help,
            value.load(std::sync::atomic::Ordering::Relaxed),
        )?;
    }
    Ok(())
}

impl Collector for HostCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let metrics = self.host.metrics();
        let disks = self.host.disks();
        if let Err(e) = &metrics {
            tracing::debug!(error = %e, "host metrics unavailable for scrape");
        }
        if let Err(e) = &disks {
            tracing::debug!(error = %e, "filesystems unavailable for scrape");
        }
        gauges(
            &mut enc,
            "node_scrape_collector_success",
            "Whether a collector succeeded.",
            [
                (
                    vec![("collector", "metrics".to_string())],
                    f64::from(u8::from(metrics.is_ok())),
                ),
                (
                    vec![("collector", "filesystem".to_string())],
                    f64::from(u8::from(disks.is_ok())),
                ),
            ],
        )?;
        counters(
            &mut enc,
            "outpost_host_collections",
            "Host metric collections run (TTL cache misses), by cache group.",
            [
                ("metrics", CacheGroup::Metrics),
                ("disks", CacheGroup::Disks),
                ("processes", CacheGroup::Processes),
            ]
            .map(|(name, g)| {
                (
                    vec![("group", name.to_string())],
                    self.host.collections(g) as f64,
                )
            }),
        )?;

        if let Ok(m) = metrics {
            let hz = m.cpu.ticks_per_second.max(1) as f64;
            counters(
                &mut enc,
                "node_cpu_seconds",
                "Seconds the CPUs spent in each mode.",
                m.cpu.stat.cores.iter().flat_map(|core| {
                    core.times.modes().map(|(mode, ticks)| {
                        (
                            vec![("cpu", core.cpu.to_string()), ("mode", mode.to_string())],
                            ticks as f64 / hz,
                        )
                    })
                }),
            )?;
            gauge(
                &mut enc,
                "node_boot_time_seconds",
                "Node boot time, in unixtime.",
                m.cpu.stat.boot_time as f64,
            )?;
            gauge(
                &mut enc,
                "node_procs_running",
                "Number of processes in runnable state.",
                m.cpu.stat.procs_running as f64,
            )?;
            gauge(
                &mut enc,
                "node_procs_blocked",
                "Number of processes blocked waiting for I/O to complete.",
                m.cpu.stat.procs_blocked as f64,
            )?;

            let mem = &m.memory;
            for (name, value) in [
                ("node_memory_MemTotal_bytes", mem.total_bytes),
                ("node_memory_MemFree_bytes", mem.free_bytes),
                ("node_memory_MemAvailable_bytes", mem.available_bytes),
                ("node_memory_Buffers_bytes", mem.buffers_bytes),
                ("node_memory_Cached_bytes", mem.cached_bytes),
                ("node_memory_SwapTotal_bytes", mem.swap_total_bytes),
                ("node_memory_SwapFree_bytes", mem.swap_free_bytes),
            ] {
                gauge(
                    &mut enc,
                    name,
                    "Memory information field from /proc/meminfo.",
                    value as f64,
                )?;
            }

            gauge(&mut enc, "node_load1", "1m load average.", m.load.load1)?;
            gauge(&mut enc, "node_load5", "5m load average.", m.load.load5)?;
            gauge(&mut enc, "node_load15", "15m load average.", m.load.load15)?;

            type Pick = fn(&crate::net::Interface) -> u64;
            let net: [(&str, &str, Pick); 8] = [
                ("node_network_receive_bytes", "Bytes received.", |n| {
                    n.rx_bytes
                }),
                ("node_network_receive_packets", "Packets received.", |n| {
                    n.rx_packets
                }),
                ("node_network_receive_errs", "Receive errors.", |n| {
                    n.rx_errors
                }),
                (
                    "node_network_receive_drop",
                    "Received packets dropped.",
                    |n| n.rx_drops,
                ),
                ("node_network_transmit_bytes", "Bytes transmitted.", |n| {
                    n.tx_bytes
                }),
                (
                    "node_network_transmit_packets",
                    "Packets transmitted.",
                    |n| n.tx_packets,
                ),
                ("node_network_transmit_errs", "Transmit errors.", |n| {
                    n.tx_errors
                }),
                (
                    "node_network_transmit_drop",
                    "Transmitted packets dropped.",
                    |n| n.tx_drops,
                ),
            ];
            for (name, help, pick) in net {
                counters(
                    &mut enc,
                    name,
                    help,
                    m.networks
                        .iter()
                        .map(|n| (vec![("device", n.name.clone())], pick(n) as f64)),
                )?;
            }

            if !m.temperatures.is_empty() {
                gauges(
                    &mut enc,
                    "node_hwmon_temp_celsius",
                    "Hardware monitor for temperature (input).",
                    m.temperatures.iter().map(|t| {
                        (
                            vec![("chip", t.chip.clone()), ("sensor", t.sensor.clone())],
                            f64::from(t.celsius),
                        )
                    }),
                )?;
            }
            if !m.gpus.is_empty() {
                // No node_exporter standard for GPUs; outpost_ names say so.
                gauges(
                    &mut enc,
                    "outpost_gpu_utilization_percent",
                    "GPU busy percent.",
                    m.gpus.iter().enumerate().map(|(i, g)| {
                        (
                            vec![("gpu", i.to_string()), ("name", g.name.clone())],
                            f64::from(g.utilization_percent),
                        )
                    }),
                )?;
                gauges(
                    &mut enc,
                    "outpost_gpu_memory_used_bytes",
                    "GPU memory in use.",
                    m.gpus.iter().enumerate().map(|(i, g)| {
                        (
                            vec![("gpu", i.to_string()), ("name", g.name.clone())],
                            g.memory_used_bytes as f64,
                        )
                    }),
                )?;
            }
        }

        if let Ok(disks) = disks {
            let labels = |d: &crate::disks::Disk| -> Labels {
                vec![
                    ("device", d.device.clone()),
                    ("fstype", d.fs_type.clone()),
                    ("mountpoint", d.mount_point.clone()),
                ]
            };
            type Pick = fn(&crate::disks::Disk) -> f64;
            let fs: [(&str, &str, Pick); 4] = [
                (
                    "node_filesystem_size_bytes",
                    "Filesystem size in bytes.",
                    |d| d.total_bytes as f64,
                ),
                (
                    "node_filesystem_avail_bytes",
                    "Filesystem space available to non-root users in bytes.",
                    |d| d.available_bytes as f64,
                ),
                (
                    "node_filesystem_free_bytes",
                    "Filesystem free space in bytes.",
                    |d| d.free_bytes as f64,
                ),
                (
                    "node_filesystem_readonly",
                    "Filesystem read-only status.",
                    |d| f64::from(u8::from(d.read_only)),
                ),
            ];
            for (name, help, pick) in fs {
                gauges(
                    &mut enc,
                    name,
                    help,
                    disks.iter().map(|d| (labels(d), pick(d))),
                )?;
            }
        }
        Ok(())
    }
}
