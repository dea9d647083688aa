//! Issue 10, items 12 and 13 in the library: socktop's process view for a
//! known child (including its journal, from a real journal file written by
//! systemd-journal-remote and read back by the real journalctl), the reply
//! when there is no journal, and the overlay root file system of an agent
//! in a container in `get_disks`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use flate2::read::GzDecoder;
use outpost_host::socktop::{answer, Frame, Reply};
use outpost_host::{Host, HostConfig, HostError};
use outpost_test_support::peer::sleeping_child;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

fn reply_json(host: &Host, request: &str) -> String {
    match answer(host, Frame::Text(request)) {
        Reply::Text(t) => t.to_string(),
        Reply::Binary(b) => {
            let mut s = String::new();
            GzDecoder::new(&b[..]).read_to_string(&mut s).unwrap();
            s
        }
    }
}

#[test]
fn issue10_process_detail_of_a_child_in_socktops_shape() {
    let kid = sleeping_child();
    let pid = kid.id();
    let host = Host::default();
    let json = reply_json(&host, &format!("get_process_metrics:{pid}"));
    let r: socktop_connector::ProcessMetricsResponse = serde_json::from_str(&json).unwrap();
    let p = r.process;
    assert_eq!((p.pid, p.name.as_str()), (pid, "sleep"));
    assert_eq!(p.command, "sleep 600");
    assert_eq!(p.parent_pid, Some(std::process::id()));
    assert_eq!(p.thread_count, 1);
    assert_eq!(p.threads.len(), 1);
    assert!(p.mem_bytes > 0 && p.virtual_mem_bytes >= p.mem_bytes);
    assert!(r.cached_at > 1_700_000_000);

    // The library's own view of the same process.
    let d = host.process_detail(pid).unwrap();
    assert_eq!(d.rss_bytes, p.mem_bytes);
    assert!(matches!(
        host.process_detail(4_000_000_000),
        Err(HostError::NoSuchProcess { pid: 4_000_000_000 })
    ));
}

fn journal_remote() -> PathBuf {
    let bin = PathBuf::from("/lib/systemd/systemd-journal-remote");
    assert!(
        bin.exists(),
        "systemd-journal-remote is not installed: run scripts/deps/50-socktop.sh"
    );
    bin
}

/// Writes a real journal file into `dir` from journal export text.
fn write_journal(dir: &Path, export: &str) {
    let src = dir.join("entries.export");
    std::fs::write(&src, export).unwrap();
    let out = Command::new(journal_remote())
        .arg(format!("--output={}", dir.join("test.journal").display()))
        .arg(&src)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::remove_file(src).unwrap();
}

#[test]
fn issue10_journal_entries_come_from_a_real_journal() {
    let kid = sleeping_child();
    let pid = kid.id();
    let dir = tempfile::tempdir().unwrap();
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros();
    // The child's match: its systemd unit when the test runs in one (a CI
    // service), else its pid. Two entries of the child, one of another
    // process that must not be listed.
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let matched = outpost_host::journal::journal_match(&cgroup, pid);
    let unit_line = if matched.starts_with("_PID=") {
        String::new()
    } else {
        format!("{matched}\n")
    };
    let entry = |t: u128, pid: u32, unit: &str, prio: u8, msg: &str| {
        format!(
            "__REALTIME_TIMESTAMP={t}\n__MONOTONIC_TIMESTAMP={t}\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=test\n_PID={pid}\n{unit}_COMM=sleep\n_UID=0\n_GID=0\nPRIORITY={prio}\nMESSAGE={msg}\n\n"
        )
    };
    let export = entry(now_us, pid, &unit_line, 6, "first line")
        + &entry(now_us + 1, 1, "", 6, "not ours")
        + &entry(now_us + 2, pid, &unit_line, 3, "disk on fire");
    write_journal(dir.path(), &export);

    let host = Host::new(HostConfig {
        journal_dir: Some(dir.path().to_path_buf()),
        ..HostConfig::default()
    });
    let j = host.journal(pid).unwrap();
    assert_eq!(j.matched, matched);
    let messages: Vec<&str> = j.entries.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, vec!["disk on fire", "first line"], "newest first");
    assert!(j.notice.is_none() && !j.truncated);

    let json = reply_json(&host, &format!("get_journal_entries:{pid}"));
    let r: socktop_connector::JournalResponse = serde_json::from_str(&json).unwrap();
    assert_eq!(r.total_count, 2);
    assert!(matches!(
        r.entries[0].priority,
        socktop_connector::LogLevel::Error
    ));
    assert_eq!(r.entries[0].pid, Some(pid));
    assert_eq!(r.entries[0].comm.as_deref(), Some("sleep"));
    assert!(r.entries[0].timestamp.ends_with('Z'));
}

#[test]
fn issue10_no_journal_is_an_empty_list_with_a_reason() {
    let kid = sleeping_child();
    let pid = kid.id();
    let empty = tempfile::tempdir().unwrap();
    for config in [
        HostConfig {
            journalctl: PathBuf::from("/nonexistent/journalctl"),
            ..HostConfig::default()
        },
        HostConfig {
            journal_dir: Some(empty.path().to_path_buf()),
            ..HostConfig::default()
        },
    ] {
        let host = Host::new(config);
        let json = reply_json(&host, &format!("get_journal_entries:{pid}"));
        let r: socktop_connector::JournalResponse = serde_json::from_str(&json).unwrap();
        assert!(r.entries.is_empty());
        assert!(r.notice.as_deref().is_some_and(|n| !n.is_empty()), "{json}");
    }
}

#[test]
fn issue10_overlay_root_is_in_get_disks() {
    // /proc/mounts of an agent in a container: the root is an overlay.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mounts"),
        "overlay / overlay rw,relatime,lowerdir=/var/lib/docker/overlay2/l/A,upperdir=/var/lib/docker/overlay2/x/diff,workdir=/var/lib/docker/overlay2/x/work 0 0\n\
         proc /proc proc rw 0 0\n\
         overlay /var/lib/docker/overlay2/y/merged overlay rw 0 0\n",
    )
    .unwrap();
    let host = Host::new(HostConfig {
        proc_root: dir.path().to_path_buf(),
        ..HostConfig::default()
    });
    let disks = host.disks().unwrap();
    assert_eq!(disks.len(), 1, "{disks:?}");
    assert_eq!(disks[0].mount_point, "/");
    assert!(disks[0].total_bytes > 0);

    let json = reply_json(&host, "get_disks");
    let rows: Vec<socktop_connector::DiskInfo> = serde_json::from_str(&json).unwrap();
    assert_eq!(rows.len(), 1, "{json}");
    assert_eq!(rows[0].name, "overlay");
    assert!(!rows[0].is_partition);
    assert_eq!(rows[0].total, disks[0].total_bytes);
}
