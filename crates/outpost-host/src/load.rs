//! Load averages and uptime. Both come from syscalls, sysinfo(2) and
//! CLOCK_BOOTTIME, rather than /proc/loadavg and /proc/uptime: the same
//! kernel figures without two file opens per sample (a fifth of an uncached
//! `get_metrics`).

use serde::Serialize;

/// Run-queue load and how long the host has been up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Load {
    /// 1-minute load average.
    pub load1: f64,
    /// 5-minute load average.
    pub load5: f64,
    /// 15-minute load average.
    pub load15: f64,
    /// Seconds since boot; operators read reboots from it.
    pub uptime_seconds: f64,
}

/// Seconds since boot, suspend included, as /proc/uptime counts them.
pub(crate) fn uptime_seconds() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

pub(crate) fn collect() -> Load {
    let info = rustix::system::sysinfo();
    // The kernel keeps loads in fixed point with 16 fraction bits (SI_LOAD_SHIFT).
    let load = |i: usize| info.loads.get(i).map_or(0.0, |&v| v as f64 / 65536.0);
    Load {
        load1: load(0),
        load5: load(1),
        load15: load(2),
        uptime_seconds: uptime_seconds(),
    }
}
