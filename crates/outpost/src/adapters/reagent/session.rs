//! One Reagent WAMP session as an explicit state machine, no I/O: HELLO with the device's
//! authid, the WAMP-CRA answer, WELCOME; then the calls Reagent makes after joining
//! (../shared/compat/reagent.md §1: the duplicate-serial guard, the testament, the
//! metadata and architecture calls), the registrations, and the 30 s
//! `update_device_status` heartbeat. The pump owns the socket and the clock and feeds
//! [`Session::on_input`]; the machine answers with [`Action`]s and says when it next needs
//! a tick ([`Session::next_wake`]): while idle that is the heartbeat alone.
//!
//! Every request we send is tracked with a deadline (Reagent's 7 s call timeout); a missed
//! deadline is that request's failure, never a hang.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use outpost_proto::wamp::{
    hello_details, kind, CraChallenge, Dict, Message, Payload, ERROR_CANCELED, MAX_ID,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

// The pump's own subscriptions, publications and registrations (logs, terminals).
#[path = "session_pubsub.rs"]
mod pubsub;

pub const REALM: &str = "realm1";
/// From HELLO to WELCOME.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Reagent's `-respTimeout`: a call unanswered this long has failed.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(7);
/// Reagent's heartbeat period (`reagent.heartbeat_ms` changes it).
pub const HEARTBEAT: Duration = Duration::from_secs(30);
/// Heartbeats failed in a row that force a reconnect.
pub const HEARTBEAT_FAILURES: u32 = 2;
/// The guard procedure: registering it fails with `procedure_already_exists` when another
/// agent with our serial is joined.
pub const GUARD: &str = "wamp_connection_established";
const ALREADY_EXISTS: &str = "wamp.error.procedure_already_exists";
/// Reagent's text when the router refuses our signature.
const BAD_SIGNATURE: &str = "WAMP-CRA client signature is invalid";

/// Who the device is on the wire.
#[derive(Debug, Clone)]
pub struct Identity {
    pub authid: String,
    pub serial: String,
    pub swarm_key: u64,
    pub device_key: u64,
}

impl Identity {
    /// `re.mgmt.<serial>.<name>`.
    pub fn procedure(&self, name: &str) -> String {
        format!("re.mgmt.{}.{name}", self.serial)
    }
}

/// Why a session ended. The pump reconnects after each, with backoff.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum End {
    /// The router refused our WAMP-CRA signature: the `.flock` secret is wrong.
    #[error("the router refused the device secret ({0}); check the .flock `secret`")]
    BadSecret(String),
    #[error("join refused: {reason} ({message})")]
    Refused { reason: String, message: String },
    #[error("no WELCOME within {} s", JOIN_TIMEOUT.as_secs())]
    JoinTimeout,
    /// Another agent with this serial holds the guard procedure.
    #[error("another agent is joined with serial number {0} (procedure_already_exists)")]
    DuplicateSerial(String),
    #[error("{HEARTBEAT_FAILURES} heartbeats in a row failed")]
    HeartbeatFailed,
    #[error("the router said goodbye: {0}")]
    Goodbye(String),
    #[error("protocol violation: {0}")]
    Protocol(String),
    #[error("the router closed the connection")]
    Closed,
    /// The pump's: the dial, the WebSocket handshake or a write failed.
    #[error("connection failed: {0}")]
    Connect(String),
}

/// What happened, as the pump saw it.
pub enum Input<'a> {
    Text(&'a str),
    /// The clock reached [`Session::next_wake`] (ticks at any time are harmless).
    Tick,
    Closed,
}

/// The outcome of a call the pump made with [`Session::call`].
pub type CallOutcome = Result<Payload, (String, Payload)>;

/// What the pump must do, in order.
#[derive(Debug, PartialEq)]
pub enum Action {
    Send(String),
    Joined {
        session: u64,
    },
    /// Run procedure `name` (without the `re.mgmt.<serial>.` prefix) and answer with
    /// [`Session::reply`].
    Invoke {
        request: u64,
        name: String,
        details: Dict,
        payload: Payload,
    },
    /// A heartbeat went out with the figures last given ([`Session::set_stats`]): collect
    /// the next one's now, off the read loop, so that the figures are never older than one
    /// period and the loop never waits on /proc or the engine.
    Refresh,
    /// A call made with [`Session::call`] finished.
    CallDone {
        request: u64,
        outcome: CallOutcome,
    },
    /// A SUBSCRIBE, UNSUBSCRIBE, acknowledged PUBLISH, REGISTER or UNREGISTER of the
    /// pump's ([`Session::subscribe`] ...) was answered: the subscription, publication or
    /// registration id (0 for the others), or the router's error.
    Acked {
        request: u64,
        outcome: Result<u64, String>,
    },
    /// An EVENT on one of the pump's subscriptions.
    Event {
        subscription: u64,
        details: Dict,
        payload: Payload,
    },
    /// Something the operator should see, the session goes on.
    Warn(String),
    End(End),
}

#[derive(Debug, Clone, PartialEq)]
enum Purpose {
    Guard,
    Register(String),
    Heartbeat,
    /// A post-join call whose failure is only logged.
    Background(&'static str),
    /// A call of the pump's ([`Session::call`]).
    Pump,
    /// A subscribe, unsubscribe, publish or unregister of the pump's.
    Ack,
    /// A registration of the pump's, under this name (after `re.mgmt.<serial>.`).
    AckRegister(String),
}

enum State {
    Hello { deadline: Instant },
    Joined { session: u64 },
    Ended,
}

pub struct Session {
    id: Identity,
    secret: SecretString,
    /// Short names registered after WELCOME (with `force_reregister`).
    procedures: Vec<String>,
    state: State,
    next_request: u64,
    pending: BTreeMap<u64, (Purpose, Instant)>,
    registrations: HashMap<u64, String>,
    next_heartbeat: Option<Instant>,
    heartbeat_failures: u32,
    /// The heartbeat's period.
    period: Duration,
    stats: Value,
    /// The containers disk guard has tripped: the status is EMERGENCY.
    emergency: bool,
    /// Registrations not yet answered since WELCOME: while any is, the status is
    /// CONFIGURING (Reagent's, while it registers); the last answer sends CONNECTED at once.
    registering: usize,
}

fn dict(v: Value) -> Dict {
    match v {
        Value::Object(m) => m,
        _ => Dict::new(),
    }
}

impl Session {
    /// A session that has just sent HELLO (the first action).
    pub fn start(
        id: Identity,
        secret: SecretString,
        procedures: Vec<String>,
        now: Instant,
    ) -> (Session, Vec<Action>) {
        let hello = Message::Hello {
            realm: REALM.into(),
            details: hello_details(&id.authid, &["wampcra"]),
        };
        let s = Session {
            id,
            secret,
            procedures,
            state: State::Hello {
                deadline: now + JOIN_TIMEOUT,
            },
            next_request: 0,
            pending: BTreeMap::new(),
            registrations: HashMap::new(),
            next_heartbeat: None,
            heartbeat_failures: 0,
            period: HEARTBEAT,
            stats: json!({}),
            emergency: false,
            registering: 0,
        };
        (s, vec![Action::Send(hello.encode())])
    }

    /// The heartbeat's period, instead of Reagent's 30 s.
    pub fn with_heartbeat(mut self, period: Duration) -> Session {
        self.period = period;
        self
    }

    /// The host figures the next heartbeat carries (`stats`), and whether the containers
    /// disk guard has tripped (status EMERGENCY).
    pub fn set_stats(&mut self, stats: Value, emergency: bool) {
        self.stats = stats;
        self.emergency = emergency;
    }

    /// The status the next heartbeat reports.
    pub fn status(&self) -> &'static str {
        if self.emergency {
            "EMERGENCY"
        } else if self.registering > 0 {
            "CONFIGURING"
        } else {
            "CONNECTED"
        }
    }

    pub fn session_id(&self) -> Option<u64> {
        match self.state {
            State::Joined { session } => Some(session),
            _ => None,
        }
    }

    /// When the machine next needs a [`Input::Tick`]: the join deadline, the earliest
    /// in-flight request's deadline, the next heartbeat. `None` once ended.
    pub fn next_wake(&self) -> Option<Instant> {
        let state = match self.state {
            State::Hello { deadline } => Some(deadline),
            State::Joined { .. } => self.next_heartbeat,
            State::Ended => return None,
        };
        let pending = self.pending.values().map(|(_, d)| *d).min();
        [state, pending].into_iter().flatten().min()
    }

    fn request_id(&mut self) -> u64 {
        // Session-scoped ids count from 1 and wrap within the spec's range.
        self.next_request = if self.next_request >= MAX_ID {
            1
        } else {
            self.next_request + 1
        };
        self.next_request
    }

    fn send_call(
        &mut self,
        procedure: &str,
        payload: Payload,
        purpose: Purpose,
        now: Instant,
    ) -> (u64, String) {
        let request = self.request_id();
        self.pending.insert(request, (purpose, now + CALL_TIMEOUT));
        let m = Message::Call {
            request,
            options: Dict::new(),
            procedure: procedure.into(),
            payload,
        };
        (request, m.encode())
    }

    fn send_register(
        &mut self,
        procedure: String,
        options: Dict,
        purpose: Purpose,
        now: Instant,
    ) -> String {
        let request = self.request_id();
        self.pending.insert(request, (purpose, now + CALL_TIMEOUT));
        Message::Register {
            request,
            options,
            procedure,
        }
        .encode()
    }

    /// Calls `procedure` for the pump (a privilege check...); the outcome comes back as
    /// [`Action::CallDone`] with the returned request id. `None` before WELCOME.
    pub fn call(
        &mut self,
        procedure: &str,
        payload: Payload,
        now: Instant,
    ) -> Option<(u64, Action)> {
        self.session_id()?;
        let (request, text) = self.send_call(procedure, payload, Purpose::Pump, now);
        Some((request, Action::Send(text)))
    }

    /// The answer to invocation `request`: YIELD, or Reagent's ERROR
    /// `wamp.error.canceled` with args `[{"error": message}]`.
    pub fn reply(&self, request: u64, outcome: Result<Payload, String>) -> String {
        match outcome {
            Ok(payload) => Message::Yield {
                request,
                options: Dict::new(),
                payload,
            },
            Err(message) => Message::Error {
                request_type: kind::INVOCATION,
                request,
                details: Dict::new(),
                error: ERROR_CANCELED.into(),
                payload: Payload::args(vec![json!({"error": message})]),
            },
        }
        .encode()
    }

    fn end(&mut self, why: End, out: &mut Vec<Action>) {
        self.state = State::Ended;
        self.pending.clear();
        out.push(Action::End(why));
    }

    pub fn on_input(&mut self, input: Input<'_>, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if matches!(self.state, State::Ended) {
            return out;
        }
        match input {
            Input::Closed => self.end(End::Closed, &mut out),
            Input::Tick => self.tick(now, &mut out),
            Input::Text(text) => match Message::decode(text.as_bytes()) {
                Ok(m) => self.on_message(m, now, &mut out),
                Err(e) => {
                    let abort = Message::Abort {
                        details: dict(json!({"message": e.to_string()})),
                        reason: "wamp.error.protocol_violation".into(),
                    };
                    out.push(Action::Send(abort.encode()));
                    self.end(End::Protocol(e.to_string()), &mut out);
                }
            },
        }
        out
    }

    fn tick(&mut self, now: Instant, out: &mut Vec<Action>) {
        if let State::Hello { deadline } = self.state {
            if now >= deadline {
                self.end(End::JoinTimeout, out);
            }
            return;
        }
        let expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, (_, d))| now >= *d)
            .map(|(r, _)| *r)
            .collect();
        for request in expired {
            if let Some((purpose, _)) = self.pending.remove(&request) {
                let what = format!("no answer within {} s", CALL_TIMEOUT.as_secs());
                self.failed(request, purpose, ("outpost.timeout".into(), what), now, out);
            }
        }
        if matches!(self.state, State::Ended) {
            return;
        }
        if self.next_heartbeat.is_some_and(|at| now >= at) {
            self.heartbeat(now, out);
        }
    }

    fn heartbeat(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Some(session) = self.session_id() else {
            return;
        };
        let body = json!({
            "swarm_key": self.id.swarm_key,
            "device_key": self.id.device_key,
            "status": self.status(),
            "wamp_session_id": session,
            "stats": self.stats,
        });
        let (_, text) = self.send_call(
            "reswarm.devices.update_device_status",
            Payload::args(vec![body]),
            Purpose::Heartbeat,
            now,
        );
        out.push(Action::Send(text));
        out.push(Action::Refresh);
        self.next_heartbeat = Some(now + self.period);
    }

    /// One registration answered (or failed): the last one ends CONFIGURING, which the
    /// backend hears at once.
    fn registered(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.registering == 0 {
            return;
        }
        self.registering -= 1;
        if self.registering == 0 {
            self.heartbeat(now, out);
        }
    }

    /// A request of ours failed (an ERROR, or its deadline passed).
    fn failed(
        &mut self,
        request: u64,
        purpose: Purpose,
        (error, detail): (String, String),
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        match purpose {
            Purpose::Guard if error == ALREADY_EXISTS => {
                self.end(End::DuplicateSerial(self.id.serial.clone()), out)
            }
            Purpose::Guard => {
                out.push(Action::Warn(format!(
                    "registering {}: {error} {detail}",
                    self.id.procedure(GUARD)
                )));
                self.registered(now, out);
                self.register_procedures(now, out);
            }
            Purpose::Register(name) => {
                out.push(Action::Warn(format!(
                    "registering {}: {error} {detail}",
                    self.id.procedure(&name)
                )));
                self.registered(now, out);
            }
            Purpose::Heartbeat => {
                self.heartbeat_failures += 1;
                if self.heartbeat_failures >= HEARTBEAT_FAILURES {
                    self.end(End::HeartbeatFailed, out);
                } else {
                    out.push(Action::Warn(format!(
                        "heartbeat (update_device_status) failed: {error} {detail}"
                    )));
                }
            }
            Purpose::Background(what) => {
                out.push(Action::Warn(format!("{what} failed: {error} {detail}")))
            }
            Purpose::Pump => out.push(Action::CallDone {
                request,
                outcome: Err((error, Payload::args(vec![json!({"error": detail})]))),
            }),
            Purpose::Ack | Purpose::AckRegister(_) => out.push(Action::Acked {
                request,
                outcome: Err(format!("{error} {detail}")),
            }),
        }
    }

    fn on_message(&mut self, m: Message, now: Instant, out: &mut Vec<Action>) {
        let joined = matches!(self.state, State::Joined { .. });
        match m {
            Message::Challenge { method, extra } if !joined => {
                if method != "wampcra" {
                    return self.end(
                        End::Protocol(format!("challenge for {method:?}, we offered wampcra")),
                        out,
                    );
                }
                match CraChallenge::from_extra(&extra) {
                    Ok(c) => {
                        let signature = c.sign(self.secret.expose_secret().as_bytes());
                        out.push(Action::Send(
                            Message::Authenticate {
                                signature,
                                extra: Dict::new(),
                            }
                            .encode(),
                        ));
                    }
                    Err(e) => self.end(End::Protocol(e.to_string()), out),
                }
            }
            Message::Welcome { session, .. } if !joined => self.welcome(session, now, out),
            Message::Abort { details, reason } => {
                let message = details
                    .get("message")
                    .and_then(Value::as_str)
                    .map(outpost_proto::bounded)
                    .unwrap_or_default();
                let why = if message.contains(BAD_SIGNATURE) {
                    End::BadSecret(message)
                } else {
                    End::Refused { reason, message }
                };
                self.end(why, out);
            }
            Message::Goodbye { reason, .. } => {
                let bye = Message::Goodbye {
                    details: Dict::new(),
                    reason: "wamp.close.goodbye_and_out".into(),
                };
                out.push(Action::Send(bye.encode()));
                self.end(End::Goodbye(reason), out);
            }
            Message::Result {
                request, payload, ..
            } if joined => {
                match self.pending.remove(&request) {
                    Some((Purpose::Heartbeat, _)) => self.heartbeat_failures = 0,
                    Some((Purpose::Pump, _)) => out.push(Action::CallDone {
                        request,
                        outcome: Ok(payload),
                    }),
                    // Unknown (late, after its deadline) or a background call: nothing to do.
                    _ => {}
                }
            }
            Message::Registered {
                request,
                registration,
            } if joined => match self.pending.remove(&request) {
                Some((Purpose::Guard, _)) => {
                    self.registrations.insert(registration, GUARD.into());
                    self.registered(now, out);
                    self.register_procedures(now, out);
                }
                Some((Purpose::Register(name), _)) => {
                    self.registrations.insert(registration, name);
                    self.registered(now, out);
                }
                Some((Purpose::AckRegister(name), _)) => {
                    self.registrations.insert(registration, name);
                    out.push(Action::Acked {
                        request,
                        outcome: Ok(registration),
                    });
                }
                _ => {}
            },
            Message::Error {
                request,
                error,
                payload,
                ..
            } if joined => {
                if let Some((purpose, _)) = self.pending.remove(&request) {
                    let detail = payload
                        .args
                        .first()
                        .map(|a| outpost_proto::bounded(&a.to_string()))
                        .unwrap_or_default();
                    if purpose == Purpose::Pump {
                        out.push(Action::CallDone {
                            request,
                            outcome: Err((error, payload)),
                        });
                    } else {
                        self.failed(request, purpose, (error, detail), now, out);
                    }
                }
            }
            Message::Invocation {
                request,
                registration,
                details,
                payload,
            } if joined => match self.registrations.get(&registration) {
                // The guard too: every procedure goes through the privilege check.
                Some(name) => out.push(Action::Invoke {
                    request,
                    name: name.clone(),
                    details,
                    payload,
                }),
                None => out.push(Action::Send(
                    Message::Error {
                        request_type: kind::INVOCATION,
                        request,
                        details: Dict::new(),
                        error: "wamp.error.no_such_registration".into(),
                        payload: Payload::default(),
                    }
                    .encode(),
                )),
            },
            Message::Unregistered { request, .. }
                if joined && request != 0 && self.pending.contains_key(&request) =>
            {
                self.pending.remove(&request);
                out.push(Action::Acked {
                    request,
                    outcome: Ok(0),
                });
            }
            // A router-initiated UNREGISTERED (another agent forced its registration).
            Message::Unregistered { details, .. } if joined => {
                if let Some(id) = details.get("registration").and_then(Value::as_u64) {
                    if let Some(name) = self.registrations.remove(&id) {
                        out.push(Action::Warn(format!(
                            "the router unregistered {}",
                            self.id.procedure(&name)
                        )));
                    }
                }
            }
            Message::Subscribed {
                request,
                subscription,
            } if joined => self.acked(request, Ok(subscription), out),
            Message::Published {
                request,
                publication,
            } if joined => self.acked(request, Ok(publication), out),
            Message::Unsubscribed { request } if joined => self.acked(request, Ok(0), out),
            Message::Event {
                subscription,
                details,
                payload,
                ..
            } if joined => out.push(Action::Event {
                subscription,
                details,
                payload,
            }),
            other => {
                let what = format!(
                    "unexpected {} {}",
                    other.name(),
                    if joined {
                        "after WELCOME"
                    } else {
                        "before WELCOME"
                    }
                );
                let abort = Message::Abort {
                    details: dict(json!({"message": what})),
                    reason: "wamp.error.protocol_violation".into(),
                };
                out.push(Action::Send(abort.encode()));
                self.end(End::Protocol(what), out);
            }
        }
    }

    fn welcome(&mut self, session: u64, now: Instant, out: &mut Vec<Action>) {
        self.state = State::Joined { session };
        out.push(Action::Joined { session });
        self.registering = 1 + self.procedures.len();
        // 1. The duplicate-serial guard (no options: a second agent's REGISTER fails).
        let guard = self.id.procedure(GUARD);
        out.push(Action::Send(self.send_register(
            guard,
            Dict::new(),
            Purpose::Guard,
            now,
        )));
        // 2. The testament: the router publishes our going away for the backend.
        let testament = json!([{
            "swarm_key": self.id.swarm_key,
            "device_key": self.id.device_key,
            "serial_number": self.id.serial,
            "wamp_session_id": session,
        }]);
        let (_, t) = self.send_call(
            "wamp.session.add_testament",
            Payload::args(vec![
                json!("reswarm.api.testament_device"),
                testament,
                json!({}),
            ]),
            Purpose::Background("the testament (wamp.session.add_testament)"),
            now,
        );
        out.push(Action::Send(t));
        // 3. Metadata and architecture.
        let (_, t) = self.send_call(
            "reswarm.devices.read_device_metadata",
            Payload::args(vec![json!({"device_key": self.id.device_key})]),
            Purpose::Background("read_device_metadata"),
            now,
        );
        out.push(Action::Send(t));
        let arch = json!({
            "swarm_key": self.id.swarm_key,
            "device_key": self.id.device_key,
            "architecture": std::env::consts::ARCH,
            "os": std::env::consts::OS,
            "arch": go_arch(),
            "variant": "",
            "agent_version": crate::version::get(),
        });
        let (_, t) = self.send_call(
            "reswarm.devices.update_device_architecture",
            Payload::args(vec![arch]),
            Purpose::Background("update_device_architecture"),
            now,
        );
        out.push(Action::Send(t));
        // 4. The procedures and the first heartbeat follow the guard's answer
        // (`register_procedures`).
    }
}

impl Session {
    /// The procedures, taking them over from a stale session of ours: only once the guard
    /// is ours, so that a second agent with our serial never takes (with
    /// `force_reregister`) the procedures of the one already joined before its guard is
    /// refused.
    ///
    /// Then the first heartbeat (CONFIGURING: the registrations are in flight), CONNECTED
    /// when they are answered, then every period. Not before: an agent the guard refuses
    /// never reports a status for the device.
    fn register_procedures(&mut self, now: Instant, out: &mut Vec<Action>) {
        let force = dict(json!({"force_reregister": true}));
        for name in self.procedures.clone() {
            let uri = self.id.procedure(&name);
            out.push(Action::Send(self.send_register(
                uri,
                force.clone(),
                Purpose::Register(name),
                now,
            )));
        }
        // Without procedures, `registered` has sent it already.
        if self.registering > 0 {
            self.heartbeat(now, out);
        }
    }
}

/// The architecture as Reagent (Go) names it: `amd64`, `arm64`, `arm`.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}
