//! The `Host` handle: on-demand collection behind one TTL cache per group.

use crate::cache::{Cached, PerPid};
use crate::cpu::{Cpu, CpuSampler};
use crate::disks::Disk;
use crate::error::read_file;
use crate::gpu::{Gpu, GpuProbe};
use crate::journal::Journal;
use crate::load::Load;
use crate::memory::Memory;
use crate::net::Interface;
use crate::process_detail::{ProcessDetail, Units};
use crate::processes::{ProcessList, ProcessSampler};
use crate::procfs::{FileReader, KeptFile, Shape};
use crate::temps::Temperature;
use crate::HostError;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How `Host` collects. Defaults match socktop_agent's cache times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// How long CPU, memory, load, network, temperatures and GPUs are served
    /// from cache. Zero collects on every call.
    pub metrics_ttl: Duration,
    /// How long the filesystem list is served from cache.
    pub disks_ttl: Duration,
    /// How long the process list is served from cache.
    pub processes_ttl: Duration,
    /// Where procfs is mounted; tests point it at a fake tree.
    pub proc_root: PathBuf,
    /// Where sysfs is mounted; tests point it at a fake tree (GPU fixtures).
    pub sys_root: PathBuf,
    /// The journalctl program the process view's journal is read with.
    pub journalctl: PathBuf,
    /// Read the journal from this directory (`journalctl --directory`), e.g.
    /// the host's /var/log/journal mounted into the agent's container; None
    /// reads the system's journal.
    pub journal_dir: Option<PathBuf>,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            metrics_ttl: Duration::from_millis(250),
            disks_ttl: Duration::from_secs(1),
            processes_ttl: Duration::from_millis(1500),
            proc_root: PathBuf::from("/proc"),
            sys_root: PathBuf::from("/sys"),
            journalctl: PathBuf::from("journalctl"),
            journal_dir: None,
        }
    }
}

/// The fast-changing metrics, collected together because socktop asks for
/// them together several times a second.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostMetrics {
    /// Epoch milliseconds of collection; clients compute rates from it, not
    /// from when a cached copy reached them.
    pub sampled_at_ms: u64,
    /// The host's name (uname nodename).
    pub hostname: String,
    /// CPU usage and counters.
    pub cpu: Cpu,
    /// Memory and swap.
    pub memory: Memory,
    /// Load averages and uptime.
    pub load: Load,
    /// Interface counters.
    pub networks: Vec<Interface>,
    /// hwmon sensors; empty where there are none.
    pub temperatures: Vec<Temperature>,
    /// GPUs: NVIDIA through NVML, AMD and Intel through sysfs; empty without.
    pub gpus: Vec<Gpu>,
}

/// Which cache a figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheGroup {
    /// `Host::metrics`.
    Metrics,
    /// `Host::disks`.
    Disks,
    /// `Host::processes`.
    Processes,
}

#[derive(Debug)]
struct Inner {
    /// Roots and TTLs.
    config: HostConfig,
    /// Bytes per page, for RSS.
    page_size: u64,
    /// USER_HZ, for CPU seconds.
    ticks_per_second: u64,
    /// CPU, memory, load, network, temperatures, GPUs.
    metrics: Cached<MetricsState, HostMetrics>,
    /// Filesystems.
    disks: Cached<crate::disks::DiskSampler, Vec<Disk>>,
    /// Processes, with the previous jiffies of live pids.
    processes: Cached<ProcessSampler, ProcessList>,
    /// NVML (loaded at most once) and the DRM cards.
    gpu: GpuProbe,
    /// One process in detail, per pid, socktop_agent's 250 ms.
    details: PerPid<ProcessDetail>,
    /// One process's journal, per pid, socktop_agent's 1 s: journalctl is
    /// a process start per miss.
    journals: PerPid<Journal>,
    /// socktop's replies as encoded frames, one per cached value.
    frames: crate::socktop::frames::Frames,
}

/// What the fast metrics keep between collections.
#[derive(Debug, Default)]
struct MetricsState {
    /// The previous CPU counters.
    cpu: CpuSampler,
    /// The read buffer for /proc/stat, /proc/meminfo and /proc/net/dev.
    reader: FileReader,
    /// /proc/stat, /proc/meminfo and /proc/net/dev, kept open on procfs.
    files: [KeptFile; 3],
}

/// Pids whose detail or journal is remembered at most (socktop_agent's bound).
const PER_PID_ENTRIES: usize = 64;

/// A cheap, cloneable handle to the host's metrics. Collection happens only
/// inside these calls: no task, no timer. Methods block for the time of a
/// few /proc reads (processes: one read per process), so async callers on a
/// busy runtime may prefer `spawn_blocking` for `processes()`.
#[derive(Debug, Clone)]
pub struct Host {
    /// Shared so every clone uses the same caches.
    inner: Arc<Inner>,
}

impl Default for Host {
    fn default() -> Self {
        Host::new(HostConfig::default())
    }
}

impl Host {
    /// A handle collecting as `config` says.
    pub fn new(config: HostConfig) -> Host {
        let ticks = rustix::param::clock_ticks_per_second();
        Host {
            inner: Arc::new(Inner {
                page_size: rustix::param::page_size() as u64,
                ticks_per_second: if ticks == 0 { 100 } else { ticks },
                metrics: Cached::new(config.metrics_ttl),
                disks: Cached::new(config.disks_ttl),
                processes: Cached::new(config.processes_ttl),
                gpu: GpuProbe::default(),
                details: PerPid::new(Duration::from_millis(250), PER_PID_ENTRIES),
                journals: PerPid::new(Duration::from_secs(1), PER_PID_ENTRIES),
                frames: crate::socktop::frames::Frames::default(),
                config,
            }),
        }
    }

    /// The configuration this handle was built with.
    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }

    /// CPU, memory, load, network, temperatures and GPUs.
    pub fn metrics(&self) -> Result<Arc<HostMetrics>, HostError> {
        let inner = &*self.inner;
        inner.metrics.get(|state| {
            let proc = &inner.config.proc_root;
            let MetricsState {
                cpu,
                reader,
                files: [stat, meminfo, net_dev],
            } = state;
            let path = proc.join("stat");
            let text = stat
                .read(reader, &path, Shape::OneRecord)
                .map_err(|e| HostError::read(&path, e))?;
            let stat = crate::cpu::parse_stat(text).map_err(|w| HostError::parse(&path, w))?;
            let cpu = cpu.sample(stat, inner.ticks_per_second);

            let path = proc.join("meminfo");
            let text = meminfo
                .read(reader, &path, Shape::OneRecord)
                .map_err(|e| HostError::read(&path, e))?;
            let memory =
                crate::memory::parse_meminfo(text).map_err(|w| HostError::parse(&path, w))?;

            let path = proc.join("net/dev");
            let networks = crate::net::parse_net_dev(
                net_dev
                    .read(reader, &path, Shape::Records)
                    .map_err(|e| HostError::read(&path, e))?,
            );

            Ok(HostMetrics {
                sampled_at_ms: now_ms(),
                hostname: rustix::system::uname()
                    .nodename()
                    .to_string_lossy()
                    .into_owned(),
                cpu,
                memory,
                load: crate::load::collect(),
                networks,
                temperatures: crate::temps::collect(&inner.config.sys_root),
                gpus: inner.gpu.collect(&inner.config.sys_root),
            })
        })
    }

    /// Mounted filesystems with real data, node_exporter's selection.
    pub fn disks(&self) -> Result<Arc<Vec<Disk>>, HostError> {
        let inner = &*self.inner;
        inner
            .disks
            .get(|sampler| sampler.collect(&inner.config.proc_root))
    }

    /// Every process with CPU % since the previous sample.
    pub fn processes(&self) -> Result<Arc<ProcessList>, HostError> {
        let inner = &*self.inner;
        inner.processes.get(|sampler| {
            sampler.sample(
                &inner.config.proc_root,
                inner.page_size,
                inner.ticks_per_second,
            )
        })
    }

    /// One process in detail: memory (exact resident size), I/O, threads,
    /// direct children, command line. CPU % is the process list's figure for
    /// it, so the detail view agrees with the row it was opened from.
    /// `HostError::NoSuchProcess` when no process has this pid.
    pub fn process_detail(&self, pid: u32) -> Result<Arc<ProcessDetail>, HostError> {
        let inner = &*self.inner;
        inner.details.get(pid, || {
            let proc = &inner.config.proc_root;
            let stat = proc.join("stat");
            let boot_time = crate::cpu::parse_stat(&read_file(&stat)?)
                .map_err(|w| HostError::parse(&stat, w))?
                .boot_time;
            let units = Units {
                page_size: inner.page_size,
                ticks_per_second: inner.ticks_per_second,
                boot_time,
            };
            let mut detail = crate::process_detail::collect(proc, pid, units, true)?;
            if let Ok(list) = self.processes() {
                let cpu = |pid: u32| {
                    list.rows
                        .iter()
                        .find(|p| p.pid == pid)
                        .map_or(0.0, |p| p.cpu_percent)
                };
                detail.cpu_percent = cpu(pid);
                for child in &mut detail.children {
                    child.cpu_percent = cpu(child.pid);
                }
            }
            Ok(detail)
        })
    }

    /// One process's journal entries, newest first; an empty list with a
    /// notice where there is no journal. `HostError::NoSuchProcess` when no
    /// process has this pid.
    pub fn journal(&self, pid: u32) -> Result<Arc<Journal>, HostError> {
        let inner = &*self.inner;
        inner.journals.get(pid, || {
            let proc = &inner.config.proc_root;
            if pid == 0 || !proc.join(pid.to_string()).join("stat").exists() {
                return Err(HostError::NoSuchProcess { pid });
            }
            Ok(crate::journal::collect(
                proc,
                pid,
                &inner.config.journalctl,
                inner.config.journal_dir.as_deref(),
            ))
        })
    }

    /// The fast metrics if the cache holds a fresh value; never collects.
    pub(crate) fn fresh_metrics(&self) -> Option<Arc<HostMetrics>> {
        self.inner.metrics.fresh()
    }

    /// The filesystems if the cache holds a fresh value; never collects.
    pub(crate) fn fresh_disks(&self) -> Option<Arc<Vec<Disk>>> {
        self.inner.disks.fresh()
    }

    /// The process list if the cache holds a fresh value; never collects.
    pub(crate) fn fresh_processes(&self) -> Option<Arc<ProcessList>> {
        self.inner.processes.fresh()
    }

    /// socktop's encoded replies.
    pub(crate) fn frames(&self) -> &crate::socktop::frames::Frames {
        &self.inner.frames
    }

    /// How many times a group's socktop reply has been encoded (serialized
    /// and, past the threshold, gzipped). A cached value is encoded once
    /// however often it is served.
    pub fn frame_encodes(&self, group: CacheGroup) -> u64 {
        self.inner.frames.encodes(group)
    }

    /// How many times a group has really been collected (cache misses).
    pub fn collections(&self, group: CacheGroup) -> u64 {
        match group {
            CacheGroup::Metrics => self.inner.metrics.collections(),
            CacheGroup::Disks => self.inner.disks.collections(),
            CacheGroup::Processes => self.inner.processes.collections(),
        }
    }

    /// USER_HZ of this host.
    pub fn ticks_per_second(&self) -> u64 {
        self.inner.ticks_per_second
    }

    #[cfg(test)]
    pub(crate) fn remembered_pids(&self) -> usize {
        self.inner.processes.with_state(|s| s.remembered())
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_state_is_bounded_by_live_processes() {
        let host = Host::new(HostConfig {
            processes_ttl: Duration::ZERO,
            ..HostConfig::default()
        });
        for _ in 0..3 {
            let list = host.processes().unwrap();
            assert_eq!(host.remembered_pids(), list.rows.len());
        }
    }

    #[test]
    fn handle_is_send_sync_and_clone() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<Host>();
    }
}
