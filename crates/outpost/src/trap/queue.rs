//! The bounded queue from the read loop to the writer. It carries a read pass's notifications
//! as one item, so the writer is woken once per pass (every few milliseconds under load)
//! rather than once per notification, but it is bounded in notifications, as
//! `trap.queue_capacity` says: what does not fit is dropped and counted, never waited for.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc::{self, error::TrySendError};

use super::metrics::{DropReason, TrapMetrics};
use super::writer::Queued;

/// Passes the writer takes off the queue at most per store call.
const PASSES_PER_TAKE: usize = 64;

/// The read loop's end. There is one read loop, so admission needs no lock.
pub struct QueueSender {
    tx: mpsc::Sender<Vec<Queued>>,
    /// Notifications in the queue, across passes.
    depth: Arc<AtomicUsize>,
    capacity: usize,
}

/// The writer's end.
pub struct QueueReceiver {
    rx: mpsc::Receiver<Vec<Queued>>,
    depth: Arc<AtomicUsize>,
}

/// A queue that holds at most `capacity` notifications.
pub fn bounded(capacity: usize) -> (QueueSender, QueueReceiver) {
    // Every pass holds at least one notification, so the channel's own bound (in passes)
    // is never reached before the count of notifications is.
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let depth = Arc::new(AtomicUsize::new(0));
    (
        QueueSender {
            tx,
            depth: Arc::clone(&depth),
            capacity,
        },
        QueueReceiver { rx, depth },
    )
}

impl QueueSender {
    /// Queues what fits of `pass`; the rest is dropped and counted as `queue_full`.
    pub fn send(&self, mut pass: Vec<Queued>, metrics: &TrapMetrics) {
        let room = self
            .capacity
            .saturating_sub(self.depth.load(Ordering::Acquire));
        if pass.len() > room {
            let over = pass.len() - room;
            pass.truncate(room);
            metrics.dropped_by(DropReason::QueueFull, over as u64);
        }
        if pass.is_empty() {
            return;
        }
        let n = pass.len();
        self.depth.fetch_add(n, Ordering::AcqRel);
        match self.tx.try_send(pass) {
            Ok(()) => {}
            Err(TrySendError::Full(p)) | Err(TrySendError::Closed(p)) => {
                self.depth.fetch_sub(n, Ordering::AcqRel);
                metrics.dropped_by(DropReason::QueueFull, p.len() as u64);
            }
        }
    }
}

impl QueueReceiver {
    /// Everything waiting, as one batch; `None` once the sender is gone and the queue empty.
    pub async fn take(&mut self) -> Option<Vec<Queued>> {
        let mut passes = Vec::new();
        if self.rx.recv_many(&mut passes, PASSES_PER_TAKE).await == 0 {
            return None;
        }
        let mut passes = passes.into_iter();
        let mut batch = passes.next().unwrap_or_default();
        for p in passes {
            batch.extend(p);
        }
        self.depth.fetch_sub(batch.len(), Ordering::AcqRel);
        Some(batch)
    }
}
