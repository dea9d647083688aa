//! `outpost run --supervised`: a small parent that runs the agent as its child and brings
//! the previous binary back when an update's new binary cannot (it exits at start, or
//! hangs before our code runs). Standalone and under systemd alike (the unit runs this).
//!
//! The child talks to it on a Unix datagram socket named in `OUTPOST_SUPERVISOR_SOCKET`
//! (a directory of its own, mode 0700, under the temporary directory): `update` (a swap was
//! done: the marker and the data directory; the probation's deadline is armed) and
//! `settled` (confirmed, or the rollback reported: disarmed). While armed, a child that
//! exits, or is still unconfirmed a grace period after the probation ends, is stopped,
//! the previous binary is put back ([`super::roll_back`]), and a new child started. When
//! nothing is armed, the child's exit is the supervisor's: 0 stays 0, anything else is
//! passed on for systemd or the operator to judge. SIGTERM and SIGINT are passed to the
//! child, whose exit then ends the supervisor. No timer runs unless an update is armed.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::net::UnixDatagram;
use tokio::signal::unix::{signal, SignalKind};

use super::marker::Pending;

pub const SUPERVISOR_FD_ENV: &str = "OUTPOST_SUPERVISOR_SOCKET";

/// After the probation, how long the supervisor leaves the agent to decide for itself
/// (its own rollback gives the better reason) before acting.
const GRACE: Duration = Duration::from_secs(5);
/// How long a stopped child gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "msg", rename_all = "snake_case")]
enum Msg {
    /// A child started: where its data directory (and so an update's marker) is.
    Hello {
        data_dir: PathBuf,
    },
    Update {
        data_dir: PathBuf,
        pending: Pending,
    },
    Settled,
}

/// At the agent's start under a supervisor: it dies with the supervisor (never an orphan
/// holding the port), and the supervisor learns where a pending update's marker would be.
pub fn child_started(data_dir: &std::path::Path) {
    if std::env::var_os(SUPERVISOR_FD_ENV).is_none() {
        return;
    }
    // Kept across our own execs (a restart, an update), reset by none of them.
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM));
    send(&Msg::Hello {
        data_dir: data_dir.to_owned(),
    });
}

/// Tells the supervisor, if any, that a swap was done (`pending` in `data_dir`).
pub fn notify_update(data_dir: &std::path::Path, pending: &Pending) {
    send(&Msg::Update {
        data_dir: data_dir.to_owned(),
        pending: pending.clone(),
    });
}

/// `settled`: the update's outcome is known and stored.
pub fn notify_settled() {
    send(&Msg::Settled);
}

fn send(m: &Msg) {
    let Some(path) = std::env::var_os(SUPERVISOR_FD_ENV) else {
        return;
    };
    let sent = serde_json::to_vec(m)
        .map_err(std::io::Error::other)
        .and_then(|b| std::os::unix::net::UnixDatagram::unbound()?.send_to(&b, &path));
    if let Err(e) = sent {
        tracing::warn!(error = %e, "update: cannot tell the supervisor");
    }
}

/// `outpost run --supervised ...`: the same command line without `--supervised` runs as
/// the child. Returns the exit code to leave with.
pub fn run_supervised_from_args(args: &crate::cli::RunArgs) -> anyhow::Result<u8> {
    crate::telemetry::init(
        crate::config::LogLevel::Info,
        args.log_format.unwrap_or(crate::config::LogFormat::Text),
    );
    let child: Vec<OsString> = std::env::args_os()
        .skip(1)
        .filter(|a| a != "--supervised")
        .collect();
    run_supervised(child)
}

/// Runs the agent (`outpost ARGS`) under supervision; returns the exit code to leave with.
pub fn run_supervised(child_args: Vec<OsString>) -> anyhow::Result<u8> {
    // Resolved now, before any swap: afterwards the path names the new binary's inode.
    let exe = std::env::current_exe().context("finding this binary")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the supervisor's runtime")?;
    rt.block_on(supervise(exe, child_args))
}

async fn supervise(exe: PathBuf, args: Vec<OsString>) -> anyhow::Result<u8> {
    let dir = std::env::temp_dir().join(format!("outpost-supervisor-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let sock_path = dir.join("s");
    let sock = UnixDatagram::bind(&sock_path).context("the supervisor's socket")?;
    let result = supervise_on(&exe, &args, &sock, &sock_path).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

use std::os::unix::fs::DirBuilderExt;

async fn supervise_on(
    exe: &std::path::Path,
    args: &[OsString],
    sock: &UnixDatagram,
    sock_path: &std::path::Path,
) -> anyhow::Result<u8> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let mut child = tokio::process::Command::new(exe)
            .args(args)
            .env(SUPERVISOR_FD_ENV, sock_path)
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        tracing::info!(pid = child.id(), exe = %exe.display(), "supervisor: agent started");
        let mut armed: Option<(PathBuf, Pending, tokio::time::Instant)> = None;
        let mut data_dir: Option<PathBuf> = None;
        let mut stopping = false;
        let status = loop {
            let deadline = armed.as_ref().map(|(_, _, d)| *d);
            tokio::select! {
                r = sock.recv(&mut buf) => {
                    let Ok(n) = r else { continue };
                    match serde_json::from_slice::<Msg>(buf.get(..n).unwrap_or_default()) {
                        Ok(Msg::Update { data_dir, pending }) => {
                            let d = tokio::time::Instant::now()
                                + Duration::from_millis(pending.probation_ms) + GRACE;
                            tracing::info!(from = %pending.from, to = %pending.to, "supervisor: update on probation");
                            armed = Some((data_dir, pending, d));
                        }
                        Ok(Msg::Settled) => armed = None,
                        Ok(Msg::Hello { data_dir: d }) => data_dir = Some(d),
                        Err(e) => tracing::warn!(error = %e, "supervisor: a message it does not understand"),
                    }
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    tracing::error!("supervisor: the new version did not prove healthy in time; stopping it");
                    stop(&mut child).await;
                    if let Some((data_dir, mut p, _)) = armed.take() {
                        let why = format!("not healthy within the probation of {} s (the supervisor stopped it)", p.probation_ms / 1000);
                        if let Err(e) = super::roll_back(&data_dir, &mut p, &why) {
                            tracing::error!(error = %e, "supervisor: rollback failed");
                        }
                    }
                    break None;
                }
                st = child.wait() => break Some(st?),
                _ = term.recv() => { stopping = true; signal_child(&child, rustix::process::Signal::TERM); }
                _ = int.recv() => { stopping = true; signal_child(&child, rustix::process::Signal::INT); }
            }
        };
        let Some(status) = status else { continue };
        if stopping || status.success() {
            return Ok(exit_code(status));
        }
        // A failed exit while an update is pending: the new version could not run.
        let pending = match armed.take() {
            Some((d, p, _)) => Some((d, p)),
            None => data_dir.as_ref().and_then(|d| {
                super::marker::read(d)
                    .ok()
                    .flatten()
                    .filter(|p| p.rolled_back.is_none())
                    .map(|p| (d.clone(), p))
            }),
        };
        if let Some((d, mut p)) = pending {
            let why = format!("the new version exited during its probation ({status})");
            if let Err(e) = super::roll_back(&d, &mut p, &why) {
                tracing::error!(error = %e, "supervisor: rollback failed");
                return Ok(exit_code(status));
            }
            continue;
        }
        return Ok(exit_code(status));
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

fn signal_child(child: &tokio::process::Child, sig: rustix::process::Signal) {
    if let Some(pid) = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

/// SIGTERM, then SIGKILL after [`STOP_GRACE`].
async fn stop(child: &mut tokio::process::Child) {
    signal_child(child, rustix::process::Signal::TERM);
    if tokio::time::timeout(STOP_GRACE, child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

fn exit_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => u8::try_from(c).unwrap_or(1),
        (None, Some(s)) => u8::try_from(128 + s).unwrap_or(1),
        _ => 1,
    }
}
