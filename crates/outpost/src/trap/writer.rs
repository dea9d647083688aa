//! The writers: take passes off the bounded queue and make them durable (the daemon) or
//! print them (`outpost traps listen`). Passes arrive already encoded (see `pass.rs`).
//! An inform's Response is sent only after its event is committed, or its line written:
//! the receiver never acknowledges a notification it could still lose. If the store (or
//! standard output) fails, the informs are left unacknowledged (their senders retry) and
//! the drops are counted.

use std::io::Write as _;
use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt};
use outpost_core::Store;
use outpost_snmp::mib::Mib;

use super::metrics::{DropReason, TrapMetrics};
use super::pass::{Body, Pass};
use super::queue::QueueReceiver;
use super::{encode, log};

/// Store calls in flight at most (the store's channel holds 8,192 commands).
const IN_FLIGHT: usize = 8;

/// Where accepted notifications go.
#[derive(Clone)]
pub enum Sink {
    /// The daemon: the outbox, durably.
    Store(Store),
    /// `outpost traps listen`: standard output, as text lines or JSON lines.
    Print { json: bool },
}

/// The daemon's writer. Runs until every sender of the queue is gone and the queue is
/// empty, then returns with every append finished: the "all done" of a graceful stop.
/// Whatever is waiting is taken in one batch (up to 64 read passes) and stored with one
/// `append_encoded`, so the store's work per notification shrinks as the load grows.
pub async fn run_store(mut queue: QueueReceiver, store: Store, metrics: TrapMetrics) {
    let mut inflight = FuturesUnordered::new();
    let mut open = true;
    while open || !inflight.is_empty() {
        tokio::select! {
            biased;
            Some(()) = inflight.next(), if !inflight.is_empty() => {}
            batch = queue.take(), if open && inflight.len() < IN_FLIGHT => match batch {
                Some(b) => inflight.push(deliver(b, store.clone(), metrics.clone())),
                None => open = false,
            },
        }
    }
}

async fn deliver(pass: Pass, store: Store, metrics: TrapMetrics) {
    for line in &pass.logs {
        tracing::info!(target: "outpost::trap", "{line}");
    }
    let stored = match pass.body {
        Body::Events(events) => store.append_encoded(events).await.is_ok(),
        // The daemon's read loop writes events; nothing else reaches this writer.
        Body::Notifications(_) => false,
    };
    settle(stored, pass.count, &pass.replies, &metrics);
}

/// How `outpost traps listen` prints.
pub enum Style {
    /// snmptrapd-style text lines.
    Text,
    /// One `{"kind","payload"}` object per line, with MIB names.
    Json(Arc<Mib>),
}

/// `outpost traps listen`'s writer, on a thread of its own: it formats and prints, and
/// standard output may block (a slow terminal, a full pipe) without blocking anything
/// else. While it blocks, the queue fills and the read loop drops what does not fit,
/// counted as `queue_full`. Each batch of passes is formatted into one reused buffer,
/// written with one `write_all` and flushed before its informs are acknowledged.
pub fn run_print(mut queue: QueueReceiver, metrics: TrapMetrics, style: Style) {
    let stdout = std::io::stdout();
    let mut buf = String::new();
    while let Some(pass) = queue.take_blocking() {
        buf.clear();
        let written = match &pass.body {
            Body::Notifications(list) => {
                for n in list {
                    match &style {
                        Style::Text => {
                            log::write_line(&mut buf, n);
                            buf.push('\n');
                        }
                        Style::Json(mib) => encode::json_line(&mut buf, n, Some(mib)),
                    }
                }
                let mut out = stdout.lock();
                out.write_all(buf.as_bytes())
                    .and_then(|()| out.flush())
                    .is_ok()
            }
            Body::Events(_) => false,
        };
        settle(written, pass.count, &pass.replies, &metrics);
    }
}

/// Counts a batch as accepted (and acknowledges its informs) or as dropped.
fn settle(ok: bool, count: usize, replies: &[super::pass::Reply], metrics: &TrapMetrics) {
    if !ok {
        metrics.dropped_by(DropReason::StoreError, count as u64);
        return;
    }
    metrics.accepted.inc_by(count as u64);
    // Acknowledge only now: every notification of the batch is committed (or written).
    for r in replies {
        // Non-blocking: a full send buffer loses the Response, and the sender retries.
        if r.sock.send_to(&r.bytes, r.to).is_ok() {
            metrics.informs_acknowledged.inc();
        }
    }
}
