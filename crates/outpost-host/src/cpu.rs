//! CPU usage from /proc/stat. The kernel gives cumulative ticks; usage is the
//! share of non-idle ticks between two samples, so the collector keeps the
//! previous sample.

use serde::Serialize;

/// Cumulative ticks (USER_HZ) one CPU spent in each mode, as /proc/stat lists them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CpuTimes {
    /// Time running user code, guest time included (the kernel folds it in).
    pub user: u64,
    /// Time running niced user code.
    pub nice: u64,
    /// Time running kernel code.
    pub system: u64,
    /// Time doing nothing.
    pub idle: u64,
    /// Idle time while I/O was outstanding; counted as idle for usage.
    pub iowait: u64,
    /// Time serving hardware interrupts.
    pub irq: u64,
    /// Time serving softirqs.
    pub softirq: u64,
    /// Time stolen by the hypervisor; matters on VMs.
    pub steal: u64,
}

impl CpuTimes {
    /// All ticks, busy and idle.
    pub fn total(&self) -> u64 {
        self.busy()
            .saturating_add(self.idle)
            .saturating_add(self.iowait)
    }

    /// Ticks spent doing work.
    pub fn busy(&self) -> u64 {
        self.user
            .saturating_add(self.nice)
            .saturating_add(self.system)
            .saturating_add(self.irq)
            .saturating_add(self.softirq)
            .saturating_add(self.steal)
    }

    /// Each mode with node_exporter's name for it.
    pub fn modes(&self) -> [(&'static str, u64); 8] {
        [
            ("user", self.user),
            ("nice", self.nice),
            ("system", self.system),
            ("idle", self.idle),
            ("iowait", self.iowait),
            ("irq", self.irq),
            ("softirq", self.softirq),
            ("steal", self.steal),
        ]
    }
}

/// Busy share in percent (0..=100) between two samples of the same CPU.
/// Counters that went backwards (CPU hot-unplug, wrap) read as 0, not garbage.
pub fn usage_percent(prev: &CpuTimes, now: &CpuTimes) -> f32 {
    let total = now.total().saturating_sub(prev.total());
    if total == 0 {
        return 0.0;
    }
    let busy = now.busy().saturating_sub(prev.busy()).min(total);
    (busy as f64 / total as f64 * 100.0) as f32
}

/// One per-core line of /proc/stat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CoreTimes {
    /// The N of `cpuN`; offline cores are absent, so the position is not the index.
    pub cpu: u32,
    /// That core's cumulative ticks.
    pub times: CpuTimes,
}

/// What one read of /proc/stat gives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CpuStat {
    /// The `cpu` line: all cores added up.
    pub total: CpuTimes,
    /// The `cpuN` lines.
    pub cores: Vec<CoreTimes>,
    /// `btime`: boot time in seconds since the epoch, for node_boot_time_seconds.
    pub boot_time: u64,
    /// `procs_running`: runnable tasks right now.
    pub procs_running: u64,
    /// `procs_blocked`: tasks waiting on I/O right now.
    pub procs_blocked: u64,
}

/// Parses /proc/stat. Lines we do not know are ignored; a missing `cpu` line is an error.
pub fn parse_stat(text: &str) -> Result<CpuStat, &'static str> {
    let mut stat = CpuStat::default();
    let mut saw_total = false;
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else { continue };
        if key == "cpu" {
            stat.total = parse_times(fields)?;
            saw_total = true;
        } else if let Some(n) = key.strip_prefix("cpu") {
            let Ok(cpu) = n.parse::<u32>() else { continue };
            let times = parse_times(fields)?;
            stat.cores.push(CoreTimes { cpu, times });
        } else {
            let value = fields.next().and_then(|v| v.parse::<u64>().ok());
            match (key, value) {
                ("btime", Some(v)) => stat.boot_time = v,
                ("procs_running", Some(v)) => stat.procs_running = v,
                ("procs_blocked", Some(v)) => stat.procs_blocked = v,
                _ => {}
            }
        }
    }
    if saw_total {
        Ok(stat)
    } else {
        Err("no cpu line")
    }
}

fn parse_times<'a>(mut fields: impl Iterator<Item = &'a str>) -> Result<CpuTimes, &'static str> {
    let mut next = |required: bool| -> Result<u64, &'static str> {
        match fields.next() {
            Some(v) => v.parse::<u64>().map_err(|_| "cpu field is not a number"),
            // Old kernels lack the later columns; they are zero there.
            None if !required => Ok(0),
            None => Err("cpu line too short"),
        }
    };
    Ok(CpuTimes {
        user: next(true)?,
        nice: next(true)?,
        system: next(true)?,
        idle: next(true)?,
        iowait: next(false)?,
        irq: next(false)?,
        softirq: next(false)?,
        steal: next(false)?,
    })
}

/// CPU usage as one sample reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Cpu {
    /// Busy percent of all cores together since the previous sample
    /// (since boot for the first one).
    pub total_percent: f32,
    /// Busy percent of each core, in /proc/stat order.
    pub per_core_percent: Vec<f32>,
    /// The raw counters, for node_cpu_seconds_total.
    pub stat: CpuStat,
    /// USER_HZ, to turn ticks into seconds.
    pub ticks_per_second: u64,
}

/// Turns successive /proc/stat reads into usage. Only the previous read is kept.
#[derive(Debug, Default)]
pub(crate) struct CpuSampler {
    /// The previous read; None before the first, when usage is since boot.
    prev: Option<CpuStat>,
}

impl CpuSampler {
    pub(crate) fn sample(&mut self, now: CpuStat, ticks_per_second: u64) -> Cpu {
        let zero = CpuStat::default();
        let prev = self.prev.as_ref().unwrap_or(&zero);
        let total_percent = usage_percent(&prev.total, &now.total);
        let per_core_percent = now
            .cores
            .iter()
            .map(|core| {
                let before = prev
                    .cores
                    .iter()
                    .find(|p| p.cpu == core.cpu)
                    .map(|p| p.times)
                    .unwrap_or_default();
                usage_percent(&before, &core.times)
            })
            .collect();
        self.prev = Some(now.clone());
        Cpu {
            total_percent,
            per_core_percent,
            stat: now,
            ticks_per_second,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  100 5 50 800 10 1 2 3 0 0\n\
cpu0 50 2 25 400 5 1 1 2 0 0\n\
cpu1 50 3 25 400 5 0 1 1 0 0\n\
intr 1 2 3\nbtime 1700000000\nprocs_running 3\nprocs_blocked 1\n";

    #[test]
    fn parses_proc_stat() {
        let s = parse_stat(STAT).unwrap();
        assert_eq!(s.total.user, 100);
        assert_eq!(s.total.steal, 3);
        assert_eq!(s.cores.len(), 2);
        assert_eq!(s.cores[1].cpu, 1);
        assert_eq!(s.boot_time, 1_700_000_000);
        assert_eq!(s.procs_running, 3);
        assert_eq!(s.procs_blocked, 1);
    }

    #[test]
    fn usage_is_delta_share() {
        let a = CpuTimes {
            user: 10,
            idle: 90,
            ..Default::default()
        };
        let b = CpuTimes {
            user: 60,
            idle: 140,
            ..Default::default()
        };
        assert!((usage_percent(&a, &b) - 50.0).abs() < 0.01);
        // Backwards counters read as zero, not as a huge value.
        assert_eq!(usage_percent(&b, &a), 0.0);
    }

    #[test]
    fn odd_content_is_an_error() {
        assert!(parse_stat("").is_err());
        assert!(parse_stat("cpu x y").is_err());
        assert!(parse_stat("cpu 1 2").is_err());
    }
}
