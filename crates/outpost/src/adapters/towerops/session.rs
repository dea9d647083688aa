//! One Towerops channel connection as an explicit state machine: the join (its frame, and
//! the strict check of the first frame back), the two heartbeats, the server's events
//! decoded into what the adapter must do, and the end of the session. No I/O: the pump
//! owns the socket and the clock and feeds [`Session::on_input`] what happened, with the
//! time; the machine answers with [`Action`]s and says when it next needs a tick
//! ([`Session::next_wake`]). Unit tests drive it with scripted frames and instants.

use std::{
    fmt,
    time::{Duration, Instant},
};

use outpost_proto::towerops::{
    encode_binary, event, frame::PHOENIX_TOPIC, AgentError, AgentHeartbeat, AgentJobList,
    CheckList, Frame, FrameError, UpdateRequest, WireMessage,
};
use secrecy::{ExposeSecret, SecretString};

/// The join's ref; the first frame back must answer it.
pub const JOIN_REF: &str = "1";
/// The first frame back must arrive within this.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// The Phoenix heartbeat (topic `phoenix`), which keeps the socket alive.
pub const PHOENIX_HEARTBEAT: Duration = Duration::from_secs(25);
/// The application `heartbeat` (AgentHeartbeat), which keeps the agent listed as online.
pub const APP_HEARTBEAT: Duration = Duration::from_secs(60);
/// A server silent this long is dead (the Phoenix heartbeat's replies count as traffic).
pub const SILENCE: Duration = Duration::from_secs(90);

/// The join topic for a connection opened at `unix_nanos`, the `seq`th of this process.
pub fn topic(unix_nanos: u128, seq: u64) -> String {
    format!("agent:agent-{unix_nanos}-{seq}")
}

/// Why a session ended. The pump reconnects after each, with backoff except after
/// [`End::Restart`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum End {
    /// The join reply's status was not `ok` (a wrong token, an unknown agent).
    #[error("join rejected: {status} ({reason})")]
    JoinRejected { status: String, reason: String },
    /// The first frame back was not the reply to the join.
    #[error("join rejected: unexpected {0} before the join reply")]
    JoinUnexpected(String),
    #[error("no join reply within {} s", JOIN_TIMEOUT.as_secs())]
    JoinTimeout,
    /// The server asked for a fresh session (`restart`): reconnect at once.
    #[error("restart requested by the server")]
    Restart,
    /// The server closed or crashed our channel (`phx_close`, `phx_error`).
    #[error("channel {0}")]
    Channel(String),
    #[error("server silent for {} s", SILENCE.as_secs())]
    Silent,
    #[error("{0}")]
    Oversized(FrameError),
    #[error("server closed the connection")]
    Closed,
}

impl End {
    /// Reconnect without backoff (and reset it).
    pub fn immediate(&self) -> bool {
        matches!(self, End::Restart)
    }
}

/// Which one-shot lane a job list arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// `jobs`: recurring jobs (interval > 0) replace the inventory, the rest run now.
    Jobs,
    /// `discovery_job`: each runs once.
    Discovery,
    /// `backup_job`: each runs once.
    Backup,
}

/// What happened, as the pump saw it.
pub enum Input<'a> {
    /// A text frame from the server.
    Text(&'a str),
    /// The clock reached [`Session::next_wake`] (or any time: ticks are idempotent).
    Tick,
    /// The connection closed or failed.
    Closed,
}

/// The current time, both clocks: timers run on `mono`, messages carry `unix` seconds.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub mono: Instant,
    pub unix: i64,
}

/// What the pump must do, in order.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Write this text frame.
    Send(String),
    /// The join was accepted: start the job lanes.
    Joined,
    Jobs {
        lane: Lane,
        list: AgentJobList,
    },
    /// `check_jobs`: the check inventory (an empty list clears it).
    Checks(CheckList),
    /// `update` with both fields (the updater decides whether to act).
    Update(UpdateRequest),
    /// A `phx_reply` with status ok for a frame we sent (`ref`): the server read it and
    /// everything before it.
    Acked(String),
    /// A `phx_reply` refusing a frame we sent, with its reason.
    Refused {
        msg_ref: String,
        reason: String,
    },
    End(End),
}

/// Builds the AgentHeartbeat each time one is due (uptime, addresses change).
pub type HeartbeatSource = Box<dyn FnMut() -> AgentHeartbeat + Send>;

enum State {
    Joining { since: Instant },
    Joined,
    Ended,
}

/// One connection's state.
pub struct Session {
    topic: String,
    token: SecretString,
    state: State,
    /// The last ref used ("1" is the join's).
    refs: u64,
    next_phoenix: Instant,
    next_app: Instant,
    last_heard: Instant,
    heartbeat: HeartbeatSource,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token stays out (SecretString's own Debug redacts it too).
        f.debug_struct("Session")
            .field("topic", &self.topic)
            .field("refs", &self.refs)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session about to join `topic` (see [`topic`]) at `now`.
    pub fn new(
        topic: String,
        token: SecretString,
        now: Instant,
        heartbeat: HeartbeatSource,
    ) -> Self {
        Session {
            topic,
            token,
            state: State::Joining { since: now },
            refs: 1,
            next_phoenix: now + PHOENIX_HEARTBEAT,
            next_app: now + APP_HEARTBEAT,
            last_heard: now,
            heartbeat,
        }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn joined(&self) -> bool {
        matches!(self.state, State::Joined)
    }

    /// The `phx_join` frame. It holds the token: the pump writes it and never logs it.
    pub fn join_frame(&self) -> String {
        Frame {
            topic: self.topic.clone(),
            event: event::JOIN.into(),
            payload: serde_json::json!({ "token": self.token.expose_secret() }),
            msg_ref: Some(JOIN_REF.into()),
        }
        .encode()
    }

    /// When the machine next needs an [`Input::Tick`].
    pub fn next_wake(&self) -> Instant {
        match self.state {
            State::Joining { since } => since + JOIN_TIMEOUT,
            State::Joined | State::Ended => self
                .next_phoenix
                .min(self.next_app)
                .min(self.last_heard + SILENCE),
        }
    }

    fn next_ref(&mut self) -> String {
        self.refs += 1;
        self.refs.to_string()
    }

    /// A push of `msg` as `{"binary": ...}` on our topic with a fresh ref, returned with
    /// the frame so that a refusal (`phx_reply` error) can be matched to it.
    pub fn push(&mut self, event: &str, msg: &impl WireMessage) -> (String, String) {
        let msg_ref = self.next_ref();
        let frame = encode_binary(&self.topic, event, msg, Some(&msg_ref));
        (msg_ref, frame)
    }

    /// A push whose protobuf is already base64 (an outbox row's stored frame), with a
    /// fresh ref, returned with the frame.
    pub fn push_base64(&mut self, event: &str, binary: &str) -> (String, String) {
        let msg_ref = self.next_ref();
        let frame = Frame {
            topic: self.topic.clone(),
            event: event.to_owned(),
            payload: serde_json::json!({ "binary": binary }),
            msg_ref: Some(msg_ref.clone()),
        }
        .encode();
        (msg_ref, frame)
    }

    /// A Phoenix heartbeat sent now, out of its 25 s turn, with its ref: the server answers
    /// heartbeats in order, so its reply proves every frame written before it was read
    /// (delivery acknowledges by order; the server only ever replies to refuse a push).
    pub fn sync_frame(&mut self) -> (String, String) {
        let msg_ref = self.next_ref();
        let frame = Frame {
            topic: PHOENIX_TOPIC.into(),
            event: event::HEARTBEAT.into(),
            payload: serde_json::json!({}),
            msg_ref: Some(msg_ref.clone()),
        };
        (msg_ref, frame.encode())
    }

    pub fn on_input(&mut self, now: Now, input: Input<'_>) -> Vec<Action> {
        let actions = match self.state {
            State::Ended => return Vec::new(),
            State::Joining { since } => self.joining(now, since, input),
            State::Joined => match input {
                Input::Text(text) => {
                    self.last_heard = now.mono;
                    self.on_text(now, text)
                }
                Input::Tick => self.on_tick(now),
                Input::Closed => vec![Action::End(End::Closed)],
            },
        };
        if matches!(actions.last(), Some(Action::End(_))) {
            self.state = State::Ended;
        }
        actions
    }

    /// Before the join reply: the first frame back decides.
    fn joining(&mut self, now: Now, since: Instant, input: Input<'_>) -> Vec<Action> {
        let text = match input {
            Input::Text(text) => text,
            Input::Tick if now.mono >= since + JOIN_TIMEOUT => {
                return vec![Action::End(End::JoinTimeout)]
            }
            Input::Tick => return Vec::new(),
            Input::Closed => return vec![Action::End(End::Closed)],
        };
        let f = match Frame::decode(text.as_bytes()) {
            Ok(f) => f,
            Err(e) => return vec![Action::End(End::JoinUnexpected(bounded(&e.to_string())))],
        };
        let reply = match f.reply() {
            Some(r) if f.topic == self.topic && f.msg_ref.as_deref() == Some(JOIN_REF) => r,
            _ => {
                let what = format!("{} (topic {:?}, ref {:?})", f.event, f.topic, f.msg_ref);
                return vec![Action::End(End::JoinUnexpected(bounded(&what)))];
            }
        };
        if !reply.is_ok() {
            return vec![Action::End(End::JoinRejected {
                status: bounded(reply.status),
                reason: bounded(reply.reason().unwrap_or("")),
            })];
        }
        self.state = State::Joined;
        self.last_heard = now.mono;
        self.next_phoenix = now.mono + PHOENIX_HEARTBEAT;
        // The application heartbeat goes out at once, then every minute.
        self.next_app = now.mono + APP_HEARTBEAT;
        vec![Action::Joined, Action::Send(self.app_heartbeat())]
    }

    /// The application heartbeat: not spooled, so no ref to match.
    fn app_heartbeat(&mut self) -> String {
        let hb = (self.heartbeat)();
        encode_binary(&self.topic, event::HEARTBEAT, &hb, None)
    }

    fn on_tick(&mut self, now: Now) -> Vec<Action> {
        if now.mono >= self.last_heard + SILENCE {
            return vec![Action::End(End::Silent)];
        }
        let mut out = Vec::new();
        if now.mono >= self.next_phoenix {
            let frame = Frame {
                topic: PHOENIX_TOPIC.into(),
                event: event::HEARTBEAT.into(),
                payload: serde_json::json!({}),
                msg_ref: Some(self.next_ref()),
            };
            out.push(Action::Send(frame.encode()));
            // From now, not from the missed slot: a stalled pump sends one, not a burst.
            self.next_phoenix = now.mono + PHOENIX_HEARTBEAT;
        }
        if now.mono >= self.next_app {
            out.push(Action::Send(self.app_heartbeat()));
            self.next_app = now.mono + APP_HEARTBEAT;
        }
        out
    }

    fn on_text(&mut self, now: Now, text: &str) -> Vec<Action> {
        let f = match Frame::decode(text.as_bytes()) {
            Ok(f) => f,
            // Over the read limit the original's socket fails; so does this session.
            Err(e @ FrameError::TooLarge(_)) => return vec![Action::End(End::Oversized(e))],
            // Not a frame at all: nothing to answer (no event to name), and the
            // server's next frame may be fine.
            Err(e) => {
                tracing::debug!(error = %e, "towerops: undecodable frame ignored");
                return Vec::new();
            }
        };
        if f.topic == PHOENIX_TOPIC {
            return self.reply(&f);
        }
        if f.topic != self.topic {
            return Vec::new();
        }
        let lane = match f.event.as_str() {
            event::REPLY => return self.reply(&f),
            event::ERROR | event::CLOSE => return vec![Action::End(End::Channel(f.event))],
            event::RESTART => return vec![Action::End(End::Restart)],
            event::UPDATE => {
                return UpdateRequest::from_payload(&f.payload)
                    .map(Action::Update)
                    .into_iter()
                    .collect()
            }
            event::CHECK_JOBS => {
                return match f.binary::<CheckList>() {
                    Ok(list) => vec![Action::Checks(list)],
                    Err(e) => self.malformed(now, &f.event, &e),
                }
            }
            event::JOBS => Lane::Jobs,
            event::DISCOVERY_JOB => Lane::Discovery,
            event::BACKUP_JOB => Lane::Backup,
            _ => return Vec::new(),
        };
        match f.binary::<AgentJobList>() {
            Ok(list) => vec![Action::Jobs { lane, list }],
            Err(e) => self.malformed(now, &f.event, &e),
        }
    }

    /// A `phx_reply` after the join: an acknowledgement or a refusal of one of our frames.
    fn reply(&mut self, f: &Frame) -> Vec<Action> {
        let (Some(reply), Some(msg_ref)) = (f.reply(), f.msg_ref.clone()) else {
            return Vec::new();
        };
        if reply.is_ok() {
            vec![Action::Acked(msg_ref)]
        } else {
            vec![Action::Refused {
                msg_ref,
                reason: bounded(reply.reason().unwrap_or(reply.status)),
            }]
        }
    }

    /// A payload that is not the message its event carries: answered with an `error`,
    /// and the session stays up.
    fn malformed(&mut self, now: Now, name: &str, e: &dyn fmt::Display) -> Vec<Action> {
        tracing::warn!(event = %bounded(name), error = %e, "towerops: malformed payload rejected");
        let err = AgentError {
            message: format!("Rejected malformed or oversized {name} payload"),
            timestamp: now.unix,
            ..Default::default()
        };
        let (_, frame) = self.push(event::AGENT_ERROR, &err);
        vec![Action::Send(frame)]
    }
}

/// Text from the server, bounded before it goes into a log line or an error.
fn bounded(s: &str) -> String {
    const MAX: usize = 200;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut cut = MAX;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
