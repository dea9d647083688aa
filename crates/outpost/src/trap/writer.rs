//! The writer: takes notifications off the bounded queue and makes them durable. Many
//! appends are in flight at once so the store's group commit fills its transactions. An
//! inform's Response is sent only after its event is committed: the receiver never
//! acknowledges a notification it could still lose. If the store fails, the inform is left
//! unacknowledged (its sender retries) and the drop is counted.

use std::io::Write as _;
use std::net::UdpSocket;
use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt};
use outpost_core::{Event, EventIds, Store};
use outpost_snmp::mib::Mib;

use super::log;
use super::metrics::{DropReason, TrapMetrics};
use super::normalize::Notification;
use super::queue::QueueReceiver;

/// Store calls in flight at most (the store's channel holds 8,192 commands).
const IN_FLIGHT: usize = 8;

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
/// every append finished: the "all done" of a graceful stop. Whatever is waiting is taken
/// in one batch (up to 64 read passes) and stored with one `append_events`, so the store's work
/// per notification shrinks as the load grows.
pub async fn run(
    mut queue: QueueReceiver,
    sink: Sink,
    metrics: TrapMetrics,
    log: bool,
    mib: Option<Arc<Mib>>,
) {
    let mut inflight = FuturesUnordered::new();
    let mut ids = EventIds::new();
    let mut open = true;
    while open || !inflight.is_empty() {
        tokio::select! {
            biased;
            Some(()) = inflight.next(), if !inflight.is_empty() => {}
            batch = queue.take(), if open && inflight.len() < IN_FLIGHT => match batch {
                Some(b) => {
                    let events = match sink {
                        Sink::Store(_) => encode(&b, &mut ids, mib.as_deref()),
                        Sink::Print { .. } => Vec::new(),
                    };
                    inflight.push(deliver(b, events, sink.clone(), metrics.clone(), log, mib.clone()))
                }
                None => open = false,
            },
        }
    }
}

/// The batch's events: one clock read and no randomness for the whole batch.
fn encode(batch: &[Queued], ids: &mut EventIds, mib: Option<&Mib>) -> Vec<Event> {
    ids.stamp();
    batch
        .iter()
        .map(|q| {
            let n = &q.notification;
            Event::encoded(ids, n.kind.event_kind(), n.payload_named(mib))
        })
        .collect()
}

async fn deliver(
    batch: Vec<Queued>,
    events: Vec<Event>,
    sink: Sink,
    metrics: TrapMetrics,
    log: bool,
    mib: Option<Arc<Mib>>,
) {
    if log {
        for q in &batch {
            tracing::info!(target: "outpost::trap", "{}", log::line(&q.notification));
        }
    }
    let stored = match &sink {
        Sink::Store(store) => store.append_events(events).await.is_ok(),
        Sink::Print { json } => batch
            .iter()
            .all(|q| print(&q.notification, *json, mib.as_deref())),
    };
    if !stored {
        metrics.dropped_by(DropReason::StoreError, batch.len() as u64);
        return;
    }
    metrics.accepted.inc_by(batch.len() as u64);
    // Acknowledge only now: every event of the batch is committed.
    for q in &batch {
        if let Some((sock, bytes)) = &q.reply {
            // Non-blocking: a full send buffer loses the Response, and the sender retries.
            if sock.send_to(bytes, q.notification.source).is_ok() {
                metrics.informs_acknowledged.inc();
            }
        }
    }
}

fn print(n: &Notification, json: bool, mib: Option<&Mib>) -> bool {
    let line = if json {
        let payload = n.payload_named(mib);
        let line = serde_json::json!({ "kind": n.kind.event_kind(), "payload": &*payload });
        line.to_string()
    } else {
        log::line(n)
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
}
