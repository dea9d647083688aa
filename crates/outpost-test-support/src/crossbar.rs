//! A real Crossbar.io WAMP router (from the test venv, `scripts/deps/75-crossbar.sh`) on an
//! ephemeral loopback port: realm `realm1`, one WebSocket transport, `wampcra` static
//! principals in two roles (`device`, `backend`), callers and publishers disclosed (so an
//! invocation's details carry `caller_authid`, which the Reagent privilege check reads).
//! Restartable on the same port and node directory; stopped by PID.
//!
//! [`Backend`] is the IronFlock side the device talks to: `peers/reagent_backend.py`, an
//! autobahn component that registers `reswarm.devices.*`, records the calls it gets, and
//! calls the device's `re.mgmt.<serial>.*` on request.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::peer::{self, Process};
use crate::ports::free_tcp_port;
use crate::wait::wait_until;

pub const INSTALL: &str = "scripts/deps/75-crossbar.sh";

/// Crossbar starts in a few seconds idle; a loaded CI runner with two builders is slower.
const START_DEADLINE: Duration = Duration::from_secs(90);

/// One `wampcra` static principal.
#[derive(Debug, Clone)]
pub struct Principal {
    pub authid: String,
    pub secret: String,
    /// `device` or `backend`.
    pub role: String,
}

impl Principal {
    pub fn new(authid: &str, secret: &str, role: &str) -> Principal {
        Principal {
            authid: authid.into(),
            secret: secret.into(),
            role: role.into(),
        }
    }
}

pub struct Crossbar {
    // First: stopped before its directory is removed.
    process: Option<Process>,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

fn role(name: &str) -> Value {
    json!({
        "name": name,
        "permissions": [{
            "uri": "",
            "match": "prefix",
            "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
            "disclose": {"caller": true, "publisher": true},
            "cache": true
        }]
    })
}

impl Crossbar {
    /// Starts a router knowing `principals`, ready once its transport accepts connections.
    pub fn start(principals: &[Principal]) -> Crossbar {
        let dir = tempfile::tempdir().unwrap();
        let port = free_tcp_port();
        let users: serde_json::Map<String, Value> = principals
            .iter()
            .map(|p| {
                (
                    p.authid.clone(),
                    json!({"secret": p.secret, "role": p.role}),
                )
            })
            .collect();
        let config = json!({
            "version": 2,
            "controller": {},
            "workers": [{
                "type": "router",
                "realms": [{"name": "realm1", "roles": [role("device"), role("backend")]}],
                "transports": [{
                    "type": "websocket",
                    "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": port},
                    "auth": {"wampcra": {"type": "static", "users": users}}
                }]
            }]
        });
        let cbdir = dir.path().join(".crossbar");
        std::fs::create_dir_all(&cbdir).unwrap();
        std::fs::write(
            cbdir.join("config.json"),
            serde_json::to_vec_pretty(&config).unwrap(),
        )
        .unwrap();
        let mut c = Crossbar {
            process: None,
            port,
            dir,
        };
        c.launch();
        c
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// The node's log (controller and router worker): joins, aborts, registrations.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("crossbar.log")).unwrap_or_default()
    }

    fn cbdir(&self) -> PathBuf {
        self.dir.path().join(".crossbar")
    }

    fn launch(&mut self) {
        let bin = peer::venv_binary("crossbar", INSTALL);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("crossbar.log"))
            .unwrap();
        let child = Command::new(bin)
            .arg("start")
            .arg("--cbdir")
            .arg(self.cbdir())
            .args(["--loglevel", "info", "--color", "false"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start crossbar: {e}"));
        let mut process = Process::adopt("crossbar", child);
        let port = self.port;
        let dir = self.dir.path().to_owned();
        wait_until(
            &format!("crossbar to accept WebSocket connections on {port}"),
            START_DEADLINE,
            || {
                if let Some(st) = process.exited() {
                    panic!("crossbar exited ({st}); log:\n{}", read_log(&dir));
                }
                TcpStream::connect(("127.0.0.1", port)).is_ok()
            },
        );
        self.process = Some(process);
    }

    /// Stops the node gracefully (SIGTERM: the controller stops its router worker too).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.terminate(Duration::from_secs(30));
        }
    }

    /// Stops and starts again on the same port, node directory and principals: every
    /// session is lost, clients must rejoin and re-register.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("crossbar.log")).unwrap_or_default()
}

impl Drop for Crossbar {
    fn drop(&mut self) {
        // SIGTERM first so the controller takes its worker down; the guard's SIGKILL
        // (on drop) only if it does not stop in time.
        if let Some(p) = self.process.as_ref() {
            if let Some(pid) = rustix::process::Pid::from_raw(p.id() as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
        }
        if let Some(mut p) = self.process.take() {
            let end = Instant::now() + Duration::from_secs(15);
            while p.exited().is_none() && Instant::now() < end {
                std::thread::park_timeout(Duration::from_millis(20));
            }
        }
    }
}

/// The Python backend component (see the module doc), joined as a `backend` principal.
pub struct Backend {
    process: Process,
    stdin: ChildStdin,
    next_id: u64,
    dir: tempfile::TempDir,
}

impl Backend {
    /// Joins `router` as `principal`; `denied` account keys fail `check_privilege`.
    /// Ready once it has registered its procedures.
    pub fn start(router: &Crossbar, principal: &Principal, denied: &[u64]) -> Backend {
        let python = peer::venv_binary("python", INSTALL);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/reagent_backend.py");
        let dir = tempfile::tempdir().unwrap();
        let denied: Vec<String> = denied.iter().map(u64::to_string).collect();
        let mut child = Command::new(python)
            .arg(script)
            .arg(router.url())
            .arg(&principal.authid)
            .arg(&principal.secret)
            .arg(dir.path().join("calls.jsonl"))
            .arg(denied.join(","))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the backend component: {e}"));
        let stdin = child.stdin.take().unwrap();
        let mut b = Backend {
            process: Process::adopt("reagent backend", child),
            stdin,
            next_id: 0,
            dir,
        };
        b.wait_line("the backend to join and register", START_DEADLINE, |l| {
            l.get("ready").is_some()
        });
        b
    }

    /// Every line recorded so far (calls received, call outcomes, joins).
    pub fn lines(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// How many times the backend has joined (it rejoins after a router restart).
    pub fn joins(&self) -> usize {
        self.lines()
            .iter()
            .filter(|l| l.get("ready").is_some())
            .count()
    }

    /// The `args` of every call the backend received on `procedure`.
    pub fn calls_to(&self, procedure: &str) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|l| l["called"] == procedure)
            .map(|l| l["args"].clone())
            .collect()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    /// Waits for a recorded line matching `pred`, and returns it.
    pub fn wait_line(
        &mut self,
        what: &str,
        deadline: Duration,
        mut pred: impl FnMut(&Value) -> bool,
    ) -> Value {
        let mut found = None;
        wait_until(what, deadline, || {
            if let Some(st) = self.process.exited() {
                panic!("the backend exited ({st}); stderr:\n{}", self.stderr());
            }
            found = self.lines().into_iter().find(|l| pred(l));
            found.is_some()
        });
        found.unwrap()
    }

    /// Makes the backend's `update_device_status` fail (`on`) or answer again, and waits
    /// until that is in effect.
    pub fn fail_heartbeats(&mut self, on: bool) {
        self.fault("fail_status", on);
    }

    /// Sets the records `reswarm.containers.get_requested_app_states` answers.
    pub fn set_requested(&mut self, records: Value) {
        self.next_id += 1;
        let id = self.next_id;
        let cmd = json!({"requested": records, "id": id});
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
        self.wait_line(
            "the backend to take the records",
            Duration::from_secs(30),
            |l| l["control"] == "requested" && l["id"] == id,
        );
    }

    /// Makes the backend's `update_app_on_device` fail (`on`) or answer again.
    pub fn fail_app_updates(&mut self, on: bool) {
        self.fault("fail_app", on);
    }

    fn fault(&mut self, control: &str, on: bool) {
        self.next_id += 1;
        let id = self.next_id;
        let cmd = json!({"control": control, "on": on, "id": id});
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
        self.wait_line(
            "the backend to switch the fault",
            Duration::from_secs(30),
            |l| l["control"] == control && l["id"] == id,
        );
    }

    /// Runs one publish/subscribe command (`{"subscribe": topic}`, `{"unsubscribe":
    /// topic}`, `{"publish": topic, "args": [...]}`, `{"register": uri}`, `{"unregister":
    /// uri}`) and waits for it: its `done` line, or a panic naming why it failed.
    pub fn pubsub(&mut self, mut cmd: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        cmd["id"] = json!(id);
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
        let line = self.wait_line(
            &format!("the backend to run {cmd}"),
            Duration::from_secs(30),
            |l| l["done"] == id || l["failed"] == id,
        );
        assert_eq!(line["done"], id, "{cmd}: {line}");
        line
    }

    /// The arguments of every event received on `topic`, in order.
    pub fn events(&self, topic: &str) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|l| l["event"] == topic)
            .map(|l| l["args"].clone())
            .collect()
    }

    /// CALLs `procedure` on the device and waits for the outcome: `Ok((args, kwargs))`, or
    /// `Err((error uri, args, kwargs))`.
    pub fn call(
        &mut self,
        procedure: &str,
        args: Value,
        kwargs: Value,
    ) -> Result<(Value, Value), (String, Value, Value)> {
        self.next_id += 1;
        let id = self.next_id;
        let cmd = json!({"id": id, "procedure": procedure, "args": args, "kwargs": kwargs});
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
        let line = self.wait_line(
            &format!("the outcome of calling {procedure}"),
            Duration::from_secs(30),
            |l| l["result"] == id || l["error"] == id,
        );
        if line["result"] == id {
            Ok((line["args"].clone(), line["kwargs"].clone()))
        } else {
            Err((
                line["uri"].as_str().unwrap_or_default().to_owned(),
                line["args"].clone(),
                line["kwargs"].clone(),
            ))
        }
    }
}
