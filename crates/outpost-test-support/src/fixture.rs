//! What a proptest builds once and shares between its cases: a runtime, a temporary
//! directory, and the thing under test built inside them (an agent core, a running agent).
//! Building it per case would measure start-up, not the property.

use std::path::Path;

pub struct Fixture<T> {
    pub rt: tokio::runtime::Runtime,
    /// The thing under test.
    pub value: T,
    _dir: tempfile::TempDir,
}

impl<T> Fixture<T> {
    /// A two-worker runtime and a fresh directory, and `build(runtime, directory)` in them.
    pub fn new(build: impl FnOnce(&tokio::runtime::Runtime, &Path) -> T) -> Fixture<T> {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let value = build(&rt, dir.path());
        Fixture {
            rt,
            value,
            _dir: dir,
        }
    }
}

/// Kills `pid` (SIGKILL) when the test binary exits. For a process a `static` fixture
/// started: statics are never dropped, so its guard never runs and the process would outlive
/// the suite (every run of `issue12_handler_props` left an `outpost run` behind).
pub fn kill_at_exit(pid: u32) {
    static PIDS: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());
    static ONCE: std::sync::Once = std::sync::Once::new();
    extern "C" fn kill_all() {
        let pids = PIDS.lock().map(|p| p.clone()).unwrap_or_default();
        for pid in pids {
            if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
    PIDS.lock().unwrap().push(pid);
    ONCE.call_once(|| {
        // SAFETY: registers a plain `extern "C" fn` with no captured state; libc calls it
        // once, from `exit`, after the test harness is done.
        #[allow(unsafe_code)]
        unsafe {
            libc::atexit(kill_all);
        }
    });
}
