//! Issue 13, limits: a timeout or a cancel kills the whole process group (grandchildren
//! included, even one that ignores SIGTERM), output caps hold while the rest is counted, and
//! RLIMIT_NPROC holds a fork bomb.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::{fixture_with, wait_for, wait_until};
use outpost_exec::{ExitOutcome, Request};
use tokio_util::sync::CancellationToken;

const EXTRA: &str = r#"
[leave_grandchild]
argv = ["sleep 600 & echo $!; wait"]
shell_script = true
timeout_ms = 500

[stubborn]
argv = ["trap '' TERM; (trap '' TERM; exec sleep 600) & echo $!; wait; wait"]
shell_script = true
timeout_ms = 500

[cancellable]
argv = ["sleep 600 & echo $! > pid; wait"]
shell_script = true
cwd = "@MARKERS@"

[flood]
argv = ["head -c 10485760 /dev/zero; head -c 100000 /dev/zero >&2; echo done >&2"]
shell_script = true
output_cap_bytes = 65536

[niceness]
argv = ["cut -d' ' -f19 /proc/self/stat"]
shell_script = true
# Not the bomb's uid: that test counts the processes of 64999 and needs them to be its own.
user = 64998

[bomb]
argv = [{ literal = "bomb() { bomb | bomb & }; bomb & exec sleep 600" }]
shell_script = true
timeout_ms = 3000
processes = 64
user = 64999
"#;

/// Alive: in /proc and not a zombie (a zombie is dead, waiting for its parent to reap it).
fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .map(|(_, rest)| !rest.starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

fn first_pid(bytes: &[u8]) -> u32 {
    String::from_utf8_lossy(bytes)
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid in {:?}", String::from_utf8_lossy(bytes)))
}

/// Runs command `name` from the API, never cancelled; it must start.
async fn run(exec: &outpost_exec::Exec, name: &str) -> outpost_exec::Finished {
    exec.run(
        common::origin(),
        Request::command(name),
        CancellationToken::new(),
    )
    .await
    .expect("runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_a_timeout_kills_the_whole_group_grandchild_included() {
    let f = fixture_with(EXTRA, |_| {});
    let t0 = Instant::now();
    let fin = run(&f.exec, "leave_grandchild").await;
    assert!(fin.result.timed_out);
    assert_eq!(
        fin.result.exit,
        ExitOutcome::Signaled { signal: 15 },
        "SIGTERM ended it"
    );
    let grandchild = first_pid(&fin.result.stdout.bytes);
    wait_until(
        "the grandchild sleep 600 to be gone",
        Duration::from_secs(5),
        || !alive(grandchild),
    );
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert!(
        fin.result.sandbox.group_cleared,
        "no live process left in the group"
    );
    let out = fin.outcome.expect("outcome line");
    assert!(out.timed_out && out.signal == Some(15), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_a_group_that_ignores_sigterm_is_killed_after_the_grace() {
    let f = fixture_with(EXTRA, |s| s.kill_grace_ms = 300);
    let fin = run(&f.exec, "stubborn").await;
    assert!(fin.result.timed_out);
    assert_eq!(
        fin.result.exit,
        ExitOutcome::Signaled { signal: 9 },
        "SIGKILL after the grace"
    );
    assert!(fin.result.sandbox.group_cleared);
    let grandchild = first_pid(&fin.result.stdout.bytes);
    wait_until(
        "the TERM-proof grandchild to be gone",
        Duration::from_secs(5),
        || !alive(grandchild),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_a_cancel_kills_the_whole_group() {
    let f = fixture_with(EXTRA, |_| {});
    let cancel = CancellationToken::new();
    let exec = f.exec.clone();
    let token = cancel.clone();
    let task = tokio::spawn(async move {
        exec.run(common::origin(), Request::command("cancellable"), token)
            .await
    });
    let pid_file = f.markers.join("pid");
    wait_for(
        "the command to write its grandchild's pid",
        Duration::from_secs(10),
        || {
            let p = pid_file.clone();
            async move { fs::read_to_string(&p).is_ok_and(|s| s.ends_with('\n')) }
        },
    )
    .await;
    let grandchild = first_pid(&fs::read(&pid_file).expect("pid file"));
    assert!(alive(grandchild));
    cancel.cancel();
    let fin = task.await.expect("task").expect("runs");
    assert!(fin.result.cancelled && !fin.result.timed_out);
    wait_until(
        "the grandchild to be gone after the cancel",
        Duration::from_secs(5),
        || !alive(grandchild),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_output_caps_hold_and_the_rest_is_counted() {
    let f = fixture_with(EXTRA, |_| {});
    let fin = run(&f.exec, "flood").await;
    let r = &fin.result;
    assert_eq!(r.exit, ExitOutcome::Exited { code: 0 });
    assert_eq!(r.stdout.bytes.len(), 65536);
    assert_eq!(r.stdout.dropped_bytes, 10_485_760 - 65536);
    assert!(r.stdout.bytes.iter().all(|b| *b == 0));
    assert_eq!(r.stderr.bytes.len(), 65536);
    assert_eq!(
        r.stderr.dropped_bytes,
        100_005 - 65536,
        "100000 zeros and 'done\\n'"
    );
    assert!(r.stdout.complete && r.stderr.complete);
    let out = fin.outcome.expect("outcome line");
    assert_eq!(out.stdout_bytes, Some(10_485_760));
    assert_eq!(out.stdout_dropped_bytes, Some(10_485_760 - 65536));
}

/// Processes of `uid` on the machine.
fn processes_of(uid: u32) -> usize {
    let Ok(dir) = fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            fs::read_to_string(e.path().join("status")).is_ok_and(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .is_some_and(|u| u == uid.to_string())
            })
        })
        .count()
}

/// RLIMIT_NPROC is per real uid and root ignores it, so the bomb runs as an unprivileged
/// uid of its own (64999, which nothing else uses): its process count never passes the
/// limit, the run ends at its timeout, and nothing of it is left. The leader forks once,
/// before any bomb process exists, then becomes `sleep`: it never loses a fork race itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_a_fork_bomb_is_held_by_the_process_limit() {
    let f = fixture_with(EXTRA, |_| {});
    assert_eq!(processes_of(64999), 0, "uid 64999 must be unused");
    let exec = f.exec.clone();
    let bomb = tokio::spawn(async move {
        exec.run(
            common::origin(),
            Request::command("bomb"),
            CancellationToken::new(),
        )
        .await
    });
    let sampler = std::thread::spawn(move || {
        let mut peak = 0;
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            peak = peak.max(processes_of(64999));
            if peak > 0 && processes_of(64999) == 0 {
                break;
            }
            std::thread::park_timeout(Duration::from_millis(10));
        }
        peak
    });
    let fin = bomb.await.expect("task").expect("the bomb runs");
    assert!(
        fin.result.timed_out,
        "the bomb ran until its timeout: {:?}",
        fin.result
    );
    let peak = sampler.join().expect("sampler");
    eprintln!(
        "fork bomb: peak {peak} processes of uid 64999, stderr {:?}",
        fin.result.stderr.text().lines().next()
    );
    assert!(peak > 1, "the bomb did fork (peak {peak})");
    assert!(peak <= 64, "RLIMIT_NPROC 64 held: peak {peak} processes");
    wait_until(
        "every bomb process to be gone",
        Duration::from_secs(10),
        || processes_of(64999) == 0,
    );
}

/// Regression: a command switched to another user could not start when the agent ran at a
/// niceness above the command's (10 by default): lowering it needs privilege, so under
/// `nice -n 19` every command failed with "Permission denied". The child keeps the higher
/// of the two. A current-thread runtime: the child is forked from this thread, whose
/// niceness (per thread on Linux) it inherits.
#[tokio::test]
async fn issue13_a_command_starts_when_the_agent_runs_at_a_higher_niceness() {
    let f = fixture_with(EXTRA, |_| {});
    rustix::process::setpriority_process(None, 15).expect("raise this thread's niceness");
    let fin = run(&f.exec, "niceness").await;
    assert_eq!(fin.result.exit, ExitOutcome::Exited { code: 0 }, "{fin:?}");
    let nice = String::from_utf8_lossy(&fin.result.stdout.bytes)
        .trim()
        .to_string();
    assert_eq!(nice, "15", "the command's niceness");
}
