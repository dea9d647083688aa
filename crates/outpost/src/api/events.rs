//! `/v1/events`: the outbox as a WebSocket stream, resumable from a sequence number.

use axum::{
    extract::{
        ws::{Message, WebSocket, WebSocketUpgrade},
        Query, State,
    },
    http::StatusCode,
    response::Response,
};
use outpost_core::{OutboxRow, Store};
use tokio::sync::broadcast::error::RecvError;

use super::{error::ApiError, wire::EventsQuery, AppState};

/// Rows read from the store per catch-up query.
const PAGE: u32 = 500;

/// Stream outbox rows (results and events) as JSON text frames: replayed after `?after=`,
/// then live. A client that reconnects with the last `seq` it saw misses nothing still in
/// the outbox.
#[utoipa::path(get, path = "/v1/events", params(EventsQuery),
    responses((status = 101, description = "WebSocket stream of outbox rows"), (status = 400, body = super::error::ErrorBody)),
    security(("bearer" = [])), tag = "events")]
pub async fn stream(
    State(state): State<AppState>,
    Query(q): Query<EventsQuery>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let ws = ws.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "websocket_required",
            format!("this endpoint speaks WebSocket: {e}"),
        )
    })?;
    let store = state.dispatcher.store().clone();
    Ok(ws.on_upgrade(move |socket| async move {
        if let Err(e) = follow(socket, store, q.after).await {
            tracing::debug!(error = %e, "events: stream ended");
        }
    }))
}

#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error(transparent)]
    Store(#[from] outpost_core::StoreError),
    #[error("client gone")]
    Gone,
}

async fn send(socket: &mut WebSocket, row: &OutboxRow) -> Result<(), StreamError> {
    let text = serde_json::to_string(row).map_err(|_| StreamError::Gone)?;
    socket
        .send(Message::Text(text.into()))
        .await
        .map_err(|_| StreamError::Gone)
}

async fn follow(
    mut socket: WebSocket,
    store: Store,
    after: Option<u64>,
) -> Result<(), StreamError> {
    // Subscribe before reading the backlog so nothing committed in between is missed.
    let mut live = store.subscribe();
    let mut last = match after {
        Some(a) => catch_up(&mut socket, &store, a).await?,
        None => store.stats().await?.head,
    };
    loop {
        tokio::select! {
            msg = socket.recv() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(()),
                Some(Ok(_)) => {}
            },
            row = live.recv() => match row {
                Ok(row) => {
                    if row.seq > last {
                        send(&mut socket, &row).await?;
                        last = row.seq;
                    }
                }
                Err(RecvError::Lagged(_)) => last = catch_up(&mut socket, &store, last).await?,
                Err(RecvError::Closed) => return Ok(()),
            }
        }
    }
}

async fn catch_up(
    socket: &mut WebSocket,
    store: &Store,
    mut last: u64,
) -> Result<u64, StreamError> {
    loop {
        let rows = store.outbox_after(last, PAGE).await?;
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
