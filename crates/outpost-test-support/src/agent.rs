//! The real `outpost` binary as a test drives it: `outpost run` on an ephemeral port with a
//! temporary data directory, ready once its log says where it listens (with a deadline),
//! its API at hand with the token, stopped by PID. Also `outpost snmp ...` as a process.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::wait::wait_for;

/// A WebSocket to the agent: `/v1/events` ([`Agent::events`]) or socktop's `/ws`.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The `outpost` binary cargo built for the running test: `target/<profile>/outpost`, beside
/// the `deps/` directory the test executable runs from (where `CARGO_BIN_EXE_outpost`
/// points in the outpost crate's own tests). Fails loudly if it is not built.
pub fn bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable under target/<profile>/deps");
    let bin = profile.join("outpost");
    assert!(
        bin.is_file(),
        "{} is missing: build it with `cargo build -p outpost` (the outpost crate's tests build it)",
        bin.display()
    );
    bin
}

pub struct Agent {
    pub child: Child,
    pub url: String,
    pub token: String,
    pub data_dir: PathBuf,
    /// Every stderr line so far, for assertions on logs.
    pub log: Arc<Mutex<Vec<String>>>,
    pub client: reqwest::Client,
}

pub struct Options {
    pub data_dir: PathBuf,
    /// The binary to run; cargo's `outpost` when unset.
    pub binary: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    /// Variables the launcher would set that this agent must not see.
    pub unset: Vec<String>,
    pub args: Vec<String>,
}

impl Options {
    pub fn new(data_dir: &Path) -> Self {
        Options {
            data_dir: data_dir.to_owned(),
            binary: None,
            env: vec![],
            unset: vec![],
            args: vec![],
        }
    }
    /// Leaves `k` out of the agent's environment (e.g. `LOG_LEVEL`, so the file's value counts).
    pub fn unset(mut self, k: &str) -> Self {
        self.unset.push(k.into());
        self
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    /// Runs `path` instead of cargo's `outpost` (a copy an update test swaps).
    pub fn binary(mut self, path: &Path) -> Self {
        self.binary = Some(path.to_owned());
        self
    }
    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.into());
        self
    }
    /// An MQTT uplink to `broker_url` as agent `id`, reconnecting fast (tests restart and
    /// stop brokers): backoff from 100 ms up to 1 s, keep-alive 5 s.
    pub fn mqtt_uplink(self, broker_url: &str, id: &str) -> Self {
        self.env("OUTPOST_UPLINK_MQTT_URL", broker_url)
            .env("OUTPOST_AGENT_ID", id)
            .env("OUTPOST_UPLINK_BACKOFF_INITIAL_MS", "100")
            .env("OUTPOST_UPLINK_BACKOFF_MAX_MS", "1000")
            .env("OUTPOST_UPLINK_MQTT_KEEPALIVE_SECS", "5")
    }
}

impl Agent {
    pub fn start(opts: Options) -> Agent {
        let mut cmd = Command::new(opts.binary.clone().unwrap_or_else(bin));
        cmd.arg("run")
            .arg("--data-dir")
            .arg(&opts.data_dir)
            .args(&opts.args)
            .env("OUTPOST_API_LISTEN", "127.0.0.1:0")
            .env_remove("RUST_LOG")
            .env_remove("OUTPOST_TOKEN")
            .env("LOG_LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        for k in &opts.unset {
            cmd.env_remove(k);
        }
        let mut child = cmd.spawn().expect("spawn outpost");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let log2 = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    if let Some(i) = line.find("listening on ") {
                        let rest = &line[i + "listening on ".len()..];
                        let url: String = rest.chars().take_while(|c| *c != ';').collect();
                        let _ = tx.send(url);
                        sent = true;
                    }
                }
                log2.lock().unwrap().push(line);
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(u) => u,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "outpost did not report listening within 20 s; log:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        let token = opts
            .env
            .iter()
            .find(|(k, _)| k == "OUTPOST_TOKEN")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| {
                std::fs::read_to_string(opts.data_dir.join("token"))
                    .unwrap()
                    .trim()
                    .to_owned()
            });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Agent {
            child,
            url,
            token,
            data_dir: opts.data_dir,
            log,
            client,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .delete(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
    }

    /// Submits a job; returns the HTTP status and JSON body.
    pub async fn submit(
        &self,
        body: serde_json::Value,
        wait: Option<f64>,
    ) -> (u16, serde_json::Value) {
        let path = match wait {
            Some(w) => format!("/v1/jobs?wait={w}"),
            None => "/v1/jobs".to_owned(),
        };
        let r = self.post(&path).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    /// Runs a job to its end (the API's wait, up to 60 s, and the job's own timeout of 60 s)
    /// and returns its record; the answer must be 200 (finished), whatever the job's state.
    pub async fn run_job(&self, kind: &str, params: serde_json::Value) -> serde_json::Value {
        let (status, j) = self
            .submit(
                serde_json::json!({"kind": kind, "params": params, "timeout_ms": 60000}),
                Some(60.0),
            )
            .await;
        assert_eq!(status, 200, "{kind}: {j}");
        j
    }

    /// [`Agent::run_job`] for a job that must succeed; returns its output.
    pub async fn run_ok(&self, kind: &str, params: serde_json::Value) -> serde_json::Value {
        let j = self.run_job(kind, params).await;
        assert_eq!(j["state"], "succeeded", "{kind}: {j}");
        j["output"].clone()
    }

    /// Submits a job that must be accepted (202); returns its id.
    pub async fn submit_accepted(&self, body: serde_json::Value) -> String {
        let (status, body) = self.submit(body, None).await;
        assert_eq!(status, 202, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// `POST path` with the token and these raw bytes as a JSON body, however malformed.
    pub async fn post_body(&self, path: &str, body: Vec<u8>) -> reqwest::Response {
        self.post(path)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// `GET /healthz`, without the token (it needs none).
    pub async fn healthz(&self) -> reqwest::Response {
        self.client
            .get(format!("{}/healthz", self.url))
            .send()
            .await
            .unwrap()
    }

    /// `/v1/events?after=AFTER`, opened with the token.
    pub async fn events(&self, after: u64) -> Ws {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!(
            "{}/v1/events?after={after}",
            self.url.replace("http://", "ws://")
        );
        let mut req = url.as_str().into_client_request().unwrap();
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {}", self.token).parse().unwrap(),
        );
        tokio_tungstenite::connect_async(req).await.unwrap().0
    }

    pub async fn job(&self, id: &str) -> serde_json::Value {
        self.get(&format!("/v1/jobs/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits (up to 20 s) until the metric's value satisfies `ok`; `what` names the wait
    /// in the failure.
    pub async fn wait_metric(&self, what: &str, name_and_labels: &str, ok: impl Fn(f64) -> bool) {
        wait_for(what, Duration::from_secs(20), || async {
            ok(metric(&self.metrics().await, name_and_labels))
        })
        .await;
    }

    /// Waits (up to 20 s) until the uplink (`mqtt`, `ws`) reports itself connected.
    pub async fn wait_connected(&self, uplink: &str) {
        self.wait_metric(
            &format!("the {uplink} uplink to connect"),
            &format!("outpost_uplink_connected{{uplink=\"{uplink}\"}}"),
            |v| v == 1.0,
        )
        .await;
    }

    /// `GET path` with the token, its body as JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.get(path).send().await.unwrap().json().await.unwrap()
    }

    /// Submits `n` echo jobs over the local API, `conc` at a time; returns the ids of those
    /// accepted.
    pub async fn submit_echo_many(&self, n: usize, conc: usize) -> Vec<String> {
        let ids: Vec<Option<String>> = futures_util::stream::iter(0..n)
            .map(|i| async move {
                let r = self
                    .post("/v1/jobs")
                    .json(&serde_json::json!({"kind": "echo", "params": {"i": i}}))
                    .send()
                    .await
                    .ok()?;
                if r.status() != 202 {
                    return None;
                }
                let b: serde_json::Value = r.json().await.ok()?;
                Some(b["id"].as_str()?.to_owned())
            })
            .buffer_unordered(conc)
            .collect()
            .await;
        ids.into_iter().flatten().collect()
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub fn sigterm(&self) {
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(self.pid()).unwrap(),
            rustix::process::Signal::TERM,
        )
        .unwrap();
    }

    /// Waits for the process to exit, at most `deadline`.
    pub fn wait_exit(&mut self, deadline: Duration) -> ExitStatus {
        let end = Instant::now() + deadline;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!("outpost did not exit within {deadline:?}");
            }
            std::thread::park_timeout(Duration::from_millis(10));
        }
    }

    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // A failing test shows what the agent said last: without it, a flake seen once in
        // CI leaves nothing to read.
        if std::thread::panicking() {
            if let Ok(log) = self.log.lock() {
                let tail = &log[log.len().saturating_sub(80)..];
                eprintln!(
                    "---- the agent's last {} log lines ----\n{}",
                    tail.len(),
                    tail.join("\n")
                );
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends one text request on a WebSocket and returns the next frame, within 10 s.
pub async fn ws_request(ws: &mut Ws, request: &str) -> Message {
    ws.send(Message::text(request)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a reply within 10 s")
        .unwrap()
        .unwrap()
}

/// Runs `outpost snmp ARGS` with no stdin; returns (exit code, stdout, stderr, how long it
/// took).
pub async fn outpost_snmp_cli(args: &[&str]) -> (i32, String, String, Duration) {
    let t0 = std::time::Instant::now();
    let out = tokio::process::Command::new(bin())
        .arg("snmp")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        t0.elapsed(),
    )
}

/// The value of a metric line `name{labels} value`, or 0 if absent.
pub fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// `outpost traps listen --listen 127.0.0.1 --port 0 ARGS` started with stdout and stderr
/// piped; returns it, the port it receives on (from its first stderr line), and its stderr
/// after that line.
pub fn traps_listen(args: &[&str]) -> (Child, u16, BufReader<std::process::ChildStderr>) {
    let mut child = Command::new(bin())
        .args(["traps", "listen", "--listen", "127.0.0.1", "--port", "0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let port: u16 = line
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("no port in {line:?}"));
    (child, port, err)
}

/// The payload of the next outbox row on `ws` whose kind is `kind` and whose payload
/// satisfies `pick` (job records of a kind come through the same stream as events), within
/// `within`.
pub async fn next_payload(
    ws: &mut Ws,
    kind: &str,
    within: Duration,
    pick: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let end = tokio::time::Instant::now() + within;
    loop {
        let msg = tokio::time::timeout_at(end, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} within {within:?}"))
            .expect("the events stream open")
            .unwrap();
        let Ok(text) = msg.into_text() else { continue };
        let row: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let p = &row["item"]["payload"];
        if row["item"]["kind"] == kind && pick(p) {
            return p.clone();
        }
    }
}

/// Waits until `/healthz` on 127.0.0.1:`port` answers with `version` (an agent that
/// restarts into another binary keeps its port when it was given one).
pub async fn wait_version(port: u16, version: &str, within: Duration) {
    let url = format!("http://127.0.0.1:{port}/healthz");
    let c = reqwest::Client::new();
    wait_for(&format!("version {version} serving"), within, || async {
        match c.get(&url).send().await {
            Ok(r) => r
                .json::<serde_json::Value>()
                .await
                .is_ok_and(|v| v["version"] == version),
            Err(_) => false,
        }
    })
    .await;
}
