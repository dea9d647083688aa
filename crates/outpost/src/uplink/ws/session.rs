//! One Phoenix channel connection's state, as an explicit state machine: the join (its
//! frame, and its reply matched by ref), then pushes both ways, heartbeats and the `ack`
//! that moves the cursor. [`WsSession::on_event`] takes what happened and says what the
//! pump must do (send frames, hand a message to the dispatcher, record an ack, end); no
//! I/O happens here. The pump in `mod.rs` owns the socket, the store and the dispatcher,
//! and unit tests drive the same machine with scripted frames.

use std::{sync::Arc, time::Duration};

use outpost_core::OutboxRow;
use outpost_proto::{phoenix::Frame, Message};
use tokio_tungstenite::tungstenite;

use crate::internal_event::InternalEvent;
use crate::uplink::{
    delivery::encode_row,
    events::{EndReason, MessageRejected, Reporter, RowsSent, Severity},
    inbound::{self, Handled},
    tls::TlsError,
};

/// Why a join did not succeed. The log's severity comes from the kind, not the text.
#[derive(Debug, thiserror::Error)]
pub enum JoinFailed {
    /// The control plane answered the join with an error (a wrong token, an unknown agent).
    #[error("join refused: {0}")]
    Refused(String),
    #[error("unexpected {0} in reply to join")]
    Unexpected(String),
    #[error("connection closed during join")]
    Closed,
}

/// Why the WebSocket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    Tls(#[from] TlsError),
    #[error("connect: {0}")]
    Connect(#[from] tungstenite::Error),
}

/// Why a session ended; the log's severity comes from the kind.
#[derive(Debug, thiserror::Error)]
pub enum End {
    #[error("shutdown")]
    Shutdown,
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("connect timed out")]
    ConnectTimeout,
    #[error("sending join: {0}")]
    SendJoin(tungstenite::Error),
    #[error(transparent)]
    Join(#[from] JoinFailed),
    #[error("no join reply within the read deadline")]
    JoinTimeout,
    #[error("send: {0}")]
    Send(tungstenite::Error),
    #[error("read: {0}")]
    Read(tungstenite::Error),
    #[error("server closed the connection")]
    ServerClosed,
    /// The server closed or crashed our channel (`phx_close`, `phx_error`).
    #[error("channel {0}")]
    Channel(String),
    #[error("server silent for {} ms (read deadline)", .0.as_millis())]
    Silent(Duration),
    #[error("store closed")]
    StoreClosed,
}

impl EndReason for End {
    fn severity(&self) -> Severity {
        match self {
            End::Shutdown => Severity::Quiet,
            // A refusal will not heal by retrying.
            End::Join(JoinFailed::Refused(_)) => Severity::Refused,
            _ => Severity::Transient,
        }
    }

    fn summary(&self) -> &'static str {
        match self {
            End::Join(JoinFailed::Refused(_)) => {
                "the control plane refused the join (check uplink.ws.token)"
            }
            _ => "disconnected",
        }
    }
}

/// What the session was told.
pub enum Input<'a> {
    /// A text message from the server.
    Text(&'a str),
    /// Any other message (binary, ping, pong): proof of life only.
    Other,
    /// The server closed the connection (a close frame, or the end of the stream).
    Closed,
    ReadFailed(tungstenite::Error),
    /// What the dispatcher made of a message handed out as [`Step::Dispatch`].
    Handled(Handled),
    /// Outbox rows to push.
    Rows(&'a [Arc<OutboxRow>]),
    /// Time for the Phoenix and application heartbeats.
    Heartbeat,
}

/// What the pump must do after an input.
#[derive(Debug)]
pub enum Step {
    Continue,
    /// The join was accepted: the uplink is up (report it, restart delivery).
    Joined,
    /// Send these frames, in order.
    Send(Vec<String>),
    /// Hand this payload to the dispatcher, and the outcome back as [`Input::Handled`].
    Dispatch(serde_json::Value),
    /// The server acknowledged everything up to this seq (move the cursor).
    Ack(u64),
    End(End),
}

/// One channel connection's state.
pub struct WsSession {
    rep: Reporter,
    /// `agent:ID`.
    topic: String,
    join_ref: String,
    /// The last message ref used.
    refs: u64,
    joined: bool,
    /// Carried traffic from the server after the join, which resets the backoff.
    productive: bool,
}

impl WsSession {
    pub fn new(agent_id: &str, rep: Reporter) -> Self {
        WsSession {
            rep,
            topic: format!("agent:{agent_id}"),
            join_ref: String::new(),
            refs: 0,
            joined: false,
            productive: false,
        }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn productive(&self) -> bool {
        self.productive
    }

    fn next_ref(&mut self) -> String {
        self.refs += 1;
        self.refs.to_string()
    }

    /// The `phx_join` frame, with `payload` (the `hello`, and the token) as its payload.
    pub fn join(&mut self, payload: serde_json::Value) -> String {
        self.join_ref = self.next_ref();
        Frame {
            join_ref: Some(self.join_ref.clone()),
            msg_ref: Some(self.join_ref.clone()),
            topic: self.topic.clone(),
            event: "phx_join".into(),
            payload,
        }
        .encode()
    }

    /// A push of `m` on our channel.
    fn push(&mut self, m: &Message) -> String {
        let msg_ref = self.next_ref();
        Frame {
            join_ref: Some(self.join_ref.clone()),
            msg_ref: Some(msg_ref),
            topic: self.topic.clone(),
            event: m.type_name().into(),
            payload: m.to_value(),
        }
        .encode()
    }

    pub fn on_event(&mut self, input: Input<'_>) -> Step {
        if !self.joined {
            return self.joining(input);
        }
        match input {
            Input::Text(text) => {
                self.productive = true;
                self.on_text(text)
            }
            Input::Other => {
                self.productive = true;
                Step::Continue
            }
            Input::Closed => Step::End(End::ServerClosed),
            Input::ReadFailed(e) => Step::End(End::Read(e)),
            Input::Handled(Handled::Nothing) => Step::Continue,
            Input::Handled(Handled::Ack(seq)) => Step::Ack(seq),
            Input::Handled(Handled::Reply(m)) => self.reply(m),
            Input::Rows(rows) => {
                // The envelope is already text, copied into the frame as it is.
                let frames: Vec<String> = rows
                    .iter()
                    .map(|row| {
                        let (kind, envelope) = encode_row(row, &self.rep);
                        let msg_ref = self.next_ref();
                        Frame::encode_with_payload(
                            Some(&self.join_ref),
                            Some(&msg_ref),
                            &self.topic,
                            kind.type_name(),
                            &envelope,
                        )
                    })
                    .collect();
                RowsSent { n: frames.len() }.emit(&self.rep);
                Step::Send(frames)
            }
            Input::Heartbeat => {
                let phx = Frame {
                    join_ref: None,
                    msg_ref: Some(self.next_ref()),
                    topic: "phoenix".into(),
                    event: "heartbeat".into(),
                    payload: serde_json::json!({}),
                };
                let app = self.push(&Message::Heartbeat {});
                Step::Send(vec![phx.encode(), app])
            }
        }
    }

    /// Before the join reply: only the reply to our join matters.
    fn joining(&mut self, input: Input<'_>) -> Step {
        match input {
            Input::Text(text) => {
                let Ok(f) = Frame::decode(text.as_bytes()) else {
                    return Step::Continue;
                };
                if f.msg_ref.as_deref() != Some(self.join_ref.as_str()) {
                    return Step::Continue;
                }
                match f.reply() {
                    Some(Ok(_welcome)) => {
                        self.joined = true;
                        Step::Joined
                    }
                    Some(Err(resp)) => Step::End(JoinFailed::Refused(resp.to_string()).into()),
                    None => Step::End(JoinFailed::Unexpected(f.event).into()),
                }
            }
            Input::Closed | Input::ReadFailed(_) => Step::End(JoinFailed::Closed.into()),
            _ => Step::Continue,
        }
    }

    /// A text message on a joined channel: answered, dispatched, or the end.
    fn on_text(&mut self, text: &str) -> Step {
        if text.len() > outpost_proto::envelope::MAX_MESSAGE_BYTES {
            let about = outpost_proto::peek_phoenix_id(text.as_bytes());
            return self.reply(inbound::too_large(text.len(), about));
        }
        let f = match Frame::decode(text.as_bytes()) {
            Ok(f) => f,
            Err(e) => {
                return self.reply(Message::Error {
                    code: e.code().into(),
                    message: e.to_string(),
                    about: None,
                })
            }
        };
        if f.topic == "phoenix" || f.event == "phx_reply" {
            return Step::Continue;
        }
        // Only our own topic carries jobs: a push for another topic (another agent's, or
        // a channel never joined) is refused, not run.
        if f.topic != self.topic {
            let topic = &self.topic;
            tracing::debug!(topic = %outpost_proto::bounded(&f.topic), joined = %topic, "ws uplink: push on a topic not joined refused");
            let message = outpost_proto::bounded(&format!(
                "push on topic {:?}, which this agent has not joined (it joined {topic:?})",
                f.topic
            ));
            return self.reply(Message::Error {
                code: "unexpected".into(),
                message,
                about: None,
            });
        }
        if f.event == "phx_error" || f.event == "phx_close" {
            return Step::End(End::Channel(f.event));
        }
        if f.event.len() > 64 {
            let e = outpost_proto::DecodeError::UnknownType(outpost_proto::bounded(&f.event));
            return self.reply(Message::Error {
                code: "unknown_type".into(),
                message: e.to_string(),
                about: None,
            });
        }
        Step::Dispatch(f.payload)
    }

    fn reply(&mut self, m: Message) -> Step {
        if let Message::Error { code, .. } = &m {
            MessageRejected { code }.emit(&self.rep);
        }
        Step::Send(vec![self.push(&m)])
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
