//! An in-test control plane speaking Phoenix Channels v2 over WebSocket, enough to be the
//! peer of the agent's WebSocket uplink: join with a token, pushes, acks, and misbehaviour
//! on demand (refusing joins, falling silent without closing TCP).

use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use outpost_proto::{phoenix::Frame, Message};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::control_plane::{self, result_id, ErrorReply};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Normal,
    /// Answer joins with an `unauthorized` error.
    RefuseJoins,
    /// After a join, read and answer nothing, but keep the TCP connection open.
    SilentAfterJoin,
}

#[derive(Default)]
pub struct State {
    pub connections: usize,
    pub joins: Vec<serde_json::Value>,
    /// Protocol messages pushed by the agent (heartbeats excluded), with the connection number.
    pub messages: Vec<(usize, Message)>,
    pub heartbeats: usize,
    /// Sender to the newest connection.
    tx: Option<mpsc::UnboundedSender<String>>,
    pub auto_ack: bool,
}

pub struct Server {
    pub port: u16,
    pub state: Arc<Mutex<State>>,
    pub mode: Arc<Mutex<Mode>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub async fn start(token: &str, mode: Mode) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            auto_ack: true,
            ..Default::default()
        }));
        let mode = Arc::new(Mutex::new(mode));
        let (st, md, token) = (Arc::clone(&state), Arc::clone(&mode), token.to_owned());
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (st, md, token) = (Arc::clone(&st), Arc::clone(&md), token.clone());
                tokio::spawn(async move {
                    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
                        return;
                    };
                    serve(ws, st, md, token).await;
                });
            }
        });
        Server {
            port,
            state,
            mode,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/socket/websocket", self.port)
    }

    /// Sends raw text to the newest connection.
    pub fn send_raw(&self, text: String) {
        let tx = self.state.lock().unwrap().tx.clone();
        tx.expect("no connection").send(text).unwrap();
    }

    /// Pushes a protocol message on the agent's topic.
    pub fn push(&self, agent_id: &str, m: &Message) {
        let f = Frame {
            join_ref: None,
            msg_ref: None,
            topic: format!("agent:{agent_id}"),
            event: m.type_name().into(),
            payload: m.to_value(),
        };
        self.send_raw(f.encode());
    }

    pub fn messages(&self) -> Vec<(usize, Message)> {
        self.state.lock().unwrap().messages.clone()
    }

    /// The job ids of the results received, in order.
    pub fn result_ids(&self) -> Vec<String> {
        self.messages()
            .into_iter()
            .filter_map(|(_, m)| result_id(m))
            .collect()
    }

    /// Every `error` received, in order.
    pub fn errors(&self) -> Vec<ErrorReply> {
        control_plane::errors(self.messages().into_iter().map(|(_, m)| m))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    st: Arc<Mutex<State>>,
    mode: Arc<Mutex<Mode>>,
    token: String,
) {
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let conn = {
        let mut s = st.lock().unwrap();
        s.connections += 1;
        s.tx = Some(tx.clone());
        s.connections
    };
    let writer = tokio::spawn(async move {
        while let Some(t) = rx.recv().await {
            if sink.send(WsMessage::Text(t.into())).await.is_err() {
                break;
            }
        }
    });
    while let Some(Ok(msg)) = stream.next().await {
        let WsMessage::Text(text) = msg else { continue };
        let Ok(f) = Frame::decode(text.as_bytes()) else {
            continue;
        };
        let m = *mode.lock().unwrap();
        if f.event == "phx_join" {
            st.lock().unwrap().joins.push(f.payload.clone());
            let ok = m != Mode::RefuseJoins && f.payload["token"] == token.as_str();
            let payload = if ok {
                serde_json::json!({"status": "ok", "response": Message::Welcome { settings: serde_json::json!({}) }.to_value()})
            } else {
                serde_json::json!({"status": "error", "response": {"reason": "unauthorized"}})
            };
            let reply = Frame {
                join_ref: f.join_ref.clone(),
                msg_ref: f.msg_ref.clone(),
                topic: f.topic.clone(),
                event: "phx_reply".into(),
                payload,
            };
            let _ = tx.send(reply.encode());
            if m == Mode::SilentAfterJoin && ok {
                // Hold the connection open and never read or answer again.
                std::future::pending::<()>().await;
            }
            continue;
        }
        if f.topic == "phoenix" {
            let reply = Frame {
                join_ref: None,
                msg_ref: f.msg_ref.clone(),
                topic: "phoenix".into(),
                event: "phx_reply".into(),
                payload: serde_json::json!({"status": "ok", "response": {}}),
            };
            let _ = tx.send(reply.encode());
            continue;
        }
        let Ok(message) = Message::from_value(f.payload.clone()) else {
            continue;
        };
        let mut s = st.lock().unwrap();
        match &message {
            Message::Heartbeat {} => s.heartbeats += 1,
            Message::Result { seq, .. } | Message::Event { seq, .. } => {
                if s.auto_ack {
                    let ack = Frame {
                        join_ref: None,
                        msg_ref: None,
                        topic: f.topic.clone(),
                        event: "ack".into(),
                        payload: Message::Ack { seq: *seq }.to_value(),
                    };
                    let _ = tx.send(ack.encode());
                }
                s.messages.push((conn, message));
            }
            _ => s.messages.push((conn, message)),
        }
    }
    writer.abort();
}
