//! Issue 10, socktop parity (items 12 and 14) through the real `outpost run`:
//! socktop's process view (`get_process_metrics:PID`, `get_journal_entries:PID`) driven by
//! socktop's own `socktop_connector` for a known child of this test, bad pids answered with
//! socktop_agent's error shape on a session that keeps serving, and the resident size of a
//! small process compared with socktop_agent 1.60.1's figure (a real socktop_agent, started
//! here) and with /proc/PID/smaps_rollup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use common::{ws_request, Agent, Options, Ws};
use outpost_test_support::peer::{sleeping_child, Process};
use outpost_test_support::socktop_agent::SocktopAgent;
use serde_json::Value;
use socktop_connector::{AgentRequest, AgentResponse, SocktopConnector};
use tokio_tungstenite::tungstenite::Message;

fn ws_url(a: &Agent) -> String {
    format!(
        "{}/ws?token={}",
        a.url.replacen("http://", "ws://", 1),
        a.token
    )
}

/// `Rss:` of /proc/PID/smaps_rollup in bytes: the kernel's exact resident size.
fn smaps_rollup_rss(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    let line = text.lines().find(|l| l.starts_with("Rss:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

async fn connector(url: String) -> SocktopConnector {
    socktop_connector::connect_to_socktop_agent(url)
        .await
        .unwrap()
}

async fn detail(c: &mut SocktopConnector, pid: u32) -> socktop_connector::DetailedProcessInfo {
    match c
        .request(AgentRequest::ProcessMetrics { pid })
        .await
        .unwrap()
    {
        AgentResponse::ProcessMetrics(r) => r.process,
        other => panic!("not process metrics: {other:?}"),
    }
}

/// One raw request, its reply as JSON (gunzipped when binary).
async fn ask_json(ws: &mut Ws, request: &str) -> Value {
    let text = match ws_request(ws, request).await {
        Message::Text(t) => t.as_str().to_owned(),
        Message::Binary(b) => String::from_utf8(outpost_test_support::gzip::gunzip(&b)).unwrap(),
        other => panic!("unexpected frame {other:?}"),
    };
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn issue10_process_detail_view_is_served_through_socktop_connector() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(dir.path()));
    let kid = sleeping_child();
    let pid = kid.id();
    let me = std::process::id();

    let mut c = connector(ws_url(&a)).await;
    let d = detail(&mut c, pid).await;
    assert_eq!(d.pid, pid);
    assert_eq!(d.name, "sleep");
    assert_eq!(d.command, "sleep 600");
    assert_eq!(d.parent_pid, Some(me));
    assert_eq!(d.status, "Sleeping");
    assert_eq!(d.thread_count, 1);
    assert_eq!(d.threads.len(), 1);
    assert_eq!(d.threads[0].tid, pid);
    assert_eq!(d.threads[0].name, "sleep");
    assert!(d.child_processes.is_empty());
    // Memory: the exact resident size, and a virtual size that holds it.
    let rss = smaps_rollup_rss(pid);
    assert!(
        d.mem_bytes.abs_diff(rss) <= rss / 100,
        "mem {} vs smaps_rollup {rss}",
        d.mem_bytes
    );
    assert!(d.virtual_mem_bytes >= d.mem_bytes);
    assert!(d.shared_mem_bytes.is_some_and(|s| s <= d.virtual_mem_bytes));
    // I/O and the rest of the details pane.
    assert!(d.read_bytes.is_some() && d.write_bytes.is_some());
    assert!(d.fd_count.is_some_and(|n| n >= 1));
    assert!(
        d.executable_path
            .as_deref()
            .is_some_and(|p| p.ends_with("/sleep")),
        "{:?}",
        d.executable_path
    );
    assert_eq!(
        d.working_directory.as_deref(),
        Some(std::env::current_dir().unwrap().to_str().unwrap())
    );
    let uid = rustix::process::getuid().as_raw();
    assert_eq!(d.user_id, uid);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        d.start_time.abs_diff(now) < 120,
        "start {} now {now}",
        d.start_time
    );

    // The parent's view: this test, many threads, the sleep among its children.
    let parent = detail(&mut c, me).await;
    assert!(parent.thread_count > 1, "a tokio test runs several threads");
    assert!(parent.threads.iter().any(|t| t.tid == me));
    let child = parent
        .child_processes
        .iter()
        .find(|p| p.pid == pid)
        .expect("the sleep is listed as a child");
    assert_eq!(child.command, "sleep 600");
    assert!(child.mem_bytes > 0);
    assert!(parent
        .child_processes
        .iter()
        .any(|p| p.pid == a.pid() as u32));

    // Journal: entries where a journal exists; here, whatever the host has, the reply decodes
    // and an empty list says why.
    let j = match c
        .request(AgentRequest::JournalEntries { pid })
        .await
        .unwrap()
    {
        AgentResponse::JournalEntries(j) => j,
        other => panic!("not journal entries: {other:?}"),
    };
    assert_eq!(j.total_count as usize, j.entries.len());
    if j.entries.is_empty() {
        assert!(j.notice.is_some(), "an empty journal says why");
    }

    // A pid no process has: socktop's connector gets an error, and the session keeps serving.
    let err = c
        .request(AgentRequest::ProcessMetrics { pid: 4_000_000_000 })
        .await;
    assert!(err.is_err(), "{err:?}");
    let AgentResponse::Metrics(m) = c.request(AgentRequest::Metrics).await.unwrap() else {
        panic!("not metrics")
    };
    assert!(m.mem_total > 0);
    assert_eq!(detail(&mut c, pid).await.pid, pid);
}

#[tokio::test]
async fn issue10_bad_pids_get_socktops_error_shape_and_the_session_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(dir.path()));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&a)).await.unwrap();

    for (request, name) in [
        ("get_process_metrics:abc", "get_process_metrics"),
        ("get_process_metrics:", "get_process_metrics"),
        ("get_process_metrics:-1", "get_process_metrics"),
        ("get_process_metrics:0", "get_process_metrics"),
        (
            "get_process_metrics:99999999999999999999999999",
            "get_process_metrics",
        ),
        ("get_journal_entries:4294967296", "get_journal_entries"),
        (
            r#"{"type":"process_metrics","pid":"x"}"#,
            "get_process_metrics",
        ),
    ] {
        let v = ask_json(&mut ws, request).await;
        assert_eq!(v["request"], name, "{request}: {v}");
        assert!(v["pid"].is_null(), "{request}: {v}");
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .contains("pid must be a number"),
            "{request}: {v}"
        );
    }
    // Well-formed pids no process has: "not found", naming the pid.
    for (request, name, pid) in [
        (
            "get_process_metrics:4000000000",
            "get_process_metrics",
            4_000_000_000u64,
        ),
        (
            "get_journal_entries:4294967295",
            "get_journal_entries",
            4_294_967_295,
        ),
    ] {
        let v = ask_json(&mut ws, request).await;
        assert_eq!(v["request"], name, "{v}");
        assert_eq!(v["pid"], pid, "{v}");
        assert_eq!(v["error"], format!("Process {pid} not found"), "{v}");
    }
    // Still serving, on the same session.
    let v = ask_json(&mut ws, "get_metrics").await;
    assert!(v["mem_total"].as_u64().unwrap() > 0, "{v}");
    let me = std::process::id();
    let v = ask_json(&mut ws, &format!("get_process_metrics:{me}")).await;
    assert_eq!(v["process"]["pid"], me, "{v}");
    assert!(a.log_text().lines().all(|l| !l.contains("panicked")));
}

#[tokio::test]
async fn issue10_resident_size_matches_socktop_agent_and_smaps_rollup() {
    let peer = SocktopAgent::start();
    let peer_url = peer.url();

    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(dir.path()));
    let kid = sleeping_child();
    let pid = kid.id();

    let row = |p: socktop_connector::ProcessesPayload| {
        p.top_processes
            .into_iter()
            .find(|r| r.pid == pid)
            .map(|r| r.mem_bytes)
    };
    let mut theirs_c = connector(peer_url).await;
    let mut ours_c = connector(ws_url(&a)).await;
    let mut theirs = None;
    let mut ours = None;
    // Both agents cache the process table (1.5 s): ask until the new child is in each.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while theirs.is_none() || ours.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the child never showed in both process lists: socktop_agent {theirs:?}, outpost {ours:?}"
        );
        if theirs.is_none() {
            if let Ok(AgentResponse::Processes(p)) = theirs_c.request(AgentRequest::Processes).await
            {
                theirs = row(p);
            }
        }
        if ours.is_none() {
            if let Ok(AgentResponse::Processes(p)) = ours_c.request(AgentRequest::Processes).await {
                ours = row(p);
            }
        }
        if theirs.is_none() || ours.is_none() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let (theirs, ours) = (theirs.unwrap(), ours.unwrap());
    let exact = smaps_rollup_rss(pid);
    eprintln!("sleep {pid}: outpost {ours} B, socktop_agent {theirs} B, smaps_rollup {exact} B");
    let within = |a: u64, b: u64, pct: u64| a.abs_diff(b) * 100 <= b * pct;
    assert!(
        within(ours, theirs, 2),
        "outpost {ours} vs socktop_agent {theirs}"
    );
    assert!(
        within(ours, exact, 2),
        "outpost {ours} vs smaps_rollup {exact}"
    );
    // The detail view reads smaps_rollup itself.
    let d = detail(&mut ours_c, pid).await;
    assert!(
        within(d.mem_bytes, exact, 1),
        "detail {} vs smaps_rollup {exact}",
        d.mem_bytes
    );
    drop(peer);
}

/// A tmux server of this test's own, killed when the test ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-t", "tui", "-p"]).stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn on_path(bin: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {bin}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The real socktop 1.60.1 TUI, in tmux, opens the process view of a known process: the
/// view is filled (memory, threads, command line, journal pane) where it used to say
/// "Agent Update Required" with every box at "Loading…".
#[tokio::test]
async fn issue10_real_socktop_tui_fills_the_process_view() {
    assert!(
        on_path("socktop") && on_path("tmux"),
        "socktop's TUI or tmux is missing: run scripts/deps/50-socktop.sh (cargo install socktop --version 1.60.1)"
    );
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(&dir.path().join("data")));
    // A copy of sleep with a name no other process has, so socktop's search finds only it.
    let name = "issue10tuiprobe";
    let probe = dir.path().join(name);
    let sleep = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v sleep"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::fs::copy(sleep.trim(), &probe).unwrap();
    let kid = Process::adopt(
        "probe",
        Command::new(&probe)
            .arg("600")
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = kid.id();

    let tmux = Tmux {
        socket: format!("outpost-issue10-{}", std::process::id()),
    };
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "tui",
        "-x",
        "200",
        "-y",
        "60",
        &format!("socktop '{}'", ws_url(&a)),
    ]);
    assert!(out.status.success(), "tmux: {out:?}");

    // The process table is drawn once the TUI has the agent's process list; keys sent before
    // that would be lost or taken as hotkeys (Esc quits).
    let loaded = |screen: &str| {
        screen
            .split("Top Processes (")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n > 0)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut screen = tmux.screen();
    while !loaded(&screen) {
        assert!(
            std::time::Instant::now() < deadline,
            "socktop never drew the process table:\n{screen}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        screen = tmux.screen();
    }
    // Search for the probe (Enter selects the first match), open its view (Enter); repeated
    // while the view has not opened, in case the list the search ran on predates the probe.
    let title = format!("Process Details - PID {pid}");
    'open: while std::time::Instant::now() < deadline {
        for keys in [&["/"][..], &["-l", name], &["Enter"], &["Enter"]] {
            let mut args = vec!["send-keys", "-t", "tui"];
            args.extend_from_slice(keys);
            tmux.cmd(&args);
        }
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < until {
            screen = tmux.screen();
            if screen.contains(&title) && screen.contains("RSS:") && screen.contains("600") {
                break 'open;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(
        screen.contains(&title),
        "the process view never opened:\n{screen}"
    );
    assert!(!screen.contains("Agent Update Required"), "{screen}");
    // Filled: memory, the thread, the command line, the journal pane.
    assert!(screen.contains("RSS:"), "{screen}");
    assert!(screen.contains("Threads (1)"), "{screen}");
    assert!(screen.contains(&format!("{name} 600")), "{screen}");
    assert!(screen.contains("Journal Events"), "{screen}");
    assert!(screen.contains("Sleeping"), "{screen}");
    drop(tmux);
}
