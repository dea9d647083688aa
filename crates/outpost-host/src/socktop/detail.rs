//! socktop's process view: the replies to `get_process_metrics:PID` and
//! `get_journal_entries:PID`, in socktop_agent 1.60's shapes (`types.rs`:
//! `ProcessMetricsResponse`, `JournalResponse`), and its per-process error
//! shape, `{"error": "...", "request": "get_process_metrics", "pid": 42}`.
//! Like every JSON reply, they are gzipped in a binary frame past 768 bytes.

use super::{json_reply, Reply};
use crate::journal::Journal;
use crate::process_detail::{ProcessDetail, ThreadDetail};
use serde::Serialize;
use std::time::{SystemTime, UNIX_EPOCH};

/// socktop's `ThreadInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreadInfo {
    /// Thread id.
    pub tid: u32,
    /// Thread name.
    pub name: String,
    /// User CPU time, microseconds.
    pub cpu_time_user: u64,
    /// System CPU time, microseconds.
    pub cpu_time_system: u64,
    /// `Running`, `Sleeping`, ...
    pub status: String,
}

/// socktop's `DetailedProcessInfo`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetailedProcessInfo {
    /// Process id.
    pub pid: u32,
    /// Short name.
    pub name: String,
    /// Command line.
    pub command: String,
    /// CPU percent, as in the process list.
    pub cpu_usage: f32,
    /// Resident bytes.
    pub mem_bytes: u64,
    /// Virtual bytes.
    pub virtual_mem_bytes: u64,
    /// Resident shared bytes.
    pub shared_mem_bytes: Option<u64>,
    /// Threads.
    pub thread_count: u32,
    /// Open file descriptors.
    pub fd_count: Option<u32>,
    /// State label.
    pub status: String,
    /// Parent pid.
    pub parent_pid: Option<u32>,
    /// Real uid.
    pub user_id: u32,
    /// Real gid.
    pub group_id: u32,
    /// Start, seconds since the epoch.
    pub start_time: u64,
    /// User CPU time, microseconds.
    pub cpu_time_user: u64,
    /// System CPU time, microseconds.
    pub cpu_time_system: u64,
    /// Bytes read (rchar).
    pub read_bytes: Option<u64>,
    /// Bytes written (wchar).
    pub write_bytes: Option<u64>,
    /// Current directory.
    pub working_directory: Option<String>,
    /// Executable.
    pub executable_path: Option<String>,
    /// Direct children, without theirs.
    pub child_processes: Vec<DetailedProcessInfo>,
    /// Threads.
    pub threads: Vec<ThreadInfo>,
}

/// socktop's `ProcessMetricsResponse`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessMetricsResponse {
    /// The process.
    pub process: DetailedProcessInfo,
    /// Seconds since the epoch when this was collected.
    pub cached_at: u64,
}

/// socktop's `LogLevel`: serialized by variant name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[allow(missing_docs)]
pub enum LogLevel {
    Emergency,
    Alert,
    Critical,
    Error,
    Warning,
    Notice,
    Info,
    Debug,
}

impl LogLevel {
    /// syslog priority 0..=7; anything else reads as Info, as socktop does.
    pub fn from_priority(p: u8) -> LogLevel {
        match p {
            0 => LogLevel::Emergency,
            1 => LogLevel::Alert,
            2 => LogLevel::Critical,
            3 => LogLevel::Error,
            4 => LogLevel::Warning,
            5 => LogLevel::Notice,
            7 => LogLevel::Debug,
            _ => LogLevel::Info,
        }
    }
}

/// socktop's `JournalEntry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JournalEntry {
    /// RFC 3339 UTC, for display.
    pub timestamp: String,
    /// Microseconds since the epoch, for sorting.
    pub timestamp_us: u64,
    /// Severity.
    pub priority: LogLevel,
    /// The message.
    pub message: String,
    /// systemd unit.
    pub unit: Option<String>,
    /// Process id.
    pub pid: Option<u32>,
    /// Command name.
    pub comm: Option<String>,
    /// User id.
    pub uid: Option<u32>,
    /// Group id.
    pub gid: Option<u32>,
}

/// socktop's `JournalResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JournalResponse {
    /// Newest first.
    pub entries: Vec<JournalEntry>,
    /// `entries.len()`.
    pub total_count: u32,
    /// More may exist.
    pub truncated: bool,
    /// Why the list is empty when it is.
    pub notice: Option<String>,
    /// Seconds since the epoch when this was collected.
    pub cached_at: u64,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn thread(t: &ThreadDetail) -> ThreadInfo {
    ThreadInfo {
        tid: t.tid,
        name: t.name.clone(),
        cpu_time_user: t.cpu_user_us,
        cpu_time_system: t.cpu_system_us,
        status: t.state.clone(),
    }
}

/// One process in socktop's shape.
pub fn detailed(d: &ProcessDetail) -> DetailedProcessInfo {
    DetailedProcessInfo {
        pid: d.pid,
        name: d.name.clone(),
        command: d.command.clone(),
        cpu_usage: d.cpu_percent,
        mem_bytes: d.rss_bytes,
        virtual_mem_bytes: d.virtual_bytes,
        shared_mem_bytes: d.shared_bytes,
        thread_count: d.thread_count,
        fd_count: d.fd_count,
        status: d.state.clone(),
        parent_pid: d.parent_pid,
        user_id: d.uid,
        group_id: d.gid,
        start_time: d.start_time_unix,
        cpu_time_user: d.cpu_user_us,
        cpu_time_system: d.cpu_system_us,
        read_bytes: d.read_bytes,
        write_bytes: d.write_bytes,
        working_directory: d.working_directory.clone(),
        executable_path: d.executable_path.clone(),
        child_processes: d.children.iter().map(detailed).collect(),
        threads: d.threads.iter().map(thread).collect(),
    }
}

/// The `get_process_metrics:PID` reply body.
pub fn process_metrics(d: &ProcessDetail) -> ProcessMetricsResponse {
    ProcessMetricsResponse {
        process: detailed(d),
        cached_at: now_secs(),
    }
}

/// The `get_journal_entries:PID` reply body.
pub fn journal(j: &Journal) -> JournalResponse {
    JournalResponse {
        entries: j
            .entries
            .iter()
            .map(|e| JournalEntry {
                timestamp: rfc3339_utc(e.timestamp_us),
                timestamp_us: e.timestamp_us,
                priority: LogLevel::from_priority(e.priority),
                message: e.message.clone(),
                unit: e.unit.clone(),
                pid: e.pid,
                comm: e.comm.clone(),
                uid: e.uid,
                gid: e.gid,
            })
            .collect(),
        total_count: u32::try_from(j.entries.len()).unwrap_or(u32::MAX),
        truncated: j.truncated,
        notice: j.notice.clone(),
        cached_at: now_secs(),
    }
}

/// socktop_agent's error for a per-process request:
/// `{"error": message, "request": name, "pid": pid}` (pid null when the
/// request's pid was not a number).
pub fn pid_error_reply(message: &str, request: &str, pid: Option<u32>) -> Reply {
    json_reply(&serde_json::json!({ "error": message, "request": request, "pid": pid }))
}

/// Epoch microseconds as `2023-11-14T22:13:20.123456Z`.
pub fn rfc3339_utc(us: u64) -> String {
    let secs = us / 1_000_000;
    let micros = us % 1_000_000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339_utc(1_700_000_000_123_456),
            "2023-11-14T22:13:20.123456Z"
        );
        assert_eq!(
            rfc3339_utc(951_782_400_000_000),
            "2000-02-29T00:00:00.000000Z"
        );
        // Never panics, whatever the journal says.
        assert!(rfc3339_utc(u64::MAX).ends_with('Z'));
    }

    #[test]
    fn log_levels_are_socktops_names() {
        assert_eq!(
            serde_json::to_string(&LogLevel::from_priority(3)).unwrap(),
            "\"Error\""
        );
        assert_eq!(LogLevel::from_priority(200), LogLevel::Info);
    }

    #[test]
    fn pid_errors_have_socktops_shape() {
        let Reply::Text(t) = pid_error_reply("Process 9 not found", "get_process_metrics", Some(9))
        else {
            panic!("short errors are text")
        };
        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
        assert_eq!(v["request"], "get_process_metrics");
        assert_eq!(v["pid"], 9);
        assert_eq!(v["error"], "Process 9 not found");
    }
}
