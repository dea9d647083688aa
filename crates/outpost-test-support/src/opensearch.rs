//! An OpenSearch `_bulk` endpoint for the OpenSearch sink's tests. No OpenSearch server
//! installs on this machine, so this peer is written from OpenSearch's documentation of the
//! bulk API (`POST /_bulk` and `POST /<index>/_bulk`):
//! - the body is newline-delimited JSON, `Content-Type: application/x-ndjson`, and must end
//!   with a newline;
//! - each item is an action line (an object with exactly one of `index`, `create`,
//!   `update`, `delete`, whose value may name `_index` and `_id`) followed, except for
//!   `delete`, by one document line (a JSON object; for `update`, `{"doc": ...}`);
//! - an item without an index (in its action or the path) fails with 400;
//! - the reply is 200 `{"took", "errors", "items": [{ACTION: {"_index", "_id", "_version",
//!   "result", "status", ...}}]}`, one result per item in order, `errors` true when any
//!   item failed; a body that is not NDJSON is a 400 with an `error` object;
//! - `index` with an existing `_id` replaces the document (`result: "updated"`, 200),
//!   otherwise creates it (201); `create` with an existing `_id` fails with 409.
//!
//! It serves HTTPS with a fresh self-signed certificate for `localhost` (the client must
//! trust [`OpenSearchPeer::ca_pem`]), checks Basic credentials when given some, records
//! every format violation it saw (tests assert there are none), and can be stopped and
//! started again on the same port, to play an OpenSearch that is down for a while.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{json, Value};
use tokio::{io::AsyncWriteExt, net::TcpListener, task::JoinHandle};
use tokio_rustls::{rustls, TlsAcceptor};

use crate::http::read_request;

/// What the peer has seen.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Stored documents by (index, id).
    pub docs: BTreeMap<(String, String), Value>,
    /// `_bulk` requests answered 200.
    pub requests: u64,
    /// Items received in those requests (a document sent twice counts twice).
    pub items: u64,
    /// Format violations: the test fails on any.
    pub violations: Vec<String>,
    /// Items answered with an injected failure ([`OpenSearchPeer::fail_items`]).
    pub failed_items: u64,
}

#[derive(Default)]
struct State {
    seen: Seen,
    /// Fail every item of the next `n` requests with this status.
    fail: Option<(u16, u32)>,
    /// `user:password` required, when set.
    auth: Option<String>,
}

pub struct OpenSearchPeer {
    port: u16,
    ca_pem: String,
    acceptor: TlsAcceptor,
    state: Arc<Mutex<State>>,
    server: Option<JoinHandle<()>>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl OpenSearchPeer {
    /// Starts on an ephemeral loopback port; `auth` is the Basic `(user, password)` it
    /// requires, if any.
    pub async fn start(auth: Option<(&str, &str)>) -> Self {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let ca_pem = cert.cert.pem();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = State {
            auth: auth.map(|(u, p)| format!("{u}:{p}")),
            ..State::default()
        };
        let mut peer = OpenSearchPeer {
            port,
            ca_pem,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            state: Arc::new(Mutex::new(state)),
            server: None,
            conns: Arc::default(),
        };
        peer.serve(listener);
        peer
    }

    /// `https://localhost:PORT`.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// The certificate to trust (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn seen(&self) -> Seen {
        self.state.lock().unwrap().seen.clone()
    }

    /// Every item of the next `requests` requests fails with `status` (e.g. 429).
    pub fn fail_items(&self, status: u16, requests: u32) {
        self.state.lock().unwrap().fail = Some((status, requests));
    }

    /// Down: the listener closes and open connections are cut.
    pub fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.abort();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    /// Up again on the same port (retried while the old socket lingers).
    pub async fn restart(&mut self) {
        self.stop();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(e) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "opensearch peer: port {} not free again: {e}",
                        self.port
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        self.serve(listener);
    }

    fn serve(&mut self, listener: TcpListener) {
        let (acceptor, state, conns) = (
            self.acceptor.clone(),
            self.state.clone(),
            self.conns.clone(),
        );
        self.server = Some(tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (acceptor, state) = (acceptor.clone(), state.clone());
                let conn = tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(sock).await else {
                        return;
                    };
                    // One request per connection, answered with `connection: close`.
                    let Some(req) = read_request(&mut tls).await else {
                        return;
                    };
                    let (status, body) = answer(&state, &req.head, &req.raw_head, &req.body);
                    let text = body.to_string();
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                        text.len()
                    );
                    let _ = tls.write_all(resp.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
                conns.lock().unwrap().push(conn);
            }
        }));
    }
}

impl Drop for OpenSearchPeer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn error(status: u16, ty: &str, reason: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"type": ty, "reason": reason}, "status": status}),
    )
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// One request: the documented checks, then the per-item results.
fn answer(state: &Mutex<State>, head: &str, raw_head: &str, body: &[u8]) -> (u16, Value) {
    let mut st = state.lock().unwrap();
    let request_line = head.lines().next().unwrap_or_default().to_owned();
    let mut parts = request_line.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let path_index = match path.trim_matches('/').split('/').collect::<Vec<_>>()[..] {
        ["_bulk"] => None,
        [index, "_bulk"] => Some(index.to_owned()),
        _ => return error(404, "not_found", &format!("no handler for {method} {path}")),
    };
    if method != "post" && method != "put" {
        return error(405, "method_not_allowed", method);
    }
    if let Some(want) = &st.auth {
        use base64::Engine as _;
        let got = raw_head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("authorization")
                    .then(|| value.trim())
            })
            .and_then(|v| {
                v.strip_prefix("Basic ")
                    .or_else(|| v.strip_prefix("basic "))
            })
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        if got.as_deref() != Some(want.as_str()) {
            return error(401, "security_exception", "missing or wrong credentials");
        }
    }
    let ct = header(head, "content-type").unwrap_or("");
    if !ct.starts_with("application/x-ndjson") && !ct.starts_with("application/json") {
        st.seen
            .violations
            .push(format!("content-type {ct:?}, not application/x-ndjson"));
        return error(406, "content_type", ct);
    }
    if body.last() != Some(&b'\n') {
        st.seen
            .violations
            .push("the body does not end with a newline".into());
        return error(
            400,
            "illegal_argument_exception",
            "The bulk request must be terminated by a newline [\\n]",
        );
    }
    let Ok(text) = std::str::from_utf8(body) else {
        st.seen.violations.push("the body is not UTF-8".into());
        return error(400, "parse_exception", "not UTF-8");
    };
    // Every line (the last newline ends the last line; blank lines are violations too).
    let lines: Vec<&str> = text[..text.len() - 1].split('\n').collect();
    let mut items = Vec::new();
    let mut i = 0;
    let fail = match st.fail {
        Some((s, n)) if n > 0 => {
            st.fail = if n > 1 { Some((s, n - 1)) } else { None };
            Some(s)
        }
        _ => None,
    };
    while i < lines.len() {
        let action: Value = match serde_json::from_str(lines[i]) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                st.seen.violations.push(format!(
                    "line {}: not an action object: {:?}",
                    i + 1,
                    lines[i]
                ));
                return error(
                    400,
                    "illegal_argument_exception",
                    "Malformed action/metadata line",
                );
            }
        };
        let obj = action.as_object().unwrap();
        if obj.len() != 1 {
            st.seen
                .violations
                .push(format!("line {}: an action has exactly one key", i + 1));
            return error(
                400,
                "illegal_argument_exception",
                "Malformed action/metadata line",
            );
        }
        let (op, meta) = obj.iter().next().unwrap();
        let op = op.clone();
        if !["index", "create", "update", "delete"].contains(&op.as_str()) {
            st.seen
                .violations
                .push(format!("line {}: unknown action {op:?}", i + 1));
            return error(400, "illegal_argument_exception", "Unknown action");
        }
        let index = meta
            .get("_index")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| path_index.clone());
        let id = meta.get("_id").and_then(Value::as_str).map(str::to_owned);
        let doc = if op == "delete" {
            None
        } else {
            i += 1;
            match lines.get(i).map(|l| serde_json::from_str::<Value>(l)) {
                Some(Ok(v @ Value::Object(_))) => Some(v),
                _ => {
                    st.seen.violations.push(format!(
                        "line {}: the {op} action's document line is missing or not an object",
                        i + 1
                    ));
                    return error(400, "illegal_argument_exception", "Malformed document line");
                }
            }
        };
        i += 1;
        st.seen.items += 1;
        let result = match (index, fail) {
            (_, Some(status)) => {
                st.seen.failed_items += 1;
                json!({"status": status, "error": {"type": "injected", "reason": "test"}})
            }
            (None, _) => {
                json!({"status": 400, "error": {"type": "action_request_validation_exception", "reason": "index is missing"}})
            }
            (Some(index), None) => {
                let id = id.unwrap_or_else(|| format!("auto-{}", st.seen.items));
                let key = (index.clone(), id.clone());
                let exists = st.seen.docs.contains_key(&key);
                match op.as_str() {
                    "create" if exists => {
                        json!({"_index": index, "_id": id, "status": 409, "error": {"type": "version_conflict_engine_exception"}})
                    }
                    "delete" => {
                        st.seen.docs.remove(&key);
                        json!({"_index": index, "_id": id, "status": if exists {200} else {404}, "result": if exists {"deleted"} else {"not_found"}})
                    }
                    _ => {
                        st.seen.docs.insert(key, doc.unwrap_or(Value::Null));
                        json!({"_index": index, "_id": id, "_version": 1,
                               "result": if exists {"updated"} else {"created"},
                               "status": if exists {200} else {201},
                               "_shards": {"total": 1, "successful": 1, "failed": 0}})
                    }
                }
            }
        };
        items.push(json!({ op: result }));
    }
    st.seen.requests += 1;
    let errors = items.iter().any(|it| {
        it.as_object()
            .and_then(|o| o.values().next())
            .and_then(|r| r["status"].as_u64())
            .is_some_and(|s| !(200..300).contains(&s))
    });
    (200, json!({"took": 1, "errors": errors, "items": items}))
}
