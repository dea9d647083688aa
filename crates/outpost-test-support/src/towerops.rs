//! A Towerops server as the agent sees it, written from ../shared/compat/towerops.md: the
//! socket at `/socket/agent/websocket`, Phoenix v1 JSON frames (`topic`, `event`,
//! `payload`, `ref`), a `phx_join` with `{"token"}` answered ok or `{"status":"error",
//! "response":{"reason":"invalid token"}}`, replies to `phoenix` heartbeats, protobuf
//! payloads as `{"binary": base64}` both ways. It records what the agent pushes, sends job
//! lists and `restart` on demand, can drop its connections, and can go away and come back
//! on the same port (every record kept).

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use outpost_proto::towerops::{
    AgentError, AgentHeartbeat, AgentJobList, CredentialTestResult, SnmpResult, WireMessage,
};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{
    handshake::server::{ErrorResponse, Request, Response},
    Message as WsMessage,
};

/// One frame the agent pushed on its topic (join and heartbeats aside).
#[derive(Debug, Clone)]
pub struct Push {
    /// Connection number, from 1.
    pub conn: usize,
    pub event: String,
    /// The decoded protobuf (empty when the payload had no `binary`).
    pub bytes: Vec<u8>,
    pub msg_ref: Option<String>,
}

/// One join the agent sent.
#[derive(Debug, Clone)]
pub struct Join {
    pub conn: usize,
    pub topic: String,
    pub token: String,
    pub msg_ref: Option<String>,
    pub accepted: bool,
}

#[derive(Default)]
pub struct State {
    pub connections: usize,
    /// The request path and User-Agent of each WebSocket handshake.
    pub handshakes: Vec<(String, String)>,
    pub joins: Vec<Join>,
    /// `phoenix` heartbeats, with their connection.
    pub phoenix_heartbeats: Vec<usize>,
    /// Application heartbeats, decoded.
    pub heartbeats: Vec<(usize, AgentHeartbeat)>,
    pub pushes: Vec<Push>,
    /// Every frame in arrival order, as (connection, event, topic): the order checks.
    pub order: Vec<(usize, String, String)>,
    /// The newest accepted join: its connection, topic and sender.
    newest: Option<(usize, String, mpsc::UnboundedSender<Out>)>,
}

enum Out {
    Text(String),
    Close,
}

pub struct Server {
    /// The address it listens on (loopback unless [`Server::start_on`] chose another).
    pub ip: std::net::IpAddr,
    pub port: u16,
    pub state: Arc<Mutex<State>>,
    token: String,
    accept: Mutex<Option<tokio::task::JoinHandle<()>>>,
    conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Server {
    /// A server accepting joins with `token`, on an ephemeral loopback port.
    pub async fn start(token: &str) -> Server {
        Self::start_on(std::net::Ipv4Addr::LOCALHOST.into(), token).await
    }

    /// The same on an ephemeral port of `ip`: a container's gateway address, for an agent
    /// in a container on a bridge network.
    pub async fn start_on(ip: std::net::IpAddr, token: &str) -> Server {
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let s = Server {
            ip,
            port,
            state: Arc::new(Mutex::new(State::default())),
            token: token.to_owned(),
            accept: Mutex::new(None),
            conns: Arc::new(Mutex::new(Vec::new())),
        };
        s.serve(listener);
        s
    }

    /// Options for an agent speaking to this server: its URL, its token, and
    /// `TOWEROPS_INSECURE` (the server is plain ws://).
    pub fn agent_options(&self, dir: &std::path::Path) -> crate::agent::Options {
        crate::agent::Options::new(dir)
            .env("TOWEROPS_API_URL", &self.api_url())
            .env("TOWEROPS_AGENT_TOKEN", &self.token)
            .env("TOWEROPS_INSECURE", "true")
    }

    /// An agent started with `opts`, returned once this server accepted a join.
    pub async fn joined_agent(&self, opts: crate::agent::Options) -> crate::agent::Agent {
        let agent = crate::agent::Agent::start(opts);
        crate::wait::wait_for("the join", std::time::Duration::from_secs(20), || async {
            self.accepted_joins() >= 1
        })
        .await;
        agent
    }

    /// What `TOWEROPS_API_URL` is set to (with `TOWEROPS_INSECURE`).
    pub fn api_url(&self) -> String {
        format!("http://{}", std::net::SocketAddr::new(self.ip, self.port))
    }

    // The handshake callback's shape is tungstenite's (its error is an HTTP response).
    #[allow(clippy::result_large_err)]
    fn serve(&self, listener: tokio::net::TcpListener) {
        let (st, token, conns) = (
            Arc::clone(&self.state),
            self.token.clone(),
            Arc::clone(&self.conns),
        );
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (st2, token) = (Arc::clone(&st), token.clone());
                let h = tokio::spawn(async move {
                    let st3 = Arc::clone(&st2);
                    let check =
                        move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
                            let path = req.uri().path().to_owned();
                            let ua = req
                                .headers()
                                .get("user-agent")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_owned();
                            st3.lock().unwrap().handshakes.push((path.clone(), ua));
                            if path == "/socket/agent/websocket" {
                                Ok(resp)
                            } else {
                                let mut e = ErrorResponse::new(Some("not found".into()));
                                *e.status_mut() =
                                    tokio_tungstenite::tungstenite::http::StatusCode::NOT_FOUND;
                                Err(e)
                            }
                        };
                    let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, check).await else {
                        return;
                    };
                    connection(ws, st2, token).await;
                });
                conns.lock().unwrap().push(h);
            }
        });
        *self.accept.lock().unwrap() = Some(task);
    }

    /// Drops every open connection (TCP closed, no close frame): the server crashed.
    pub fn drop_connections(&self) {
        for h in self.conns.lock().unwrap().drain(..) {
            h.abort();
        }
        self.state.lock().unwrap().newest = None;
    }

    /// Goes away: stops listening and drops every connection.
    pub fn stop(&self) {
        if let Some(t) = self.accept.lock().unwrap().take() {
            t.abort();
        }
        self.drop_connections();
    }

    /// Comes back on the same port, records kept.
    pub async fn resume(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let listener = loop {
            match tokio::net::TcpListener::bind((self.ip, self.port)).await {
                Ok(l) => break l,
                Err(e) if std::time::Instant::now() < deadline => {
                    let _ = e;
                    tokio::task::yield_now().await;
                }
                Err(e) => panic!("rebinding port {}: {e}", self.port),
            }
        };
        self.serve(listener);
    }

    /// Sends `event` with a protobuf payload to the newest joined connection; false when
    /// none is joined.
    pub fn send_binary(&self, event: &str, msg: &impl WireMessage) -> bool {
        let b64 = base64::engine::general_purpose::STANDARD.encode(msg.encode_to_vec());
        self.send_event(event, serde_json::json!({ "binary": b64 }))
    }

    pub fn send_jobs(&self, list: &AgentJobList) -> bool {
        self.send_binary("jobs", list)
    }

    /// Sends `event` with a JSON payload on the newest joined topic.
    pub fn send_event(&self, event: &str, payload: serde_json::Value) -> bool {
        let s = self.state.lock().unwrap();
        let Some((_, topic, tx)) = &s.newest else {
            return false;
        };
        let f =
            serde_json::json!({"topic": topic, "event": event, "payload": payload, "ref": null});
        tx.send(Out::Text(f.to_string())).is_ok()
    }

    /// Sends raw text to the newest joined connection.
    pub fn send_raw(&self, text: &str) -> bool {
        let s = self.state.lock().unwrap();
        match &s.newest {
            Some((_, _, tx)) => tx.send(Out::Text(text.to_owned())).is_ok(),
            None => false,
        }
    }

    /// Closes the newest connection with a close frame.
    pub fn close_newest(&self) {
        if let Some((_, _, tx)) = &self.state.lock().unwrap().newest {
            let _ = tx.send(Out::Close);
        }
    }

    pub fn joins(&self) -> Vec<Join> {
        self.state.lock().unwrap().joins.clone()
    }

    pub fn accepted_joins(&self) -> usize {
        self.joins().iter().filter(|j| j.accepted).count()
    }

    pub fn heartbeats(&self) -> Vec<(usize, AgentHeartbeat)> {
        self.state.lock().unwrap().heartbeats.clone()
    }

    pub fn pushes(&self, event: &str) -> Vec<Push> {
        self.state
            .lock()
            .unwrap()
            .pushes
            .iter()
            .filter(|p| p.event == event)
            .cloned()
            .collect()
    }

    pub fn results(&self) -> Vec<SnmpResult> {
        self.decoded("result")
    }

    pub fn errors(&self) -> Vec<AgentError> {
        self.decoded("error")
    }

    pub fn credential_tests(&self) -> Vec<CredentialTestResult> {
        self.decoded("credential_test_result")
    }

    /// Every push of `event`, decoded as `M` (a push that does not decode fails the test).
    pub fn decoded<M: WireMessage + Default>(&self, event: &str) -> Vec<M> {
        self.pushes(event)
            .iter()
            .map(|p| M::decode(p.bytes.as_slice()).expect("a push that is not its message"))
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn connection(
    ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    st: Arc<Mutex<State>>,
    token: String,
) {
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
    let conn = {
        let mut s = st.lock().unwrap();
        s.connections += 1;
        s.connections
    };
    let writer = tokio::spawn(async move {
        while let Some(o) = rx.recv().await {
            let r = match o {
                Out::Text(t) => sink.send(WsMessage::Text(t.into())).await,
                Out::Close => {
                    let _ = sink.send(WsMessage::Close(None)).await;
                    break;
                }
            };
            if r.is_err() {
                break;
            }
        }
    });
    let reply = |topic: &str, msg_ref: &serde_json::Value, payload: serde_json::Value| {
        serde_json::json!({"topic": topic, "event": "phx_reply", "payload": payload, "ref": msg_ref})
            .to_string()
    };
    while let Some(Ok(msg)) = stream.next().await {
        let WsMessage::Text(text) = msg else { continue };
        let Ok(f) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let topic = f["topic"].as_str().unwrap_or("").to_owned();
        let event = f["event"].as_str().unwrap_or("").to_owned();
        let msg_ref = f["ref"].clone();
        st.lock()
            .unwrap()
            .order
            .push((conn, event.clone(), topic.clone()));
        if event == "phx_join" {
            let given = f["payload"]["token"].as_str().unwrap_or("").to_owned();
            let accepted = given == token && topic.starts_with("agent:");
            let payload = if accepted {
                serde_json::json!({"status": "ok", "response": {}})
            } else {
                serde_json::json!({"status": "error", "response": {"reason": "invalid token"}})
            };
            let mut s = st.lock().unwrap();
            s.joins.push(Join {
                conn,
                topic: topic.clone(),
                token: given,
                msg_ref: msg_ref.as_str().map(str::to_owned),
                accepted,
            });
            if accepted {
                s.newest = Some((conn, topic.clone(), tx.clone()));
            }
            let _ = tx.send(Out::Text(reply(&topic, &msg_ref, payload)));
            continue;
        }
        if topic == "phoenix" && event == "heartbeat" {
            st.lock().unwrap().phoenix_heartbeats.push(conn);
            let _ = tx.send(Out::Text(reply(
                "phoenix",
                &msg_ref,
                serde_json::json!({"status": "ok", "response": {}}),
            )));
            continue;
        }
        let bytes = f["payload"]["binary"]
            .as_str()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .unwrap_or_default();
        let mut s = st.lock().unwrap();
        if event == "heartbeat" {
            if let Ok(hb) = AgentHeartbeat::decode(bytes.as_slice()) {
                s.heartbeats.push((conn, hb));
            }
            continue;
        }
        s.pushes.push(Push {
            conn,
            event,
            bytes,
            msg_ref: msg_ref.as_str().map(str::to_owned),
        });
    }
    writer.abort();
}
