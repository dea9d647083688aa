//! `/ws`: socktop's agent protocol, so socktop's TUI and `socktop_connector` can use Outpost
//! as their agent. An edge adapter: every frame goes to `outpost_host::socktop`, which reads
//! the host through the same TTL caches as `/metrics` and `metrics` jobs. A request whose value
//! is cached is answered with the stored frame (shared bytes, no serialization) on the runtime
//! thread; only a collection goes to the blocking pool.
//!
//! Authentication is the API's: `Authorization: Bearer` or, since socktop cannot set
//! headers, `?token=` (accepted on this path only, see `auth.rs`).

use std::sync::Arc;

use axum::{
    extract::{
        ws::{
            rejection::WebSocketUpgradeRejection, Message, Utf8Bytes, WebSocket, WebSocketUpgrade,
        },
        State,
    },
    http::StatusCode,
    response::Response,
};
use outpost_host::{
    socktop::{self, Frame, Reply, TextFrame},
    Host,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;

/// socktop sessions open at once, at most; more are refused as busy (and counted).
pub const MAX_SESSIONS: usize = 64;

/// socktop's requests are a few dozen bytes; anything large is not socktop.
const MAX_MESSAGE_BYTES: usize = 4096;

/// The session's read buffer. tungstenite zeroes the buffer's free capacity before every read
/// (128 KiB by default): with the default, that memset was 8% of a cached `get_metrics`
/// request's CPU time. Requests are a few dozen bytes; a larger one grows the buffer.
const READ_BUFFER_BYTES: usize = 1024;

/// What `/ws` needs: the host handle and the session bound. The route's own state (the host
/// component registers it), so the API knows nothing of socktop.
#[derive(Clone)]
pub struct Socktop {
    /// The process's one host handle; its caches are shared with `/metrics` and jobs.
    pub host: Host,
    /// One permit per open session.
    sessions: Arc<Semaphore>,
}

/// `/ws`, bound to its state, and its description for the OpenAPI document.
pub fn route(host: Host) -> crate::components::ApiRoute {
    crate::components::ApiRoute {
        path: "/ws",
        service: axum::routing::get(upgrade).with_state(Socktop::new(host)),
        doc: || {
            let (_, doc): (axum::Router<Socktop>, _) = utoipa_axum::router::OpenApiRouter::new()
                .routes(utoipa_axum::routes!(upgrade))
                .split_for_parts();
            doc
        },
    }
}

impl Socktop {
    pub fn new(host: Host) -> Self {
        Socktop {
            host,
            sessions: Arc::new(Semaphore::new(MAX_SESSIONS)),
        }
    }
}

/// Upgrade to socktop's protocol: text frames `get_metrics`, `get_disks`, `get_processes`,
/// `get_process_metrics:PID`, `get_journal_entries:PID` (or `{"type":"metrics"|"disks"|...}`);
/// replies are JSON, gzipped in a binary frame past 768 bytes, and the process list is gzipped
/// protobuf.
#[utoipa::path(get, path = "/ws",
    params(("token" = Option<String>, Query, description = "The API token, for clients that cannot set headers (socktop); accepted on this path only")),
    responses(
        (status = 101, description = "WebSocket speaking socktop's agent protocol"),
        (status = 400, body = super::error::ErrorBody),
        (status = 503, description = "too many socktop sessions", body = super::error::ErrorBody)),
    security(("bearer" = [])), tag = "socktop")]
pub async fn upgrade(
    State(socktop): State<Socktop>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let ws = ws.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "websocket_required",
            format!("this endpoint speaks WebSocket (socktop's protocol): {e}"),
        )
    })?;
    let permit = Arc::clone(&socktop.sessions)
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                format!("{MAX_SESSIONS} socktop sessions are open already"),
            )
        })?;
    let host = socktop.host.clone();
    Ok(ws
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| session(socket, host, permit)))
}

/// One client: one reply per request frame, until it closes. No timer of our own: an idle
/// session costs a parked task and a socket.
async fn session(mut socket: WebSocket, host: Host, _permit: OwnedSemaphorePermit) {
    while let Some(Ok(msg)) = socket.recv().await {
        let reply = match msg {
            Message::Text(t) => reply(&host, t.as_str()).await,
            Message::Binary(_) => socktop::answer(&host, Frame::Binary(&[])),
            Message::Close(_) => break,
            // tungstenite answers pings itself.
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        let out = match reply {
            Reply::Text(t) => Message::Text(utf8(t)),
            Reply::Binary(b) => Message::Binary(b),
        };
        if socket.send(out).await.is_err() {
            break;
        }
    }
}

/// A text frame's shared bytes as axum's text payload: a UTF-8 check, no copy.
fn utf8(text: TextFrame) -> Utf8Bytes {
    let bytes = text.into_bytes();
    // TextFrame is built from Strings only; the copy is for the impossible case.
    Utf8Bytes::try_from(bytes.clone())
        .unwrap_or_else(|_| Utf8Bytes::from(String::from_utf8_lossy(&bytes).into_owned()))
}

/// A cached value's stored frame is answered inline. A miss collects: the process list reads
/// every /proc/PID, a process's detail its threads and children, its journal runs journalctl
/// (up to 2 s), so those run on the blocking pool; the rest is a few small reads, cheaper
/// inline than a thread hop.
async fn reply(host: &Host, text: &str) -> Reply {
    let request = match socktop::parse_request(Frame::Text(text)) {
        Ok(r) => r,
        Err(_) => return socktop::answer(host, Frame::Text(text)),
    };
    if let Some(cached) = socktop::cached_reply(host, request) {
        return cached;
    }
    if !request.is_heavy() {
        return socktop::answer_request(host, request);
    }
    let host = host.clone();
    tokio::task::spawn_blocking(move || socktop::answer_request(&host, request))
        .await
        .unwrap_or_else(|e| socktop::error_reply(&format!("collection task failed: {e}")))
}
