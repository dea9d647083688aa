//! Container terminal sessions (../shared/compat/reagent.md §3 "Terminals"):
//!
//! - `request_terminal_session {containerName}` → `[{dataTopic, writeTopic, resizeTopic,
//!   sessionID}]`, the topics `re.mgmt.<serial>.term_data|term_write|term_resize.
//!   <container>.<id>`; nothing runs yet;
//! - `start_terminal_session {sessionID, registrationID}` runs the terminal: the command
//!   `reagent.terminal_command` names, through the exec allowlist like `container.exec`
//!   (its entry must say `in_containers = true`; the decision and the outcome are audit
//!   lines), with a TTY inside the container. The agent subscribes the write topic
//!   (clients PUBLISH `[text]`), registers the resize procedure (`[{height, width}]`), and
//!   publishes the output on the data topic as `[binary]` (WAMP's JSON binary: `\0` and
//!   base64) with `acknowledge`, the last one `TERMINAL_EOF`. It ends with
//!   `stop_terminal_session {sessionID}`, when the client's `registrationID` is
//!   unregistered (`wamp.registration.on_unregister`), when the command exits, or after
//!   `reagent.terminal_idle_ms` without input;
//! - off unless `reagent.terminal_command` is set (and exec and containers are on).
//!
//! Bounded: [`MAX_SESSIONS`] requested or running; input waits in a queue of
//! [`INPUT_QUEUE`] writes (more is dropped, and logged); output is read only as fast as
//! the pump publishes it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use outpost_proto::wamp::Payload;
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::logstream::Publish;
use super::session::{Action, Session};

/// Terminals requested or running at once.
pub const MAX_SESSIONS: usize = 8;
/// A requested terminal not started within this is forgotten.
pub const START_WITHIN: Duration = Duration::from_secs(60);
/// Writes queued for a terminal.
pub const INPUT_QUEUE: usize = 64;
/// The default `reagent.terminal_idle_ms`.
pub const IDLE: Duration = Duration::from_secs(15 * 60);
/// The audit trail's `who`.
pub const SOURCE: &str = "reagent:terminal";
/// The last output of a session.
pub const EOF: &str = "TERMINAL_EOF";

/// What terminals need from the agent.
#[derive(Clone)]
pub struct Settings {
    /// `reagent.terminal_command`.
    pub command: Option<String>,
    pub idle: Duration,
    #[cfg(feature = "containers")]
    pub exec: Option<outpost_exec::Exec>,
    pub store: outpost_core::Store,
}

struct Requested {
    container: String,
    at: Instant,
}

struct Running {
    input: mpsc::Sender<Vec<u8>>,
    resize: mpsc::Sender<(u16, u16)>,
    cancel: CancellationToken,
    write_sub: Option<u64>,
    resize_name: String,
    /// The client's registration whose end ends the session.
    registration: Option<u64>,
}

/// The replies of invocations answered later, as the pump takes them.
pub type Replies = mpsc::Sender<(u64, Result<Payload, String>)>;

/// One session's terminals, owned by the pump.
pub struct Terminals {
    serial: String,
    settings: Settings,
    engine: Option<super::stats::Engine>,
    requested: HashMap<String, Requested>,
    running: HashMap<String, Running>,
    by_sub: HashMap<u64, String>,
    /// SUBSCRIBE requests of write topics in flight: the session, and its task waiting.
    subscribing: HashMap<u64, (String, oneshot::Sender<()>)>,
    publish: mpsc::Sender<Publish>,
    ended_tx: mpsc::Sender<String>,
}

use super::applogs::args_dict as dict;

fn session_id(name: &str, d: &Map<String, Value>) -> Result<String, String> {
    match d.get("sessionID") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 64 => Ok(s.clone()),
        _ => Err(format!("{name}: sessionID must be a terminal session's id")),
    }
}

/// The text a client wrote: a string, or WAMP's JSON binary (`\0` and base64).
pub fn input_bytes(payload: &Payload) -> Option<Vec<u8>> {
    match payload.args.first()? {
        Value::String(s) => match s.strip_prefix('\0') {
            Some(b64) => base64::engine::general_purpose::STANDARD.decode(b64).ok(),
            None => Some(s.as_bytes().to_vec()),
        },
        _ => None,
    }
}

/// Terminal output as WAMP's JSON binary string.
pub fn binary(bytes: &[u8]) -> Value {
    Value::String(format!(
        "\0{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// `[{height, width}]` (or kwargs) → rows, columns.
pub fn size(payload: &Payload) -> Result<(u16, u16), String> {
    let d = dict("resize", payload)?;
    let n = |k: &str| {
        d.get(k)
            .and_then(Value::as_u64)
            .and_then(|v| u16::try_from(v).ok())
            .filter(|v| (1..=1000).contains(v))
            .ok_or_else(|| format!("{k} must be 1 to 1000"))
    };
    Ok((n("height")?, n("width")?))
}

impl Terminals {
    pub fn new(
        serial: &str,
        settings: Settings,
        engine: Option<super::stats::Engine>,
        publish: mpsc::Sender<Publish>,
        ended_tx: mpsc::Sender<String>,
    ) -> Terminals {
        Terminals {
            serial: serial.to_owned(),
            settings,
            engine,
            requested: HashMap::new(),
            running: HashMap::new(),
            by_sub: HashMap::new(),
            subscribing: HashMap::new(),
            publish,
            ended_tx,
        }
    }

    fn topic(&self, what: &str, container: &str, id: &str) -> String {
        format!("re.mgmt.{}.{what}.{container}.{id}", self.serial)
    }

    fn enabled(&self) -> Result<(), String> {
        if self.settings.command.is_none() {
            return Err("terminals are off: reagent.terminal_command names no command".into());
        }
        if self.engine.is_none() {
            return Err("terminals need containers.enabled = true".into());
        }
        Ok(())
    }

    /// `request_terminal_session`.
    pub fn request(&mut self, payload: &Payload) -> Result<Payload, String> {
        self.enabled()?;
        let d = dict("request_terminal_session", payload)?;
        let container = match d.get("containerName") {
            Some(Value::String(s))
                if !s.is_empty()
                    && s.len() <= 128
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) =>
            {
                s.clone()
            }
            _ => {
                return Err(
                    "request_terminal_session: containerName must be a container's name".into(),
                )
            }
        };
        let now = Instant::now();
        self.requested
            .retain(|_, r| now.duration_since(r.at) < START_WITHIN);
        if self.requested.len() + self.running.len() >= MAX_SESSIONS {
            return Err(format!("busy: {MAX_SESSIONS} terminal sessions are open"));
        }
        let id = uuid::Uuid::now_v7().simple().to_string();
        let reply = json!({
            "dataTopic": self.topic("term_data", &container, &id),
            "writeTopic": self.topic("term_write", &container, &id),
            "resizeTopic": self.topic("term_resize", &container, &id),
            "sessionID": id,
        });
        self.requested.insert(id, Requested { container, at: now });
        Ok(Payload::args(vec![reply]))
    }

    /// `start_terminal_session`: answered by the session's task once the terminal runs
    /// and its write topic is subscribed (or why not).
    pub fn start(
        &mut self,
        s: &mut Session,
        invocation: u64,
        payload: &Payload,
        replies: &Replies,
    ) -> Result<Vec<Action>, String> {
        self.enabled()?;
        let d = dict("start_terminal_session", payload)?;
        let id = session_id("start_terminal_session", d)?;
        let registration = match d.get("registrationID") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .ok_or("registrationID must be a registration id")?,
            ),
        };
        let Some(req) = self.requested.remove(&id) else {
            return Err(format!(
                "no terminal session {id:?} was requested (or it started already)"
            ));
        };
        let now = Instant::now();
        let write = self.topic("term_write", &req.container, &id);
        let resize_name = format!("{}{}.{id}", super::procedures::RESIZE_PREFIX, req.container);
        let mut out = Vec::new();
        let (sub_req, sub) = s
            .subscribe(&write, now)
            .ok_or("the session is not joined")?;
        out.push(sub);
        if let Some((_, reg)) = s.register(&resize_name, now) {
            out.push(reg);
        }
        let (subscribed_tx, subscribed_rx) = oneshot::channel();
        self.subscribing
            .insert(sub_req, (id.clone(), subscribed_tx));
        let (input_tx, input_rx) = mpsc::channel(INPUT_QUEUE);
        let (resize_tx, resize_rx) = mpsc::channel(4);
        let cancel = CancellationToken::new();
        self.running.insert(
            id.clone(),
            Running {
                input: input_tx,
                resize: resize_tx,
                cancel: cancel.clone(),
                write_sub: None,
                resize_name,
                registration,
            },
        );
        let data = self.topic("term_data", &req.container, &id);
        let task = Task {
            id,
            container: req.container,
            settings: self.settings.clone(),
            engine: self.engine.clone(),
            publish: self.publish.clone(),
            replies: replies.clone(),
            invocation,
            ended: self.ended_tx.clone(),
        };
        tokio::spawn(task.run(data, subscribed_rx, input_rx, resize_rx, cancel));
        Ok(out)
    }

    /// `stop_terminal_session`.
    pub fn stop(&mut self, payload: &Payload) -> Result<Payload, String> {
        let d = dict("stop_terminal_session", payload)?;
        let id = session_id("stop_terminal_session", d)?;
        if self.requested.remove(&id).is_some() {
            return Ok(Payload::default());
        }
        match self.running.get(&id) {
            Some(r) => {
                r.cancel.cancel();
                Ok(Payload::default())
            }
            None => Err(format!("no terminal session {id:?}")),
        }
    }

    /// An invocation of a running terminal's resize procedure `name`.
    pub fn resize(&mut self, name: &str, payload: &Payload) -> Result<Payload, String> {
        let (h, w) = size(payload)?;
        let r = self
            .running
            .values()
            .find(|r| r.resize_name == name)
            .ok_or("that terminal session has ended")?;
        // A resize queued behind others is superseded by them anyway.
        let _ = r.resize.try_send((h, w));
        Ok(Payload::default())
    }

    /// A SUBSCRIBE (or other request) of the pump was answered: `true` when it was ours.
    pub fn on_acked(&mut self, request: u64, outcome: &Result<u64, String>) -> bool {
        let Some((id, ready)) = self.subscribing.remove(&request) else {
            return false;
        };
        match outcome {
            Ok(sub) => {
                if let Some(r) = self.running.get_mut(&id) {
                    r.write_sub = Some(*sub);
                    self.by_sub.insert(*sub, id);
                    let _ = ready.send(());
                }
            }
            Err(e) => {
                tracing::warn!("reagent: subscribing a terminal's write topic failed: {e}");
                if let Some(r) = self.running.get(&id) {
                    r.cancel.cancel();
                }
            }
        }
        true
    }

    /// An EVENT: `true` when it was a terminal's input.
    pub fn on_event(&mut self, subscription: u64, payload: &Payload) -> bool {
        let Some(id) = self.by_sub.get(&subscription) else {
            return false;
        };
        if let (Some(r), Some(bytes)) = (self.running.get(id), input_bytes(payload)) {
            if r.input.try_send(bytes).is_err() {
                tracing::warn!(session = %id, "reagent: terminal input dropped: {INPUT_QUEUE} writes are queued");
            }
        }
        true
    }

    /// `wamp.registration.on_unregister` `[session, registration]`.
    pub fn on_unregister(&mut self, payload: &Payload) {
        let Some(reg) = payload.args.get(1).and_then(Value::as_u64) else {
            return;
        };
        for r in self.running.values() {
            if r.registration == Some(reg) {
                r.cancel.cancel();
            }
        }
    }

    /// A terminal's task ended: its subscription and registration go.
    pub fn ended(&mut self, id: &str, s: &mut Session) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(r) = self.running.remove(id) else {
            return out;
        };
        let now = Instant::now();
        if let Some(sub) = r.write_sub {
            self.by_sub.remove(&sub);
            if let Some((_, a)) = s.unsubscribe(sub, now) {
                out.push(a);
            }
        }
        if let Some((_, a)) = s.unregister(&r.resize_name, now) {
            out.push(a);
        }
        out
    }
}

impl Drop for Terminals {
    /// The WAMP session ended: its terminals end with it.
    fn drop(&mut self) {
        for r in self.running.values() {
            r.cancel.cancel();
        }
    }
}

#[cfg_attr(not(feature = "containers"), allow(dead_code))]
struct Task {
    id: String,
    container: String,
    settings: Settings,
    engine: Option<super::stats::Engine>,
    publish: mpsc::Sender<Publish>,
    replies: Replies,
    invocation: u64,
    ended: mpsc::Sender<String>,
}

impl Task {
    #[cfg_attr(not(feature = "containers"), allow(dead_code))]
    async fn out(&self, data: &str, v: Value) -> bool {
        let p = Publish {
            topic: data.to_owned(),
            payload: Payload::args(vec![v]),
            acknowledge: true,
        };
        // Output waits for the pump (bounded), so a fast command is read as fast as the
        // router takes it, never faster.
        self.publish.send(p).await.is_ok()
    }

    async fn run(
        self,
        data: String,
        subscribed: oneshot::Receiver<()>,
        input: mpsc::Receiver<Vec<u8>>,
        resize: mpsc::Receiver<(u16, u16)>,
        cancel: CancellationToken,
    ) {
        let outcome = self
            .session(&data, subscribed, input, resize, &cancel)
            .await;
        if let Err(e) = outcome {
            let _ = self.replies.send((self.invocation, Err(e))).await;
        }
        let _ = self.ended.send(self.id.clone()).await;
    }

    #[cfg(not(feature = "containers"))]
    async fn session(
        &self,
        _data: &str,
        _subscribed: oneshot::Receiver<()>,
        _input: mpsc::Receiver<Vec<u8>>,
        _resize: mpsc::Receiver<(u16, u16)>,
        _cancel: &CancellationToken,
    ) -> Result<(), String> {
        Err("terminals need the containers feature".into())
    }

    /// Runs the terminal; `Err` before it started (the start's answer), `Ok` once it has
    /// answered the start and the session is over.
    #[cfg(feature = "containers")]
    async fn session(
        &self,
        data: &str,
        subscribed: oneshot::Receiver<()>,
        mut input: mpsc::Receiver<Vec<u8>>,
        mut resize: mpsc::Receiver<(u16, u16)>,
        cancel: &CancellationToken,
    ) -> Result<(), String> {
        use futures_util::StreamExt;
        use outpost_exec::{ContainerOutcome, Origin, Request, Source};
        use tokio::io::AsyncWriteExt;

        let (Some(exec), Some(command), Some(engine)) = (
            self.settings.exec.as_ref(),
            self.settings.command.as_ref(),
            self.engine.as_ref(),
        ) else {
            return Err(
                "terminals need exec.enabled, containers.enabled and reagent.terminal_command"
                    .into(),
            );
        };
        let origin = Origin::new(Source::Adapter, SOURCE);
        let allowed = match exec
            .authorize_in_container(origin, Request::command(command), &self.container)
            .await
        {
            Ok(a) => a,
            Err(outpost_exec::ExecError::Refused(r)) => {
                let why = format!(
                    "refused: {}: {}",
                    r.refusal.reason_code.as_str(),
                    r.refusal.message
                );
                crate::executors::exec::publish_audit(&self.settings.store, vec![r.record]).await;
                return Err(why);
            }
            Err(e) => return Err(format!("exec failed: {e}")),
        };
        let plan = &allowed.plan;
        let mut env: Vec<String> = plan
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", v.value))
            .collect();
        env.push("TERM=xterm".into());
        let began = Instant::now();
        let deadline = began + Duration::from_secs(10);
        let pty = engine
            .engine
            .pty(&self.container, plan.argv.clone(), env, (24, 80), deadline)
            .await;
        let mut records = vec![allowed.decision.clone()];
        let mut pty = match pty {
            Ok(p) => p,
            Err(e) => {
                let outcome = ContainerOutcome {
                    duration: began.elapsed(),
                    error: Some(e.to_string()),
                    ..Default::default()
                };
                if let Ok(r) = exec.record_container_outcome(&allowed, &outcome).await {
                    records.push(r);
                }
                crate::executors::exec::publish_audit(&self.settings.store, records).await;
                return Err(format!("the terminal did not start: {e}"));
            }
        };
        // The write topic is subscribed before the client hears the start succeeded, so
        // its first keystrokes are not lost.
        match tokio::time::timeout(super::session::CALL_TIMEOUT, subscribed).await {
            Ok(Ok(())) => {}
            _ => return Err("subscribing the terminal's write topic failed".into()),
        }
        let _ = self
            .replies
            .send((self.invocation, Ok(Payload::default())))
            .await;
        let idle = self.settings.idle;
        let mut idle_at = tokio::time::Instant::now() + idle;
        let (mut out_bytes, mut error) = (0u64, None);
        let why = loop {
            tokio::select! {
                _ = cancel.cancelled() => break "stopped",
                _ = tokio::time::sleep_until(idle_at) => break "idle",
                chunk = pty.output.next() => match chunk {
                    Some(Ok(b)) if b.is_empty() => {}
                    Some(Ok(b)) => {
                        out_bytes += b.len() as u64;
                        if !self.out(data, binary(&b)).await {
                            break "the session ended";
                        }
                    }
                    Some(Err(e)) => { error = Some(e.to_string()); break "failed"; }
                    None => break "exited",
                },
                Some(bytes) = input.recv() => {
                    idle_at = tokio::time::Instant::now() + idle;
                    let write = tokio::time::timeout(Duration::from_secs(5), pty.input.write_all(&bytes));
                    if !matches!(write.await, Ok(Ok(()))) {
                        error = Some("writing to the terminal failed".into());
                        break "failed";
                    }
                }
                Some(hw) = resize.recv() => {
                    let by = std::time::Instant::now() + Duration::from_secs(5);
                    if let Err(e) = engine.engine.pty_resize(&pty.exec_id, hw, by).await {
                        tracing::warn!(session = %self.id, "reagent: terminal resize failed: {e}");
                    }
                }
            }
        };
        tracing::info!(session = %self.id, container = %self.container, "reagent: terminal session over ({why})");
        // Typing `exit` for the client: a shell still running ends with its terminal.
        let _ = pty.input.shutdown().await;
        drop(pty);
        self.out(data, json!(EOF)).await;
        let outcome = ContainerOutcome {
            duration: began.elapsed(),
            stdout_bytes: out_bytes,
            error,
            ..Default::default()
        };
        match exec.record_container_outcome(&allowed, &outcome).await {
            Ok(r) => records.push(r),
            Err(e) => {
                tracing::error!(error = %e, "reagent: a terminal's outcome line was not written")
            }
        }
        crate::executors::exec::publish_audit(&self.settings.store, records).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue19_terminal_arguments() {
        assert_eq!(
            size(&Payload::args(vec![json!({"height": 40, "width": 120})])),
            Ok((40, 120))
        );
        for bad in [
            json!({}),
            json!({"height": 0, "width": 1}),
            json!({"height": 70000, "width": 1}),
            json!("x"),
        ] {
            assert!(size(&Payload::args(vec![bad.clone()])).is_err(), "{bad}");
        }
        assert!(size(&Payload::default()).is_err());
        assert_eq!(
            input_bytes(&Payload::args(vec![json!("ls\n")])),
            Some(b"ls\n".to_vec())
        );
        assert_eq!(
            input_bytes(&Payload::args(vec![binary(b"\x03")])),
            Some(vec![3])
        );
        assert_eq!(input_bytes(&Payload::args(vec![json!(5)])), None);
        assert_eq!(input_bytes(&Payload::default()), None);
    }
}
