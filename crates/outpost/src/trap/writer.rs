//! The writer: takes notifications off the bounded queue and makes them durable. Many
//! appends are in flight at once so the store's group commit fills its transactions. An
//! inform's Response is sent only after its event is committed: the receiver never
//! acknowledges a notification it could still lose. If the store fails, the inform is left
//! unacknowledged (its sender retries) and the drop is counted.

use std::io::Write as _;
use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt};
use outpost_core::{Event, Store};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::log;
use super::metrics::{DropReason, TrapMetrics};
use super::normalize::Notification;

/// Appends in flight at most (the store's channel holds 8,192 commands).
const IN_FLIGHT: usize = 2048;

/// One accepted notification waiting for the store.
#[derive(Debug)]
pub struct Queued {
    /// The notification in normal form.
    pub notification: Box<Notification>,
    /// For an inform: the socket it came in on and the encoded Response.
    pub reply: Option<(Arc<UdpSocket>, Vec<u8>)>,
}

/// Where accepted notifications go.
#[derive(Clone)]
pub enum Sink {
    /// The daemon: the outbox, durably.
    Store(Store),
    /// `outpost traps listen`: standard output, as text lines or JSON lines.
    Print { json: bool },
}

/// Runs until every sender of the queue is gone and the queue is empty, then returns with
/// every append finished: the "all done" of a graceful stop.
pub async fn run(mut queue: mpsc::Receiver<Queued>, sink: Sink, metrics: TrapMetrics, log: bool) {
    let mut inflight = FuturesUnordered::new();
    let mut open = true;
    while open || !inflight.is_empty() {
        tokio::select! {
            biased;
            Some(()) = inflight.next(), if !inflight.is_empty() => {}
            item = queue.recv(), if open && inflight.len() < IN_FLIGHT => match item {
                Some(q) => inflight.push(deliver(q, sink.clone(), metrics.clone(), log)),
                None => open = false,
            },
        }
    }
}

async fn deliver(q: Queued, sink: Sink, metrics: TrapMetrics, log: bool) {
    let n = &q.notification;
    if log {
        tracing::info!(target: "outpost::trap", "{}", log::line(n));
    }
    let stored = match &sink {
        Sink::Store(store) => {
            let event = Event::new(n.kind.event_kind(), n.payload());
            store.append_event(event).await.is_ok()
        }
        Sink::Print { json } => print(n, *json),
    };
    if !stored {
        metrics.drop(DropReason::StoreError);
        return;
    }
    metrics.accepted.inc();
    if let Some((sock, bytes)) = &q.reply {
        if sock.send_to(bytes, n.source).await.is_ok() {
            metrics.informs_acknowledged.inc();
        }
    }
}

fn print(n: &Notification, json: bool) -> bool {
    let line = if json {
        serde_json::json!({ "kind": n.kind.event_kind(), "payload": n.payload() }).to_string()
    } else {
        log::line(n)
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
}
