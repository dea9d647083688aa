//! A container engine of the test's own, serving the Docker Engine API on a socket in a
//! short temporary directory under /tmp (a Unix socket path must fit in 108 bytes), ready
//! once `GET /_ping` answers, stopped by its PID (SIGTERM; then anything left of ours,
//! found by our directory in its command line, is killed by PID, and its mounts undone). It
//! never touches a system engine.
//! - [`Dockerd::start`]: `dockerd --iptables=false --bridge=none` as `shared/peers.md` runs
//!   it, with its own data root and exec root.
//! - [`Dockerd::podman`]: Debian's Podman, `podman system service --time=0`, with its own
//!   root, run root and `containers.conf` (default rlimits this machine allows: podman's own
//!   defaults, nofile and nproc of 1048576, are above the hard limits of a container like
//!   this test machine, and runc then fails every start with "error setting rlimits").
//!
//! Also the test image `busybox:local`, a `docker import` of Debian's busybox-static, whose
//! rootfs tar is built once and kept in the temporary directory for later runs.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::peer::{self, Process};
use crate::wait::wait_until;

pub const INSTALL: &str = "scripts/deps/70-containers.sh";

/// The test image every suite uses.
pub const BUSYBOX: &str = "busybox:local";

/// The busybox applets linked into the image.
const APPLETS: &[&str] = &[
    "sh", "sleep", "echo", "cat", "ls", "true", "false", "yes", "seq", "nc", "env", "id", "printf",
    "head", "wc", "kill", "date",
];

/// Which engine serves the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Docker,
    Podman,
}

/// A running engine on its own socket; stopped on drop.
pub struct Dockerd {
    pub kind: Kind,
    process: Option<Process>,
    /// Its socket's path (for `containers.socket` / `DOCKER_HOST=unix://...`).
    pub socket: PathBuf,
    dir: tempfile::TempDir,
}

impl Dockerd {
    /// Options for an agent driving this engine: `containers.socket` set, and the disk guard
    /// off. The guard reads free space on the engine's data root, a temporary directory on
    /// the runner's disk: a CI runner whose disk is nearly full (1.7% free was seen) would
    /// otherwise fail every pull in suites that test something else. The guard's own suite
    /// (`issue15_container_disk_guard`) sets it explicitly.
    pub fn agent_options(&self, data_dir: &Path) -> crate::agent::Options {
        crate::agent::Options::new(data_dir)
            .env("OUTPOST_CONTAINERS_SOCKET", &self.socket.to_string_lossy())
            .env("OUTPOST_CONTAINERS_DISK_GUARD_PCT", "0")
    }

    /// Starts dockerd and waits, up to 60 s, for `/_ping`.
    pub fn start() -> Dockerd {
        let bin = peer::binary("dockerd", INSTALL);
        // Short: the exec root holds containerd's sockets, whose paths have the same limit.
        let dir = tempfile::Builder::new()
            .prefix("dk")
            .tempdir_in("/tmp")
            .unwrap();
        let socket = dir.path().join("d.sock");
        let mut cmd = Command::new(bin);
        cmd.args(["--iptables=false", "--bridge=none", "--data-root"])
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("x"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .arg("-p")
            .arg(dir.path().join("d.pid"))
            // Not the host's daemon.json or the host's DOCKER_* settings.
            .arg("--config-file")
            .arg(dir.path().join("daemon.json"))
            .env_remove("DOCKER_HOST");
        std::fs::write(dir.path().join("daemon.json"), "{}").unwrap();
        Dockerd::wait_ready(Dockerd {
            kind: Kind::Docker,
            process: Some(Process::spawn("dockerd", cmd, dir.path())),
            socket,
            dir,
        })
    }

    /// Starts Podman's Docker-compatible service and waits, up to 60 s, for `/_ping`.
    pub fn podman() -> Dockerd {
        Dockerd::podman_trusting(None)
    }

    /// [`podman`](Self::podman), with `registry` (`HOST:PORT`) reachable over plain HTTP:
    /// Docker allows that for loopback registries by itself, Podman only when its
    /// `registries.conf` says so.
    pub fn podman_trusting(registry: Option<&str>) -> Dockerd {
        let bin = peer::binary("podman", INSTALL);
        let dir = tempfile::Builder::new()
            .prefix("pm")
            .tempdir_in("/tmp")
            .unwrap();
        let socket = dir.path().join("p.sock");
        let conf = dir.path().join("containers.conf");
        std::fs::write(
            &conf,
            "[containers]\ndefault_ulimits = [\"nofile=4096:4096\", \"nproc=4096:4096\"]\n",
        )
        .unwrap();
        let registries = dir.path().join("registries.conf");
        let mut text = String::from("unqualified-search-registries = [\"docker.io\"]\n");
        if let Some(r) = registry {
            text += &format!("[[registry]]\nlocation = \"{r}\"\ninsecure = true\n");
        }
        std::fs::write(&registries, text).unwrap();
        let mut cmd = podman_on(bin, dir.path());
        cmd.args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()));
        Dockerd::wait_ready(Dockerd {
            kind: Kind::Podman,
            process: Some(Process::spawn("podman", cmd, dir.path())),
            socket,
            dir,
        })
    }

    fn wait_ready(mut d: Dockerd) -> Dockerd {
        let sock = d.socket.clone();
        let mut exited = false;
        wait_until(
            "the engine to answer /_ping",
            Duration::from_secs(60),
            || {
                if let Some(p) = d.process.as_mut() {
                    exited = p.exited().is_some();
                }
                exited || ping(&sock)
            },
        );
        if exited {
            d.process.as_mut().unwrap().assert_running();
        }
        d
    }

    /// `unix://SOCKET`, for `DOCKER_HOST`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.id())
    }

    /// Whether it answers `/_ping` now.
    pub fn answers(&self) -> bool {
        ping(&self.socket)
    }

    /// `docker ARGS...` against this engine; panics with its stderr when it fails.
    pub fn docker(&self, args: &[&str]) -> String {
        let out = self.docker_output(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// `docker ARGS...` against this engine, whatever its exit status.
    pub fn docker_output(&self, args: &[&str]) -> std::process::Output {
        Command::new(peer::binary("docker", INSTALL))
            .args(args)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("client"))
            .output()
            .unwrap()
    }

    /// Runs `container`'s health check once on Podman, as the systemd timer Podman relies on
    /// would (without systemd, as here, Podman runs no health checks at all: podman PR
    /// 16749); Docker runs its own, so this does nothing there.
    pub fn run_health_check(&self, container: &str) {
        if self.kind == Kind::Podman {
            let _ = Command::new(peer::binary("podman", INSTALL))
                .args(["--url", &self.host(), "healthcheck", "run", container])
                .output();
        }
    }

    /// Imports `busybox:local` into this engine (the rootfs tar is built once per process).
    pub fn busybox(&self) -> &'static str {
        let tar = busybox_tar();
        let tar = tar.to_str().unwrap();
        self.docker(&["import", tar, BUSYBOX]);
        BUSYBOX
    }

    /// SIGSTOP: the engine holds its connections and answers nothing (a slow engine).
    /// Returns once every thread of it is stopped: the signal is delivered asynchronously,
    /// and a thread still running could answer one more request (seen under CI load).
    pub fn freeze(&self) {
        self.signal(rustix::process::Signal::STOP);
        let pid = self.pid().expect("dockerd is running");
        wait_until("the engine stopped", Duration::from_secs(10), || {
            let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
                return false;
            };
            tasks.flatten().all(|t| {
                std::fs::read_to_string(t.path().join("stat"))
                    .ok()
                    .and_then(|st| {
                        // `PID (comm) STATE ...`: the state follows the last ')'.
                        st.rsplit_once(')')
                            .and_then(|(_, rest)| rest.trim_start().chars().next())
                    })
                    .is_some_and(|c| c == 'T' || c == 't')
            })
        });
    }

    /// SIGCONT after [`freeze`](Self::freeze).
    pub fn thaw(&self) {
        self.signal(rustix::process::Signal::CONT);
    }

    fn signal(&self, sig: rustix::process::Signal) {
        let pid = self.pid().expect("dockerd is running");
        rustix::process::kill_process(rustix::process::Pid::from_raw(pid as i32).unwrap(), sig)
            .unwrap();
    }

    /// Stops only the engine's service (SIGTERM, wait up to 60 s), as an operator's
    /// `systemctl stop` would, its socket going with it; whatever it leaves running (Podman's
    /// containers under conmon) is killed on drop.
    pub fn stop_engine(&mut self) {
        // A frozen engine cannot hear SIGTERM.
        self.resume();
        if let Some(mut p) = self.process.take() {
            p.terminate(Duration::from_secs(60));
        }
    }

    /// SIGCONT, whatever the engine's state (never panics: it runs on drop).
    fn resume(&self) {
        if let Some(pid) = self
            .pid()
            .and_then(|p| rustix::process::Pid::from_raw(p as i32))
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::CONT);
        }
    }

    /// Stops the engine as an operator would (SIGTERM, wait up to 60 s): its socket goes.
    pub fn stop(&mut self) {
        if self.process.is_some() {
            // A frozen engine cannot answer the removal below.
            self.resume();
            // Podman leaves containers running (under conmon) when its service stops, and
            // an orphaned container process would outlive the test: remove them first.
            if self.kind == Kind::Podman && ping(&self.socket) {
                let ids = self.docker_output(&["ps", "-aq"]);
                let ids = String::from_utf8_lossy(&ids.stdout).into_owned();
                let ids: Vec<&str> = ids.split_whitespace().collect();
                if !ids.is_empty() {
                    let mut args = vec!["rm", "-f"];
                    args.extend(ids);
                    let _ = self.docker_output(&args);
                }
            }
            self.stop_engine();
        }
        if self.kind == Kind::Podman {
            // Podman's command line works on the engine's storage without its service: a
            // container left running when the service was stopped (`stop_engine`) is removed
            // with its network. Killed instead, it would leave its network namespace in
            // /run/netns and its veth on the host's podman0 bridge, one per test run.
            let mut rm = podman_on(peer::binary("podman", INSTALL), self.dir.path());
            rm.args(["rm", "--all", "--force", "--time", "0"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // Bounded: this runs on drop, where a hung command must not hang the test.
            if let Ok(mut child) = rm.spawn() {
                let end = Instant::now() + Duration::from_secs(60);
                while matches!(child.try_wait(), Ok(None)) && Instant::now() < end {
                    std::thread::park_timeout(Duration::from_millis(20));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        self.kill_leftovers();
        self.unmount_leftovers();
    }

    /// Mounts the engine left under our directory (its `netns/default` stays mounted after
    /// a clean stop), so the directory can be removed.
    fn unmount_leftovers(&self) {
        let ours = self.dir.path().to_string_lossy().into_owned();
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|p| p.starts_with(&ours))
            .collect();
        // Deepest first.
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = Command::new("umount").args(["-l", p]).status();
        }
    }

    /// containerd and its shims of this engine that outlived it (found by our directory
    /// in their command line, killed by PID).
    fn kill_leftovers(&self) {
        let ours = self.dir.path().to_string_lossy().into_owned();
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return;
        };
        for p in procs.flatten() {
            let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&ours) {
                if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
        }
    }

    /// Connections to this engine's socket held by process `pid` (from `ss -xp`: the
    /// engine's side of each connection names our socket and the peer's inode; `pid`'s
    /// socket inodes are in /proc/PID/fd).
    pub fn connections_from(&self, pid: u32) -> usize {
        let mine: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .filter_map(|l| {
                let l = l.to_string_lossy().into_owned();
                l.strip_prefix("socket:[")
                    .and_then(|r| r.strip_suffix(']'))
                    .map(str::to_owned)
            })
            .collect();
        let ss = Command::new(peer::binary("ss", "scripts/deps/60-probes.sh"))
            .args(["-xn"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&ss.stdout);
        let path = self.socket.to_string_lossy().into_owned();
        text.lines()
            .filter(|l| l.contains(&path))
            .filter(|l| {
                let t: Vec<&str> = l.split_whitespace().collect();
                // ... LOCAL_PATH LOCAL_INODE PEER_PATH PEER_INODE
                t.iter()
                    .position(|x| *x == path)
                    .and_then(|i| t.get(i + 3))
                    .is_some_and(|peer| mine.contains(*peer))
            })
            .count()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `podman` on the storage, run root and configuration of the engine in `dir`.
fn podman_on(bin: PathBuf, dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("--root")
        .arg(dir.join("root"))
        .arg("--runroot")
        .arg(dir.join("run"))
        .arg("--tmpdir")
        .arg(dir.join("tmp"))
        .env("CONTAINERS_CONF", dir.join("containers.conf"))
        .env("CONTAINERS_REGISTRIES_CONF", dir.join("registries.conf"))
        .env_remove("DOCKER_HOST");
    cmd
}

/// `GET /_ping` on the socket: true on `OK`.
fn ping(socket: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200")
}

/// The rootfs tar of `busybox:local`: /bin/busybox and its applet links, built once per
/// test process.
pub fn busybox_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let busybox = Path::new("/bin/busybox");
        assert!(
            busybox.is_file(),
            "/bin/busybox is missing: run {INSTALL} (tests never skip)"
        );
        // One tar for every test process of this user, replaced atomically: a run that
        // finds it reuses it, and nothing is left per process.
        let dir = std::env::temp_dir().join(format!(
            "outpost-busybox-{}",
            rustix::process::getuid().as_raw()
        ));
        let tar = dir.join("rootfs.tar");
        if tar.is_file() {
            return tar;
        }
        let work = dir.join(format!("build-{}", std::process::id()));
        let root = work.join("rootfs");
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
        for a in APPLETS {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
        }
        let part = work.join("rootfs.tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&part)
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success(), "tar of the busybox rootfs failed");
        std::fs::rename(&part, &tar).unwrap();
        let _ = std::fs::remove_dir_all(&work);
        tar
    })
}
