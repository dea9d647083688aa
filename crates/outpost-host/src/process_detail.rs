//! One process in detail, for socktop's process view: memory (exact resident
//! size from smaps_rollup), I/O, threads, direct children, command line,
//! owner and times, all read from /proc/[pid]/.
//!
//! A process may exit while it is being read: whatever was read of it is
//! kept, a file that vanished leaves its field empty, and only a process
//! whose `stat` cannot be read at all is "not found".

use crate::processes::{parse_pid_stat, parse_statm, PidStat};
use crate::HostError;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Threads listed at most; `thread_count` still counts them all. A process
/// with tens of thousands of threads would otherwise make a multi-megabyte
/// reply and read as many files per request.
pub const MAX_THREADS: usize = 1024;

/// Direct children listed at most, for the same reason.
pub const MAX_CHILDREN: usize = 256;

/// One thread of a process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreadDetail {
    /// Thread id.
    pub tid: u32,
    /// `comm` of the thread (what `prctl(PR_SET_NAME)` set).
    pub name: String,
    /// User CPU time, microseconds.
    pub cpu_user_us: u64,
    /// System CPU time, microseconds.
    pub cpu_system_us: u64,
    /// `Running`, `Sleeping`, ...
    pub state: String,
}

/// One process in detail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessDetail {
    /// Process id.
    pub pid: u32,
    /// `comm`: the kernel's short name.
    pub name: String,
    /// The command line, arguments joined by spaces; empty for kernel threads.
    pub command: String,
    /// Share of the whole machine's CPU, as in the process list; filled by
    /// [`crate::Host::process_detail`] from that list.
    pub cpu_percent: f32,
    /// Resident set size, bytes: smaps_rollup's `Rss:` (exact), else statm.
    pub rss_bytes: u64,
    /// Virtual size, bytes.
    pub virtual_bytes: u64,
    /// Resident shared (file-backed and shmem) bytes, from statm.
    pub shared_bytes: Option<u64>,
    /// Threads, all of them (the `threads` list stops at [`MAX_THREADS`]).
    pub thread_count: u32,
    /// Open file descriptors; None when /proc/[pid]/fd is not readable to us.
    pub fd_count: Option<u32>,
    /// `Running`, `Sleeping`, `Zombie`, ...
    pub state: String,
    /// Parent pid; None for pid 1 and the kernel's threads' root.
    pub parent_pid: Option<u32>,
    /// Real user id.
    pub uid: u32,
    /// Real group id.
    pub gid: u32,
    /// Start time, seconds since the epoch.
    pub start_time_unix: u64,
    /// User CPU time, microseconds.
    pub cpu_user_us: u64,
    /// System CPU time, microseconds.
    pub cpu_system_us: u64,
    /// Bytes read through read(2) and friends (`rchar`, cached reads
    /// included, as htop and socktop show); None when /proc/[pid]/io is not
    /// readable to us.
    pub read_bytes: Option<u64>,
    /// Bytes written (`wchar`).
    pub write_bytes: Option<u64>,
    /// Current directory, when readable.
    pub working_directory: Option<String>,
    /// Executable path, when readable.
    pub executable_path: Option<String>,
    /// Direct children (not their children or threads), at most
    /// [`MAX_CHILDREN`].
    pub children: Vec<ProcessDetail>,
    /// Threads, at most [`MAX_THREADS`]; empty for children.
    pub threads: Vec<ThreadDetail>,
}

/// What the host knows that turns ticks and pages into seconds and bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Units {
    /// Bytes per page.
    pub(crate) page_size: u64,
    /// USER_HZ.
    pub(crate) ticks_per_second: u64,
    /// Boot time, seconds since the epoch (`btime`).
    pub(crate) boot_time: u64,
}

impl Units {
    fn micros(&self, ticks: u64) -> u64 {
        ticks.saturating_mul(1_000_000) / self.ticks_per_second.max(1)
    }
}

/// socktop's names for the kernel's state letters.
pub fn state_label(c: char) -> &'static str {
    match c {
        'R' => "Running",
        'S' => "Sleeping",
        'D' => "Disk Sleep",
        'Z' => "Zombie",
        'T' => "Stopped",
        't' => "Tracing Stop",
        'X' | 'x' => "Dead",
        'K' => "Wakekill",
        'W' => "Waking",
        'P' => "Parked",
        'I' => "Idle",
        _ => "Unknown",
    }
}

/// The fields of /proc/[pid]/status we use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Status {
    /// First of `Uid:`.
    pub uid: u32,
    /// First of `Gid:`.
    pub gid: u32,
    /// `Threads:`.
    pub threads: u32,
    /// `VmRSS:` in kB; the last fallback for the resident size.
    pub vm_rss_kb: Option<u64>,
}

/// Parses /proc/[pid]/status; missing lines leave zeros.
pub fn parse_status(text: &str) -> Status {
    let first = |v: &str| v.split_ascii_whitespace().next().map(str::to_owned);
    let mut out = Status::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = first(value);
        let value = value.as_deref();
        match key {
            "Uid" => out.uid = value.and_then(|v| v.parse().ok()).unwrap_or(0),
            "Gid" => out.gid = value.and_then(|v| v.parse().ok()).unwrap_or(0),
            "Threads" => out.threads = value.and_then(|v| v.parse().ok()).unwrap_or(0),
            "VmRSS" => out.vm_rss_kb = value.and_then(|v| v.parse().ok()),
            _ => {}
        }
    }
    out
}

/// `Rss:` of /proc/[pid]/smaps_rollup, in bytes.
pub fn parse_smaps_rollup_rss(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Rss:"))?;
    let kb: u64 = line
        .get(4..)?
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()?;
    kb.checked_mul(1024)
}

/// `rchar` and `wchar` of /proc/[pid]/io.
pub fn parse_io(text: &str) -> (Option<u64>, Option<u64>) {
    let mut read = None;
    let mut write = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("rchar:") {
            read = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("wchar:") {
            write = v.trim().parse().ok();
        }
    }
    (read, write)
}

/// /proc/[pid]/cmdline: NUL-separated arguments joined by spaces.
pub fn parse_cmdline(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.split('\0')
        .filter(|a| !a.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn link(path: &Path) -> Option<String> {
    std::fs::read_link(path)
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Reads one process. `with_family` adds its threads and direct children
/// (children are read without theirs).
pub(crate) fn collect(
    proc_root: &Path,
    pid: u32,
    units: Units,
    with_family: bool,
) -> Result<ProcessDetail, HostError> {
    let dir = proc_root.join(pid.to_string());
    let stat_path = dir.join("stat");
    let text = std::fs::read_to_string(&stat_path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            HostError::NoSuchProcess { pid }
        } else {
            HostError::read(&stat_path, e)
        }
    })?;
    let ps: PidStat =
        parse_pid_stat(&text).ok_or_else(|| HostError::parse(&stat_path, "malformed stat line"))?;
    let status = read(&dir.join("status"))
        .map(|t| parse_status(&t))
        .unwrap_or_default();
    let statm = read(&dir.join("statm")).and_then(|t| parse_statm(&t));
    let rss_bytes = read(&dir.join("smaps_rollup"))
        .and_then(|t| parse_smaps_rollup_rss(&t))
        .or_else(|| statm.map(|m| m.resident.saturating_mul(units.page_size)))
        .or_else(|| status.vm_rss_kb.map(|kb| kb.saturating_mul(1024)))
        .unwrap_or_else(|| ps.rss_pages.saturating_mul(units.page_size));
    let (read_bytes, write_bytes) = read(&dir.join("io")).map_or((None, None), |t| parse_io(&t));
    let fd_count = std::fs::read_dir(dir.join("fd"))
        .ok()
        .map(|d| u32::try_from(d.count()).unwrap_or(u32::MAX));
    let command = std::fs::read(dir.join("cmdline"))
        .map(|b| parse_cmdline(&b))
        .unwrap_or_default();

    let (threads, children) = if with_family {
        (
            threads(&dir, units),
            children_of(proc_root, &dir, pid)
                .into_iter()
                .filter_map(|child| collect(proc_root, child, units, false).ok())
                .collect(),
        )
    } else {
        (Vec::new(), Vec::new())
    };

    Ok(ProcessDetail {
        pid,
        name: ps.comm,
        command,
        cpu_percent: 0.0,
        rss_bytes,
        virtual_bytes: statm.map_or(0, |m| m.size.saturating_mul(units.page_size)),
        shared_bytes: statm.map(|m| m.shared.saturating_mul(units.page_size)),
        thread_count: status.threads.max(1),
        fd_count,
        state: state_label(ps.state).to_owned(),
        parent_pid: (ps.ppid != 0).then_some(ps.ppid),
        uid: status.uid,
        gid: status.gid,
        start_time_unix: units
            .boot_time
            .saturating_add(ps.start_time / units.ticks_per_second.max(1)),
        cpu_user_us: units.micros(ps.utime),
        cpu_system_us: units.micros(ps.stime),
        read_bytes,
        write_bytes,
        working_directory: link(&dir.join("cwd")),
        executable_path: link(&dir.join("exe")),
        children,
        threads,
    })
}

/// The threads under /proc/[pid]/task, at most [`MAX_THREADS`], by tid.
fn threads(dir: &Path, units: Units) -> Vec<ThreadDetail> {
    let Ok(entries) = std::fs::read_dir(dir.join("task")) else {
        return Vec::new();
    };
    let mut tids: Vec<u32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort_unstable();
    tids.truncate(MAX_THREADS);
    tids.into_iter()
        .filter_map(|tid| {
            let task = dir.join("task").join(tid.to_string());
            let ps = parse_pid_stat(&read(&task.join("stat"))?)?;
            Some(ThreadDetail {
                tid,
                name: ps.comm,
                cpu_user_us: units.micros(ps.utime),
                cpu_system_us: units.micros(ps.stime),
                state: state_label(ps.state).to_owned(),
            })
        })
        .collect()
}

/// Direct children of `pid`: the kernel's per-thread `children` lists when
/// it has them (CONFIG_PROC_CHILDREN), else every process's ppid.
fn children_of(proc_root: &Path, dir: &Path, pid: u32) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    let mut listed = false;
    if let Ok(tasks) = std::fs::read_dir(dir.join("task")) {
        for task in tasks.flatten() {
            let path: PathBuf = task.path().join("children");
            if let Some(text) = read(&path) {
                listed = true;
                out.extend(
                    text.split_ascii_whitespace()
                        .filter_map(|v| v.parse::<u32>().ok()),
                );
            }
        }
    }
    if !listed {
        if let Ok(all) = std::fs::read_dir(proc_root) {
            for entry in all.flatten() {
                let Some(child) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                    continue;
                };
                let ppid = read(&entry.path().join("stat"))
                    .and_then(|t| parse_pid_stat(&t))
                    .map(|s| s.ppid);
                if ppid == Some(pid) {
                    out.push(child);
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out.truncate(MAX_CHILDREN);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_take_what_they_need_and_survive_junk() {
        let st = parse_status("Name:\tsleep\nUid:\t1000\t1000\t1000\t1000\nGid:\t50\t50\t50\t50\nThreads:\t3\nVmRSS:\t    1832 kB\n");
        assert_eq!(
            st,
            Status {
                uid: 1000,
                gid: 50,
                threads: 3,
                vm_rss_kb: Some(1832)
            }
        );
        assert_eq!(parse_status("garbage\n:::\nUid:"), Status::default());
        assert_eq!(
            parse_smaps_rollup_rss(
                "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:                1832 kB\nPss: 227 kB\n"
            ),
            Some(1832 * 1024)
        );
        assert_eq!(parse_smaps_rollup_rss("Rss: lots kB"), None);
        assert_eq!(parse_smaps_rollup_rss("Rss: 99999999999999999999 kB"), None);
        assert_eq!(
            parse_io("rchar: 10\nwchar: 20\nread_bytes: 0\n"),
            (Some(10), Some(20))
        );
        assert_eq!(parse_io("x"), (None, None));
        assert_eq!(parse_cmdline(b"sleep\x00600\x00"), "sleep 600");
        assert_eq!(parse_cmdline(b""), "");
        assert_eq!(state_label('S'), "Sleeping");
        assert_eq!(state_label('?'), "Unknown");
    }

    #[test]
    fn reads_this_process_and_reports_a_missing_one() {
        let units = Units {
            page_size: rustix::param::page_size() as u64,
            ticks_per_second: 100,
            boot_time: 0,
        };
        let me = std::process::id();
        let d = collect(Path::new("/proc"), me, units, true).unwrap();
        assert_eq!(d.pid, me);
        assert!(d.rss_bytes > 0 && d.virtual_bytes >= d.rss_bytes);
        // The main thread's tid is the pid.
        assert!(d.threads.iter().any(|t| t.tid == me));
        assert!(d.command.contains("outpost_host"), "{}", d.command);
        assert!(matches!(
            collect(Path::new("/proc"), u32::MAX, units, true),
            Err(HostError::NoSuchProcess { pid: u32::MAX })
        ));
    }
}
