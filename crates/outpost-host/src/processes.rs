//! Processes from /proc/[pid]/stat and /proc/[pid]/statm. CPU % is the share
//! of all CPU ticks a process used between two samples, as socktop computes
//! it, so the sampler keeps the previous jiffies of each live pid and nothing
//! more.
//!
//! Resident size comes from statm, not from stat's `rss` field: on current
//! kernels stat reads the per-CPU-batched RSS counter without summing it,
//! which reads up to ~10% low for small processes (1,656 kB against 1,832 kB
//! for a `sleep` on 6.18), while statm sums it, as top, ps and socktop_agent
//! show. smaps_rollup is exact on every kernel but walks the page tables
//! (60 µs for a `sleep`, milliseconds for a large process, against 16 µs for
//! statm), so the whole table reads statm and only the detail view of one
//! process ([`crate::process_detail`]) reads smaps_rollup.

use crate::procfs::{is_procfs, open_at, open_dir, FileReader, KeptFile, Shape};
use serde::Serialize;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::Path;

/// One process.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Process {
    /// Process id.
    pub pid: u32,
    /// `comm`: the executable name the kernel keeps (at most 15 bytes).
    pub name: String,
    /// Share of the whole machine's CPU (all cores) used since the previous
    /// sample, 0..=100; the same scale socktop's UI expects.
    pub cpu_percent: f32,
    /// Resident set size in bytes.
    pub rss_bytes: u64,
}

/// All processes at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProcessList {
    /// Every process we could read, in /proc order; the UI sorts.
    pub rows: Vec<Process>,
}

/// The fields of /proc/[pid]/stat we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidStat {
    /// Field 1.
    pub pid: u32,
    /// Field 2 without its parentheses.
    pub comm: String,
    /// utime + stime (fields 14 and 15), in ticks.
    pub jiffies: u64,
    /// Field 22, ticks after boot; tells a reused pid from the old process.
    pub start_time: u64,
    /// Field 24, in pages. Approximate on current kernels: prefer statm.
    pub rss_pages: u64,
    /// Field 3, the state letter (`R`, `S`, `D`, `Z`, ...).
    pub state: char,
    /// Field 4; 0 for the kernel's own roots.
    pub ppid: u32,
    /// Field 14, in ticks.
    pub utime: u64,
    /// Field 15, in ticks.
    pub stime: u64,
}

/// Parses /proc/[pid]/stat. `comm` may hold spaces and parentheses, so it
/// spans from the first `(` to the last `)`.
pub fn parse_pid_stat(text: &str) -> Option<PidStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    if close < open {
        return None;
    }
    let pid = text.get(..open)?.trim().parse::<u32>().ok()?;
    let comm = text.get(open + 1..close)?.to_string();
    // Field 3 (state) is index 0 here, so field N is index N - 3. Only the
    // first 22 fields are used: kept on the stack, the rest never split.
    let mut rest = [""; 22];
    for (slot, value) in rest
        .iter_mut()
        .zip(text.get(close + 1..)?.split_ascii_whitespace())
    {
        *slot = value;
    }
    let raw = |n: usize| rest.get(n - 3).copied().filter(|v| !v.is_empty());
    let field = |n: usize| raw(n).and_then(|v| v.parse::<u64>().ok());
    // rss is signed in the kernel's format; a negative value reads as 0.
    let rss_pages = raw(24)
        .and_then(|v| v.parse::<i64>().ok())
        .map_or(0, |v| u64::try_from(v).unwrap_or(0));
    let (utime, stime) = (field(14)?, field(15)?);
    Some(PidStat {
        pid,
        comm,
        jiffies: utime.saturating_add(stime),
        start_time: field(22)?,
        rss_pages,
        state: raw(3).and_then(|s| s.chars().next()).unwrap_or('?'),
        ppid: raw(4).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0),
        utime,
        stime,
    })
}

/// /proc/[pid]/statm in pages: (size, resident, shared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statm {
    /// Total program size (virtual), pages.
    pub size: u64,
    /// Resident set, pages.
    pub resident: u64,
    /// Resident file-backed or shared pages.
    pub shared: u64,
}

/// Parses /proc/[pid]/statm's first three fields.
pub fn parse_statm(text: &str) -> Option<Statm> {
    let mut f = text.split_ascii_whitespace().map(|v| v.parse::<u64>().ok());
    Some(Statm {
        size: f.next()??,
        resident: f.next()??,
        shared: f.next()??,
    })
}

/// Keeps what the next sample needs: the previous jiffies of live pids, the
/// buffers the next sample reads into, and each process's stat and statm kept
/// open.
#[derive(Debug, Default)]
pub(crate) struct ProcessSampler {
    /// Total CPU ticks (all cores) at the previous sample.
    prev_total: u64,
    /// pid -> (start_time, jiffies) at the previous sample. Replaced, not
    /// merged, each sample, so it never outgrows the live process table.
    prev: HashMap<u32, (u64, u64)>,
    /// The read buffer for /proc/stat and every /proc/PID/stat and statm.
    reader: FileReader,
    /// /proc/stat, for the total CPU ticks.
    stat: KeptFile,
    /// `PID/stat` and `PID/statm`, relative to the proc root.
    rel: String,
    /// Open /proc/PID/stat and statm of the processes of the previous sample.
    /// Opening and closing them was 45% of an uncached `get_processes`
    /// (`openat` 30%, `close` 14%, issue 11); a kept file is re-read with one
    /// `pread` at offset 0, which the kernel answers with fresh content. A
    /// kept file of an exited process reads ESRCH, even if its pid has been
    /// reused (the file is bound to the old process), and is then reopened.
    /// Replaced each sample like `prev`, so exited processes' files close.
    files: HashMap<u32, PidFiles>,
    /// How many processes' files may be kept open; set at the first sample.
    keep_open: Option<usize>,
}

/// One process's files, kept open between samples.
#[derive(Debug)]
struct PidFiles {
    stat: OwnedFd,
    statm: OwnedFd,
}

/// Processes whose files are kept open, at most; the rest are opened and
/// closed each sample. Two descriptors each, so 512 processes is 1,024 fds.
const MAX_KEPT: usize = 512;

/// Kept processes for the process's descriptor limit: two fds each, within
/// an eighth of the soft limit (128 processes under the common 1,024), so
/// sockets, the store and clients keep the rest. None under a root that is
/// not procfs (tests' fake trees): a kept regular file that is replaced keeps
/// its old content, where procfs answers a gone process with ESRCH.
fn keep_open_for(root: &OwnedFd) -> usize {
    if !is_procfs(root) {
        return 0;
    }
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    usize::try_from(soft / 8).map_or(MAX_KEPT, |n| n.min(MAX_KEPT))
}

/// A process's stat and statm parsed, read from `kept` when it still reads,
/// else from newly opened files (returned for keeping when `keep`).
fn read_pid(
    reader: &mut FileReader,
    root: &OwnedFd,
    rel: &mut String,
    name: &str,
    kept: Option<PidFiles>,
    keep: bool,
) -> Option<(PidStat, Option<Statm>, Option<PidFiles>)> {
    if let Some(files) = kept {
        let statm = reader
            .read_fd(&files.statm, Shape::OneRecord)
            .ok()
            .and_then(parse_statm);
        if let Some(ps) = reader
            .read_fd(&files.stat, Shape::OneRecord)
            .ok()
            .and_then(parse_pid_stat)
        {
            return Some((ps, statm, keep.then_some(files)));
        }
        // Exited (or unreadable now): try the pid afresh, it may be a new process.
    }
    rel.clear();
    rel.push_str(name);
    rel.push_str("/statm");
    let statm_fd = open_at(root, rel).ok();
    let statm = statm_fd
        .as_ref()
        .and_then(|fd| reader.read_fd(fd, Shape::OneRecord).ok())
        .and_then(parse_statm);
    rel.truncate(name.len());
    rel.push_str("/stat");
    // The process may exit between readdir and read: then it is skipped.
    let stat_fd = open_at(root, rel).ok()?;
    let ps = reader
        .read_fd(&stat_fd, Shape::OneRecord)
        .ok()
        .and_then(parse_pid_stat)?;
    let files = match (keep, statm_fd) {
        (true, Some(statm)) => Some(PidFiles {
            stat: stat_fd,
            statm,
        }),
        _ => None,
    };
    Some((ps, statm, files))
}

impl ProcessSampler {
    /// How many pids are remembered; tests check it tracks live pids only.
    #[cfg(test)]
    pub(crate) fn remembered(&self) -> usize {
        self.prev.len()
    }

    /// How many processes' files are open now.
    #[cfg(test)]
    pub(crate) fn open_files(&self) -> usize {
        self.files.len()
    }

    pub(crate) fn sample(
        &mut self,
        proc_root: &Path,
        page_size: u64,
        ticks_per_second: u64,
    ) -> Result<ProcessList, crate::HostError> {
        let stat_path = proc_root.join("stat");
        let text = self
            .stat
            .read(&mut self.reader, &stat_path, Shape::OneRecord)
            .map_err(|e| crate::HostError::read(&stat_path, e))?;
        let stat = crate::cpu::parse_stat(text)
            .map_err(|what| crate::HostError::parse(&stat_path, what))?;
        let total_now = stat.total.total();
        let cores = stat.cores.len().max(1) as u64;
        let uptime_ticks = (crate::load::uptime_seconds() * ticks_per_second as f64) as u64;

        // Files are opened relative to the proc root: two path components
        // for the kernel to resolve instead of four.
        let root = open_dir(proc_root).map_err(|e| crate::HostError::read(proc_root, e))?;
        let dir = rustix::fs::Dir::read_from(&root)
            .map_err(|e| crate::HostError::read(proc_root, e.into()))?;
        let mut rows = Vec::with_capacity(self.prev.len().max(64));
        let mut seen = HashMap::with_capacity(self.prev.len().max(64));
        let dt = total_now.saturating_sub(self.prev_total);
        let keep_open = *self.keep_open.get_or_insert_with(|| keep_open_for(&root));
        let mut kept_files = std::mem::take(&mut self.files);
        let mut files = HashMap::with_capacity(kept_files.len().min(keep_open));
        for entry in dir.flatten() {
            let Some(name) = entry.file_name().to_str().ok() else {
                continue;
            };
            let Ok(pid) = name.parse::<u32>() else {
                continue;
            };
            let kept = kept_files.remove(&pid);
            let keep = files.len() < keep_open;
            let Some((ps, statm, open)) =
                read_pid(&mut self.reader, &root, &mut self.rel, name, kept, keep)
            else {
                continue;
            };
            if let Some(open) = open {
                files.insert(pid, open);
            }
            let rss_pages = statm.map_or(ps.rss_pages, |m| m.resident);
            let cpu_percent = match self.prev.get(&ps.pid) {
                Some(&(start, before))
                    if start == ps.start_time && self.prev_total > 0 && dt > 0 =>
                {
                    ps.jiffies.saturating_sub(before) as f64 / dt as f64 * 100.0
                }
                // First sight of this process: its average since it started,
                // as ps(1) reports, instead of a meaningless 0.
                _ => {
                    let lifetime = uptime_ticks.saturating_sub(ps.start_time);
                    if lifetime == 0 {
                        0.0
                    } else {
                        ps.jiffies as f64 / (lifetime * cores) as f64 * 100.0
                    }
                }
            };
            seen.insert(ps.pid, (ps.start_time, ps.jiffies));
            rows.push(Process {
                pid: ps.pid,
                name: ps.comm,
                cpu_percent: cpu_percent.clamp(0.0, 100.0) as f32,
                rss_bytes: rss_pages.saturating_mul(page_size),
            });
        }
        self.prev = seen;
        self.prev_total = total_now;
        // What is left of the kept files belongs to exited processes: closed here.
        drop(kept_files);
        self.files = files;
        Ok(ProcessList { rows })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat_line(pid: u32, comm: &str, utime: u64, start: u64, rss: i64) -> String {
        format!(
            "{pid} ({comm}) S 1 1 1 0 -1 4194560 100 0 0 0 {utime} 5 0 0 20 0 1 0 {start} 1000 {rss} 18446744073709551615"
        )
    }

    #[test]
    fn parses_hostile_comm() {
        let s = parse_pid_stat(&stat_line(42, "a) (b c", 10, 7, 3)).unwrap();
        assert_eq!(s.pid, 42);
        assert_eq!(s.comm, "a) (b c");
        assert_eq!(s.jiffies, 15);
        assert_eq!(s.start_time, 7);
        assert_eq!(s.rss_pages, 3);
        assert_eq!(
            parse_pid_stat(&stat_line(1, "x", 1, 1, -5))
                .unwrap()
                .rss_pages,
            0
        );
        assert!(parse_pid_stat("1 (x) S 1").is_none());
        assert_eq!(s.state, 'S');
        assert_eq!((s.ppid, s.utime, s.stime), (1, 10, 5));
        assert_eq!(
            parse_statm("730 458 430 5 0 89 0\n"),
            Some(Statm {
                size: 730,
                resident: 458,
                shared: 430
            })
        );
        assert_eq!(parse_statm("730 x 1"), None);
        assert_eq!(parse_statm(""), None);
        assert!(parse_pid_stat(")(").is_none());
    }

    /// This process's utime + stime from /proc, read the ordinary way.
    fn own_jiffies() -> u64 {
        parse_pid_stat(&std::fs::read_to_string("/proc/self/stat").unwrap())
            .unwrap()
            .jiffies
    }

    #[test]
    fn issue11_kept_proc_files_read_fresh_values_and_close_with_their_process() {
        let proc = Path::new("/proc");
        let mut s = ProcessSampler {
            keep_open: Some(MAX_KEPT),
            ..ProcessSampler::default()
        };
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let kid = child.id();
        let me = std::process::id();
        let list = s.sample(proc, 4096, 100).unwrap();
        assert!(list.rows.iter().any(|p| p.pid == kid));
        assert!(s.files.contains_key(&kid) && s.files.contains_key(&me));
        assert!(s.open_files() <= list.rows.len());

        // Burn CPU until the kernel counts it, then sample through the kept files: a stale
        // read would show no CPU for this process.
        let before = own_jiffies();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while own_jiffies() < before + 3 {
            assert!(std::time::Instant::now() < deadline, "no CPU time counted");
            std::hint::black_box((0..10_000u64).sum::<u64>());
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let list = s.sample(proc, 4096, 100).unwrap();
        let mine = list.rows.iter().find(|p| p.pid == me).unwrap();
        assert!(mine.cpu_percent > 0.0, "kept stat read stale jiffies");
        assert!(
            !list.rows.iter().any(|p| p.pid == kid),
            "reaped child listed"
        );
        assert!(
            !s.files.contains_key(&kid),
            "an exited process's files stay open"
        );
        assert!(s.files.contains_key(&me));

        // A fake tree is never kept open: its files can be replaced under us.
        let dir = tempfile::tempdir().unwrap();
        write_proc(dir.path(), 1000, &[(1, 100)]);
        let mut fake = ProcessSampler::default();
        fake.sample(dir.path(), 4096, 100).unwrap();
        assert_eq!(fake.open_files(), 0);
    }

    fn write_proc(root: &Path, total: u64, pids: &[(u32, u64)]) {
        std::fs::write(
            root.join("stat"),
            format!("cpu  {total} 0 0 0 0 0 0 0\ncpu0 {total} 0 0 0 0 0 0 0\n"),
        )
        .unwrap();
        for entry in std::fs::read_dir(root).unwrap().flatten() {
            if entry.file_name().to_str().unwrap().parse::<u32>().is_ok() {
                std::fs::remove_dir_all(entry.path()).unwrap();
            }
        }
        for &(pid, jiffies) in pids {
            let dir = root.join(pid.to_string());
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("stat"), stat_line(pid, "p", jiffies - 5, 1, 2)).unwrap();
        }
    }

    #[test]
    fn cpu_is_delta_share_and_state_tracks_live_pids_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut s = ProcessSampler::default();
        write_proc(root, 1000, &[(1, 100), (2, 200), (3, 300)]);
        s.sample(root, 4096, 100).unwrap();
        assert_eq!(s.remembered(), 3);

        // pid 2 exits, 4 appears; 1 used 50 of 200 ticks.
        write_proc(root, 1200, &[(1, 150), (3, 300), (4, 10)]);
        let list = s.sample(root, 4096, 100).unwrap();
        assert_eq!(s.remembered(), 3);
        let p1 = list.rows.iter().find(|p| p.pid == 1).unwrap();
        assert!((p1.cpu_percent - 25.0).abs() < 0.01, "{}", p1.cpu_percent);
        assert_eq!(p1.rss_bytes, 2 * 4096);
        let p3 = list.rows.iter().find(|p| p.pid == 3).unwrap();
        assert_eq!(p3.cpu_percent, 0.0);

        // Churn never grows the map beyond the live set.
        for round in 0..20u32 {
            let pids: Vec<(u32, u64)> = (0..5).map(|i| (100 + round * 5 + i, 10)).collect();
            write_proc(root, 1300 + u64::from(round), &pids);
            s.sample(root, 4096, 100).unwrap();
            assert_eq!(s.remembered(), 5);
        }
    }
}
