//! A process's systemd journal entries, read through `journalctl`, for
//! socktop's process view. The process's own unit when it runs in one
//! (from /proc/[pid]/cgroup), else its pid, as socktop_agent asks.
//!
//! Bounded three ways: at most [`MAX_ENTRIES`] entries, [`MAX_OUTPUT`] bytes
//! read from journalctl, and [`DEADLINE`] before journalctl is killed. No
//! journal (no journalctl, no journal files) is an empty list with a notice
//! saying why, never an error.

use serde::Serialize;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Entries asked of journalctl (`--lines`), newest last.
pub const MAX_ENTRIES: usize = 100;

/// journalctl output read at most; the rest is dropped and marked truncated.
pub const MAX_OUTPUT: usize = 1 << 20;

/// How long journalctl may take before it is killed.
pub const DEADLINE: Duration = Duration::from_secs(2);

/// Characters of one message kept; a journal message can be megabytes.
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JournalEntry {
    /// `__REALTIME_TIMESTAMP`: microseconds since the epoch.
    pub timestamp_us: u64,
    /// syslog priority, 0 (emergency) to 7 (debug); 6 when absent.
    pub priority: u8,
    /// `MESSAGE`, at most [`MAX_MESSAGE_CHARS`] characters.
    pub message: String,
    /// `_SYSTEMD_UNIT`.
    pub unit: Option<String>,
    /// `_PID`.
    pub pid: Option<u32>,
    /// `_COMM`.
    pub comm: Option<String>,
    /// `_UID`.
    pub uid: Option<u32>,
    /// `_GID`.
    pub gid: Option<u32>,
}

/// The entries of one process, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Journal {
    /// Newest first.
    pub entries: Vec<JournalEntry>,
    /// More entries may exist than were returned.
    pub truncated: bool,
    /// Why the list is empty when it is (no journal, no access, timeout).
    pub notice: Option<String>,
    /// The journalctl match used, e.g. `_SYSTEMD_UNIT=ssh.service`.
    pub matched: String,
}

/// The journal match for a process: its systemd service when its cgroup
/// names one, else its pid.
pub fn journal_match(cgroup: &str, pid: u32) -> String {
    // cgroup v2 `0::/system.slice/ssh.service`, or v1's `name=systemd` line.
    let path = cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .or_else(|| {
            cgroup
                .lines()
                .find_map(|l| l.split_once(":name=systemd:").map(|(_, p)| p))
        })
        .unwrap_or("");
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let user_manager = parts
        .iter()
        .position(|p| p.starts_with("user@") && p.ends_with(".service"));
    let service = parts.iter().rposition(|p| p.ends_with(".service"));
    match (service, user_manager) {
        // A user's own service, below their user@UID.service manager.
        (Some(s), Some(m)) if s > m => format!("_SYSTEMD_USER_UNIT={}", parts[s]),
        (Some(s), _) => format!("_SYSTEMD_UNIT={}", parts[s]),
        _ => format!("_PID={pid}"),
    }
}

/// journalctl's JSON export gives a field as a string, or as an array of
/// bytes when it is not valid UTF-8.
fn field(v: &serde_json::Value, name: &str) -> Option<String> {
    match v.get(name)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(bytes) => {
            let raw: Vec<u8> = bytes
                .iter()
                .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            Some(String::from_utf8_lossy(&raw).into_owned())
        }
        _ => None,
    }
}

/// Parses journalctl `--output=json` lines (one object per line); lines
/// that are not JSON objects, such as one cut by [`MAX_OUTPUT`], are
/// skipped. Newest first.
pub fn parse_entries(output: &str) -> Vec<JournalEntry> {
    let mut entries: Vec<JournalEntry> = output
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(serde_json::Value::is_object)
        .map(|v| {
            let num = |name: &str| field(&v, name).and_then(|s| s.trim().parse::<u32>().ok());
            let message = field(&v, "MESSAGE").unwrap_or_default();
            JournalEntry {
                timestamp_us: field(&v, "__REALTIME_TIMESTAMP")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
                priority: field(&v, "PRIORITY")
                    .and_then(|s| s.parse::<u8>().ok())
                    .filter(|p| *p <= 7)
                    .unwrap_or(6),
                message: if message.chars().count() > MAX_MESSAGE_CHARS {
                    message.chars().take(MAX_MESSAGE_CHARS).collect()
                } else {
                    message
                },
                unit: field(&v, "_SYSTEMD_UNIT"),
                pid: num("_PID"),
                comm: field(&v, "_COMM"),
                uid: num("_UID"),
                gid: num("_GID"),
            }
        })
        .collect();
    entries.sort_by_key(|e| std::cmp::Reverse(e.timestamp_us));
    entries
}

/// What a bounded journalctl run produced.
struct Output {
    stdout: Vec<u8>,
    stderr: String,
    /// Killed at the deadline or for output over the cap.
    cut: bool,
    /// Exit status was not success.
    failed: bool,
}

/// Runs `program args`, reading at most `cap` bytes of its output and
/// killing it after `deadline`.
fn run_bounded(
    program: &Path,
    args: &[String],
    deadline: Duration,
    cap: usize,
) -> std::io::Result<Output> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("SYSTEMD_PAGER", "")
        .spawn()?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let stdout = child.stdout.take();
    let reader = std::thread::Builder::new()
        .name("outpost-journal".into())
        .spawn(move || {
            let mut buf = Vec::new();
            if let Some(out) = stdout {
                // One byte past the cap tells "exactly cap" from "more".
                let _ = out.take(cap as u64 + 1).read_to_end(&mut buf);
            }
            let _ = tx.send(buf);
        })?;
    let (mut stdout, mut cut) = match rx.recv_timeout(deadline) {
        Ok(buf) => (buf, false),
        Err(_) => (Vec::new(), true),
    };
    if stdout.len() > cap {
        stdout.truncate(cap);
        cut = true;
    }
    if cut {
        // Past the deadline or the cap: stop it; its pipe closes with it.
        let _ = child.kill();
    }
    let status = child.wait()?;
    if cut {
        // The reader returns once the killed child's pipe closes.
        if let Ok(buf) = rx.recv_timeout(Duration::from_millis(100)) {
            if stdout.is_empty() {
                stdout = buf;
                stdout.truncate(cap);
            }
        }
    }
    let _ = reader.join();
    let mut stderr = String::new();
    if let Some(err) = child.stderr.take() {
        let _ = err.take(4096).read_to_string(&mut stderr);
    }
    Ok(Output {
        stdout,
        stderr,
        cut,
        failed: !status.success(),
    })
}

/// The first two non-empty lines of journalctl's stderr: its explanation
/// of an empty result ("You are currently not seeing messages from other
/// users and the system...").
fn hint(stderr: &str) -> Option<String> {
    let h = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    (!h.is_empty()).then_some(h)
}

/// Whether `dir` or a directory in it (journald's `MACHINE_ID/`) holds a
/// journal file.
fn has_journal_files(dir: &Path) -> bool {
    let is_journal = |p: &Path| {
        p.extension()
            .is_some_and(|e| e == "journal" || e == "journal~")
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        is_journal(&p)
            || std::fs::read_dir(&p)
                .map(|sub| sub.flatten().any(|f| is_journal(&f.path())))
                .unwrap_or(false)
    })
}

/// Why an empty answer is empty when journalctl did not say.
fn empty_reason(directory: Option<&Path>, matched: &str) -> String {
    let dirs: Vec<&Path> = match directory {
        Some(d) => vec![d],
        None => vec![Path::new("/var/log/journal"), Path::new("/run/log/journal")],
    };
    if dirs.iter().any(|d| has_journal_files(d)) {
        format!("the journal holds no entries for {matched}")
    } else {
        let names: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        format!(
            "no systemd journal here: {} hold no journal files",
            names.join(" and ")
        )
    }
}

/// Reads the journal of process `pid` with `program` (journalctl), from
/// `directory` when given, else the system's journal. The caller has checked
/// that the process exists.
pub(crate) fn collect(
    proc_root: &Path,
    pid: u32,
    program: &Path,
    directory: Option<&Path>,
) -> Journal {
    let cgroup =
        std::fs::read_to_string(proc_root.join(pid.to_string()).join("cgroup")).unwrap_or_default();
    let matched = journal_match(&cgroup, pid);
    let mut args = vec![
        matched.clone(),
        "--output=json".to_owned(),
        format!("--lines={MAX_ENTRIES}"),
        "--no-pager".to_owned(),
    ];
    if let Some(dir) = directory {
        args.push(format!("--directory={}", dir.display()));
    }
    let out = match run_bounded(program, &args, DEADLINE, MAX_OUTPUT) {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Journal {
                notice: Some("journalctl is not installed on this host: no journal to read".into()),
                matched,
                ..Journal::default()
            }
        }
        Err(e) => {
            return Journal {
                notice: Some(format!("journalctl could not be started: {e}")),
                matched,
                ..Journal::default()
            }
        }
    };
    let entries = parse_entries(&String::from_utf8_lossy(&out.stdout));
    let notice = if out.cut && entries.is_empty() {
        Some(format!(
            "journalctl gave no entry within {} s",
            DEADLINE.as_secs()
        ))
    } else if entries.is_empty() {
        Some(hint(&out.stderr).unwrap_or_else(|| {
            if out.failed {
                "journalctl failed without saying why".into()
            } else {
                empty_reason(directory, &matched)
            }
        }))
    } else {
        None
    };
    Journal {
        truncated: out.cut || entries.len() >= MAX_ENTRIES,
        entries,
        notice,
        matched,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_is_the_service_or_the_pid() {
        assert_eq!(
            journal_match("0::/system.slice/ssh.service\n", 7),
            "_SYSTEMD_UNIT=ssh.service"
        );
        assert_eq!(
            journal_match(
                "0::/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service\n",
                7
            ),
            "_SYSTEMD_USER_UNIT=foo.service"
        );
        assert_eq!(
            journal_match("0::/user.slice/user-1000.slice/session-3.scope\n", 7),
            "_PID=7"
        );
        assert_eq!(
            journal_match(
                "4:memory:/x\n1:name=systemd:/system.slice/cron.service\n",
                7
            ),
            "_SYSTEMD_UNIT=cron.service"
        );
        assert_eq!(journal_match("0::/\n", 9), "_PID=9");
        assert_eq!(journal_match("", 9), "_PID=9");
    }

    #[test]
    fn entries_parse_newest_first_and_junk_is_skipped() {
        let out = concat!(
            r#"{"__REALTIME_TIMESTAMP":"1700000000000000","PRIORITY":"3","MESSAGE":"old","_PID":"12","_COMM":"sshd","_SYSTEMD_UNIT":"ssh.service","_UID":"0","_GID":"0"}"#,
            "\n",
            r#"{"__REALTIME_TIMESTAMP":"1700000001000000","PRIORITY":"9","MESSAGE":[104,105,255]}"#,
            "\nnot json\n[1,2]\n",
            r#"{"__REALTIME_TIMESTAMP":"17000"#
        );
        let e = parse_entries(out);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].message, "hi\u{fffd}");
        assert_eq!(e[0].priority, 6);
        assert_eq!(e[1].message, "old");
        assert_eq!(e[1].priority, 3);
        assert_eq!(e[1].unit.as_deref(), Some("ssh.service"));
        assert_eq!((e[1].pid, e[1].uid), (Some(12), Some(0)));
    }

    #[test]
    fn no_journalctl_is_an_empty_list_with_a_reason() {
        let j = collect(
            Path::new("/proc"),
            std::process::id(),
            Path::new("/nonexistent/journalctl"),
            None,
        );
        assert!(j.entries.is_empty());
        assert!(j.notice.unwrap().contains("not installed"));
    }

    #[test]
    fn a_hung_journalctl_is_killed_at_the_deadline() {
        let started = std::time::Instant::now();
        let out = run_bounded(
            Path::new("sleep"),
            &["30".to_owned()],
            Duration::from_millis(200),
            MAX_OUTPUT,
        )
        .unwrap();
        assert!(out.cut);
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn output_past_the_cap_is_cut() {
        let out = run_bounded(Path::new("yes"), &[], Duration::from_secs(10), 1000).unwrap();
        assert!(out.cut);
        assert_eq!(out.stdout.len(), 1000);
    }
}
