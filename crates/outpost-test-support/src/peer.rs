//! Finding a peer's binary (failing loudly with what to install) and the guard that owns a
//! started peer: killed by PID and reaped on drop, its stderr kept in a file so a peer that
//! fails says why.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::wait::wait_until;

/// Where system packages put peers; `sbin` is often not on a test runner's `PATH`.
const SYSTEM_DIRS: &[&str] = &["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"];

/// The path of a peer binary from the system packages, else a panic naming the
/// `scripts/deps` script that installs it (`install`, e.g. "scripts/deps/20-snmp.sh").
/// Tests never skip for a missing peer.
pub fn binary(name: &str, install: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    SYSTEM_DIRS
        .iter()
        .map(PathBuf::from)
        .chain(std::env::split_paths(&path))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("peer binary {name:?} is missing: run {install} (tests never skip)")
        })
}

/// The test venv (Python peers: snmpsim, schemathesis, Crossbar): `OUTPOST_TEST_VENV`,
/// else `venv/` at the repository root, where `scripts/deps` creates it.
pub fn venv() -> PathBuf {
    match std::env::var_os("OUTPOST_TEST_VENV") {
        Some(v) => PathBuf::from(v),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../venv"),
    }
}

/// `venv/bin/NAME`, else a panic naming the script that installs it.
pub fn venv_binary(name: &str, install: &str) -> PathBuf {
    let p = venv().join("bin").join(name);
    assert!(
        p.is_file(),
        "{} is missing: run {install} (tests never skip)",
        p.display()
    );
    p
}

/// A started peer. Dropping it kills this child (by PID, never by name) and reaps it.
pub struct Process {
    name: String,
    child: Child,
    /// Where its stderr goes, if this guard chose (see [`Process::adopt`]).
    stderr: Option<PathBuf>,
}

impl Process {
    /// Starts `cmd` with no stdin and no stdout; its stderr goes to `DIR/NAME.stderr`
    /// (`dir` is the peer's own temporary directory).
    pub fn spawn(name: &str, mut cmd: Command, dir: &Path) -> Process {
        let stderr = dir.join(format!("{name}.stderr"));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Process {
            name: name.to_owned(),
            child,
            stderr: Some(stderr),
        }
    }

    /// Guards a child the test started itself (a process to look at, not a peer).
    pub fn adopt(name: &str, child: Child) -> Process {
        Process {
            name: name.to_owned(),
            child,
            stderr: None,
        }
    }

    /// Like [`Process::adopt`], for a child whose stderr goes to `stderr` (shown if it
    /// exits early).
    pub fn adopt_logged(name: &str, child: Child, stderr: PathBuf) -> Process {
        Process {
            name: name.to_owned(),
            child,
            stderr: Some(stderr),
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What the peer wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    /// The exit status if the peer has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Panics, with the peer's stderr, if it has exited.
    pub fn assert_running(&mut self) {
        if let Some(st) = self.exited() {
            panic!("{} exited ({st}); stderr:\n{}", self.name, self.stderr());
        }
    }

    /// SIGTERM, then waits up to `deadline` for the exit (a graceful stop: a broker saves
    /// its persistence).
    pub fn terminate(&mut self, deadline: Duration) -> ExitStatus {
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(self.child.id() as i32).unwrap(),
            rustix::process::Signal::TERM,
        )
        .unwrap();
        let end = Instant::now() + deadline;
        loop {
            if let Some(st) = self.exited() {
                return st;
            }
            assert!(
                Instant::now() < end,
                "{} did not stop within {deadline:?}; stderr:\n{}",
                self.name,
                self.stderr()
            );
            std::thread::park_timeout(Duration::from_millis(10));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sleep 600`, once it has exec'd (its cmdline is sleep's): a known process for tests of
/// the process views to look at. Killed and reaped on drop.
pub fn sleeping_child() -> Process {
    let child = Command::new("sleep")
        .arg("600")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn sleep");
    let pid = child.id();
    wait_until("the child to exec sleep", Duration::from_secs(10), || {
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"sleep\0"))
    });
    // Exec'd is not yet asleep: under load the new image can still be running its start-up
    // (a CI run saw "Running"). Callers assert on the sleeping state.
    wait_until("the child to sleep", Duration::from_secs(10), || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('S'))
        })
    });
    Process::adopt("sleep", child)
}
