//! `/v1/events`: the outbox as a WebSocket stream, resumable from a sequence number.
//!
//! The stream is one-way. A data frame from the client is answered with an error frame and
//! the stream goes on, so a confused client learns why nothing happens; a frame the protocol
//! forbids ends the stream with a close code and a reason, never a bare TCP close.

use axum::{
    extract::{
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
        State,
    },
    http::StatusCode,
    response::Response,
};
use outpost_core::{OutboxRow, Store};
use tokio::sync::broadcast::error::RecvError;

use super::{
    error::{ApiError, ErrorBody, ErrorDetail},
    extract::Query,
    wire::{EventsQuery, EventsRow},
    AppState,
};

/// Rows read from the store per catch-up query.
const PAGE: u32 = 500;

/// The largest sequence number there can be: outbox sequence numbers are SQLite rowids.
pub const MAX_SEQ: u64 = i64::MAX as u64;

/// Client messages larger than this end the stream with 1009. The stream takes no requests,
/// so a large message is a mistake or an attack, and buffering it would cost memory.
pub const MAX_CLIENT_MESSAGE: usize = 4096;

/// Close codes (RFC 6455 section 7.4.1).
mod close {
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL: u16 = 1002;
    pub const INVALID_DATA: u16 = 1007;
    pub const TOO_BIG: u16 = 1009;
    pub const INTERNAL: u16 = 1011;
}

/// Stream outbox rows (results and events): replayed after `?after=`, then live. A client
/// that reconnects with the last `seq` it saw misses nothing still in the outbox; a cursor
/// past the newest row streams from the newest row on.
///
/// Frames from the agent are JSON text, one per frame:
/// - an outbox row: `{"seq": 42, "created_at": 1764000000000, "item": {"type": "result", ...}}`;
/// - an error, in the API's error shape: `{"error": {"code": "unexpected_message", "message": "..."}}`.
///   `unexpected_message` answers any text or binary frame from the client (the stream takes
///   no requests) and the stream goes on; `store` reports a failure to read the outbox, and
///   the stream then closes with 1011.
///
/// Close codes: 1000 after the client's close; 1001 when the agent shuts down; 1002 for a
/// WebSocket protocol violation; 1007 for a text frame that is not UTF-8; 1009 for a client
/// message over 4,096 bytes; 1011 after a `store` error. The close reason says what happened.
#[utoipa::path(get, path = "/v1/events", params(EventsQuery),
    responses(
        (status = 101, description = "WebSocket stream of outbox rows (frames above)"),
        (status = 400, description = "Not a WebSocket upgrade, or an invalid `after`", body = ErrorBody)),
    security(("bearer" = [])), tag = "events")]
pub async fn stream(
    State(state): State<AppState>,
    Query(q): Query<EventsQuery>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    if let Some(after) = q.after.filter(|a| *a > MAX_SEQ) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!(
                "query parameter `after`: {after} is past the largest sequence number, {MAX_SEQ}"
            ),
        )
        .field("after"));
    }
    let ws = ws.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "websocket_required",
            format!("this endpoint speaks WebSocket: {e}"),
        )
    })?;
    let store = state.dispatcher.store().clone();
    Ok(ws
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| session(socket, store, q.after)))
}

/// How a stream ends.
enum End {
    /// The client closed or vanished: nobody to tell.
    Gone,
    /// We end it: send this close frame.
    Close(u16, String),
}

async fn session(mut socket: WebSocket, store: Store, after: Option<u64>) {
    let end = follow(&mut socket, &store, after).await;
    if let End::Close(code, reason) = end {
        tracing::debug!(code, reason, "events: closing the stream");
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        // Best effort: the client may be gone already.
        let _ = socket.send(Message::Close(Some(frame))).await;
    }
}

async fn follow(socket: &mut WebSocket, store: &Store, after: Option<u64>) -> End {
    // Subscribe before reading the backlog so nothing committed in between is missed.
    let mut live = store.subscribe();
    let head = match store.stats().await {
        Ok(s) => s.head,
        Err(e) => return store_failed(socket, e).await,
    };
    // A cursor past the head names rows this store never wrote (a store rebuilt since, or a
    // made-up number): waiting for the store to reach it would be a silent stall, so such a
    // client streams from the head, as a new one does.
    let mut last = match after {
        Some(a) => match catch_up(socket, store, a.min(head)).await {
            Ok(last) => last,
            Err(end) => return end,
        },
        None => head,
    };
    loop {
        tokio::select! {
            msg = socket.recv() => match msg {
                None | Some(Ok(Message::Close(_))) => return End::Gone,
                Some(Err(e)) => return violation(&e),
                Some(Ok(Message::Text(_) | Message::Binary(_))) => {
                    let frame = error_frame(
                        "unexpected_message",
                        "this stream takes no messages; it sends outbox rows, and a client \
                         resumes by reconnecting with ?after=<last seq>",
                    );
                    if socket.send(Message::Text(frame.into())).await.is_err() {
                        return End::Gone;
                    }
                }
                // The WebSocket layer answers pings itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            },
            row = live.recv() => match next_live(socket, store, row, &mut last).await {
                Ok(()) => {}
                Err(end) => return end,
            }
        }
    }
}

async fn next_live(
    socket: &mut WebSocket,
    store: &Store,
    row: Result<std::sync::Arc<OutboxRow>, RecvError>,
    last: &mut u64,
) -> Result<(), End> {
    match row {
        Ok(row) if row.seq > *last => {
            send(socket, &row).await?;
            *last = row.seq;
        }
        Ok(_) => {}
        Err(RecvError::Lagged(_)) => *last = catch_up(socket, store, *last).await?,
        Err(RecvError::Closed) => {
            return Err(End::Close(
                close::GOING_AWAY,
                "the agent is shutting down".into(),
            ))
        }
    }
    Ok(())
}

/// The close frame for a client frame the WebSocket layer refused. axum hides the
/// WebSocket library's error type (whose version is axum's, not the uplink's), so the kind is
/// read from its stable message prefixes; `issue10_events_*` tests pin each one.
fn violation(e: &axum::Error) -> End {
    let text = e.to_string();
    let (code, what) = if text.starts_with("Space limit exceeded") {
        (close::TOO_BIG, "message too big")
    } else if text.starts_with("UTF-8 encoding error") {
        (close::INVALID_DATA, "text frame is not UTF-8")
    } else if text.starts_with("WebSocket protocol error") {
        (close::PROTOCOL, "protocol error")
    } else {
        // I/O errors: the connection is gone.
        tracing::debug!(error = %text, "events: client connection failed");
        return End::Gone;
    };
    tracing::debug!(error = %text, code, "events: client broke the protocol");
    End::Close(code, close_reason(what, &text))
}

/// A close reason fits in 123 bytes (RFC 6455 section 5.5: control frames carry at most 125).
fn close_reason(what: &str, detail: &str) -> String {
    let mut s = format!("{what}: {detail}");
    if s.len() > 123 {
        let mut cut = 123;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

fn error_frame(code: &'static str, message: impl Into<String>) -> String {
    let body = ErrorBody {
        error: ErrorDetail {
            code,
            message: message.into(),
            field: None,
        },
    };
    serde_json::to_string(&body).unwrap_or_default()
}

async fn store_failed(socket: &mut WebSocket, e: outpost_core::StoreError) -> End {
    tracing::warn!(error = %e, "events: reading the outbox failed");
    let frame = error_frame("store", format!("reading the outbox failed: {e}"));
    if socket.send(Message::Text(frame.into())).await.is_err() {
        return End::Gone;
    }
    End::Close(close::INTERNAL, "reading the outbox failed".into())
}

async fn send(socket: &mut WebSocket, row: &OutboxRow) -> Result<(), End> {
    // Through the API's wire type, not the store's serialization of the row.
    let text = serde_json::to_string(&EventsRow::from(row)).map_err(|_| End::Gone)?;
    socket
        .send(Message::Text(text.into()))
        .await
        .map_err(|_| End::Gone)
}

async fn catch_up(socket: &mut WebSocket, store: &Store, mut last: u64) -> Result<u64, End> {
    loop {
        let rows = match store.outbox_after(last, PAGE).await {
            Ok(rows) => rows,
            Err(e) => return Err(store_failed(socket, e).await),
        };
        let n = rows.len();
        for row in &rows {
            send(socket, row).await?;
            last = row.seq;
        }
        if n < PAGE as usize {
            return Ok(last);
        }
    }
}
