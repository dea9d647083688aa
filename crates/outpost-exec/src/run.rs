//! One sandboxed run of a [`Plan`]: spawn, capture, time out or cancel, kill the group, reap.

use std::borrow::Cow;
use std::fs::Permissions;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};
use serde::{Serialize, Serializer};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use crate::child::{self, ChildSetup};
use crate::identity::Identity;
use crate::plan::{Limits, Plan};
use crate::sandbox_fs::{self, LandlockMode, LandlockReport};
use crate::SAFE_PATH;

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExitOutcome {
    Exited { code: i32 },
    Signaled { signal: i32 },
}

/// One output stream: the bytes kept (at most the cap), and how many more were read and
/// dropped. Kept as bytes (a command's output need not be UTF-8); [`Captured::text`] is the
/// lossy UTF-8 form the JSON result carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    pub bytes: Vec<u8>,
    pub dropped_bytes: u64,
    /// False when the stream was still open after the group was gone and the grace ran out
    /// (a process that left the group held it), or a read failed.
    pub complete: bool,
}

impl Captured {
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes)
    }

    /// Bytes the command wrote to the stream, kept or not.
    pub fn total_bytes(&self) -> u64 {
        self.bytes.len() as u64 + self.dropped_bytes
    }
}

/// What the sandbox actually applied to a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SandboxReport {
    /// The run's process group (its leader's pid).
    pub process_group: i32,
    pub uid: u32,
    pub gid: u32,
    pub no_new_privs: bool,
    pub limits: Limits,
    pub landlock: LandlockReport,
    pub cwd: String,
    /// Every process of the group was gone when the run ended (false: some outlived the
    /// kill grace, for example an orphan zombie that init had not reaped yet).
    pub group_cleared: bool,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub exit: ExitOutcome,
    pub timed_out: bool,
    pub cancelled: bool,
    pub duration: Duration,
    pub stdout: Captured,
    pub stderr: Captured,
    pub sandbox: SandboxReport,
}

impl Serialize for RunResult {
    /// The job output: outputs as lossy UTF-8 text (JSON consumers want text, and every
    /// command we expect prints text), with `*_lossy` set when bytes were replaced.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a> {
            exit: ExitOutcome,
            timed_out: bool,
            cancelled: bool,
            duration_ms: u64,
            stdout: Cow<'a, str>,
            stdout_lossy: bool,
            stdout_dropped_bytes: u64,
            stdout_complete: bool,
            stderr: Cow<'a, str>,
            stderr_lossy: bool,
            stderr_dropped_bytes: u64,
            stderr_complete: bool,
            sandbox: &'a SandboxReport,
        }
        let out = self.stdout.text();
        let err = self.stderr.text();
        View {
            exit: self.exit,
            timed_out: self.timed_out,
            cancelled: self.cancelled,
            duration_ms: u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX),
            stdout_lossy: matches!(out, Cow::Owned(_)),
            stdout: out,
            stdout_dropped_bytes: self.stdout.dropped_bytes,
            stdout_complete: self.stdout.complete,
            stderr_lossy: matches!(err, Cow::Owned(_)),
            stderr: err,
            stderr_dropped_bytes: self.stderr.dropped_bytes,
            stderr_complete: self.stderr.complete,
            sandbox: &self.sandbox,
        }
        .serialize(s)
    }
}

/// Where and how runs happen (from the executor's settings).
pub(crate) struct RunContext {
    pub work_dir: PathBuf,
    pub kill_grace: Duration,
}

/// A run failed to start: the sandbox could not be set up, or the program did not exec.
#[derive(Debug)]
pub(crate) struct StartError(pub io::Error);

/// A started child and what was set up for it.
struct Spawned {
    child: tokio::process::Child,
    /// Removed on drop, after the run.
    _tmp: tempfile::TempDir,
    cwd: PathBuf,
    uid: u32,
    gid: u32,
    landlock: LandlockReport,
    started: Instant,
}

/// Runs `plan` to its end. The set-up and the spawn (a private directory, a chown, a
/// Landlock ruleset, fork and exec) block, so they happen on a blocking thread: a hundred
/// commands starting at once do not stall the runtime's workers.
pub(crate) async fn run(
    plan: Arc<Plan>,
    ctx: &RunContext,
    cancel: &CancellationToken,
) -> Result<RunResult, StartError> {
    let work_dir = ctx.work_dir.clone();
    let for_spawn = plan.clone();
    let spawned = tokio::task::spawn_blocking(move || spawn(&for_spawn, &work_dir))
        .await
        .map_err(|e| StartError(io::Error::other(format!("the spawn task failed: {e}"))))??;
    Ok(supervise(spawned, &plan.limits, ctx.kill_grace, cancel).await)
}

fn spawn(plan: &Plan, work_dir: &Path) -> Result<Spawned, StartError> {
    // The run's private directory: its TMPDIR, its cwd unless the command sets one, and
    // (with the cwd) the only place Landlock lets it write. Removed when the run ends.
    let tmp = tempfile::Builder::new()
        .prefix("outpost-exec-")
        .permissions(Permissions::from_mode(0o700))
        .tempdir_in(work_dir)
        .map_err(StartError)?;
    let (uid, gid) = match plan.identity {
        Some(Identity { uid, gid }) => {
            std::os::unix::fs::chown(tmp.path(), Some(uid), Some(gid)).map_err(StartError)?;
            (uid, gid)
        }
        None => (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        ),
    };
    let cwd: PathBuf = plan.cwd.clone().unwrap_or_else(|| tmp.path().to_owned());

    // The run's own directory, and the command's working directory when it names another.
    let mut writable = vec![tmp.path()];
    if cwd != tmp.path() {
        writable.push(cwd.as_path());
    }
    let (landlock_fd, landlock) = match plan.landlock {
        LandlockMode::Off => (None, LandlockReport::Off),
        mode => match sandbox_fs::build(&writable) {
            Ok((fd, abi)) => (
                Some(fd),
                LandlockReport::Enforced {
                    abi,
                    writable: writable
                        .iter()
                        .map(|p| p.display().to_string())
                        .chain(["/dev/null".to_owned()])
                        .collect(),
                },
            ),
            Err(reason) if mode == LandlockMode::Required => {
                return Err(StartError(io::Error::other(format!(
                    "landlock is required: {reason}"
                ))))
            }
            Err(reason) => (None, LandlockReport::Unavailable { reason }),
        },
    };

    let mut cmd = tokio::process::Command::new(&plan.program);
    if let Some((argv0, rest)) = plan.argv.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    cmd.env_clear()
        .env("PATH", SAFE_PATH)
        .env("TMPDIR", tmp.path())
        .envs(plan.env.iter().map(|(k, v)| (k, &v.value)))
        .current_dir(&cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(id) = plan.identity {
        // std switches gid, drops supplementary groups (setgroups(0)), then switches uid.
        cmd.uid(id.uid).gid(id.gid);
    }
    child::install(
        &mut cmd,
        ChildSetup {
            rlimits: child::rlimits(&plan.limits),
            landlock_fd: landlock_fd.as_ref().map(std::os::fd::AsRawFd::as_raw_fd),
            keep_fd: plan
                .script
                .as_ref()
                .map(crate::scripts::ScriptImage::raw_fd),
            nice: plan.limits.nice,
        },
    );
    // One fork at a time: a fork holds the agent's address-space lock for writing while it
    // copies the page tables, and a burst of them from many blocking threads queues the
    // runtime's workers behind each other's page faults. In turn, each is short.
    static FORK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let started;
    let child = {
        let _one = FORK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        started = Instant::now();
        cmd.spawn().map_err(StartError)?
    };
    Ok(Spawned {
        child,
        _tmp: tmp,
        cwd,
        uid,
        gid,
        landlock,
        started,
    })
}

/// Captures, waits (to the end, the timeout or the cancel), kills what is left, reaps.
async fn supervise(
    s: Spawned,
    limits: &Limits,
    kill_grace: Duration,
    cancel: &CancellationToken,
) -> RunResult {
    let Spawned {
        mut child,
        _tmp,
        cwd,
        uid,
        gid,
        landlock,
        started,
    } = s;
    // A spawned child has a pid until it is waited for; 0 only if that ever broke, and then
    // the group signals below are refused by the kernel (pid 0 is not a group we can name).
    let pgid = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .and_then(Pid::from_raw);
    let stop = CancellationToken::new();
    let cap = limits.output_cap_bytes;
    let out_task = child
        .stdout
        .take()
        .map(|r| tokio::spawn(capture(r, cap, stop.clone())));
    let err_task = child
        .stderr
        .take()
        .map(|r| tokio::spawn(capture(r, cap, stop.clone())));

    enum Why {
        Exited(io::Result<ExitStatus>),
        Timeout,
        Cancelled,
    }
    let deadline = started + Duration::from_millis(limits.timeout_ms);
    let why = tokio::select! {
        st = child.wait() => Why::Exited(st),
        _ = tokio::time::sleep_until(deadline.into()) => Why::Timeout,
        _ = cancel.cancelled() => Why::Cancelled,
    };
    let (timed_out, cancelled) = (matches!(why, Why::Timeout), matches!(why, Why::Cancelled));
    let status = match why {
        Why::Exited(st) => st,
        Why::Timeout | Why::Cancelled => {
            signal_group(pgid, Signal::TERM);
            match tokio::time::timeout(kill_grace, child.wait()).await {
                Ok(st) => st,
                Err(_) => {
                    signal_group(pgid, Signal::KILL);
                    child.wait().await
                }
            }
        }
    };
    let duration = started.elapsed();
    // Whatever is still in the group outlived its command (a background job, a grandchild
    // that ignored SIGTERM): killed, and waited for within the grace.
    signal_group(pgid, Signal::KILL);
    let group_cleared = wait_group_gone(pgid, kill_grace).await;

    // The pipes close when their last holder exits; one that left the group could hold them
    // forever, so the reads get the grace too, then stop with what they have.
    let outputs = async {
        let out = join_capture(out_task).await;
        let err = join_capture(err_task).await;
        (out, err)
    };
    tokio::pin!(outputs);
    let (stdout, stderr) = match tokio::time::timeout(kill_grace, &mut outputs).await {
        Ok(both) => both,
        Err(_) => {
            stop.cancel();
            outputs.await
        }
    };

    let exit = match status.as_ref().map(|s| (s.code(), s.signal())) {
        Ok((Some(code), _)) => ExitOutcome::Exited { code },
        Ok((None, Some(signal))) => ExitOutcome::Signaled { signal },
        // Waiting failed (not expected for our own child): reported as a kill.
        Ok((None, None)) | Err(_) => ExitOutcome::Signaled { signal: 9 },
    };
    RunResult {
        exit,
        timed_out,
        cancelled,
        duration,
        stdout,
        stderr,
        sandbox: SandboxReport {
            process_group: pgid.map_or(0, |p| p.as_raw_nonzero().get()),
            uid,
            gid,
            no_new_privs: true,
            limits: *limits,
            landlock,
            cwd: cwd.display().to_string(),
            group_cleared,
        },
    }
}

fn signal_group(pgid: Option<Pid>, sig: Signal) {
    // ESRCH (the group is already gone) is the expected answer after the first kill.
    if let Some(pgid) = pgid {
        let _ = rustix::process::kill_process_group(pgid, sig);
    }
}

/// Polls (every 5 ms, within `limit`) until no live process is left in the group, killing
/// again each time in case one was forked while the previous signal was delivered. A zombie
/// is dead: orphans are reparented to init (or a subreaper), and some inits reap late, so
/// when the kernel still knows the group its members are looked up in /proc.
async fn wait_group_gone(pgid: Option<Pid>, limit: Duration) -> bool {
    let Some(group) = pgid else {
        return false;
    };
    let until = Instant::now() + limit;
    loop {
        if rustix::process::test_kill_process_group(group) == Err(rustix::io::Errno::SRCH) {
            return true;
        }
        let raw = group.as_raw_nonzero().get();
        let live = tokio::task::spawn_blocking(move || live_members(raw))
            .await
            .unwrap_or(1);
        if live == 0 {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        signal_group(pgid, Signal::KILL);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Processes of group `pgid` that are not zombies, from /proc/*/stat (field 5 is the group,
/// field 3 the state; both after the parenthesized command name, which may hold spaces).
fn live_members(pgid: i32) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 1;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .as_encoded_bytes()
                .iter()
                .all(u8::is_ascii_digit)
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            let Some((_, rest)) = stat.rsplit_once(") ") else {
                return false;
            };
            let mut f = rest.split_ascii_whitespace();
            let state = f.next();
            let group = f.nth(1).and_then(|g| g.parse::<i32>().ok());
            group == Some(pgid) && state != Some("Z")
        })
        .count()
}

async fn join_capture(task: Option<tokio::task::JoinHandle<Captured>>) -> Captured {
    match task {
        Some(t) => t.await.unwrap_or_default(),
        None => Captured::default(),
    }
}

/// Reads `r` to its end (or until `stop`), keeping `cap` bytes and counting the rest.
async fn capture<R: AsyncRead + Unpin>(mut r: R, cap: usize, stop: CancellationToken) -> Captured {
    let mut kept = Vec::with_capacity(cap.min(64 * 1024));
    let mut dropped = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    let complete = loop {
        let n = tokio::select! {
            n = r.read(&mut buf) => n,
            _ = stop.cancelled() => break false,
        };
        match n {
            Ok(0) => break true,
            Ok(n) => {
                let take = n.min(cap.saturating_sub(kept.len()));
                kept.extend_from_slice(&buf[..take]);
                dropped += (n - take) as u64;
            }
            Err(_) => break false,
        }
    };
    Captured {
        bytes: kept,
        dropped_bytes: dropped,
        complete,
    }
}
