//! The bounded queue from the read loop to the writer. It carries a read pass's notifications
//! as one item, so the writer is woken once per pass (every few milliseconds under load)
//! rather than once per notification, but it is bounded in notifications, as
//! `trap.queue_capacity` says: what does not fit is dropped and counted, never waited for.
//! The read loop asks for [`QueueSender::room`] before it builds a pass and drops (and
//! counts) what would not fit, so a pass is never cut after it was encoded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc::{self, error::TrySendError};

use super::metrics::{DropReason, TrapMetrics};
use super::pass::Pass;

/// Passes the writer takes off the queue at most per store call.
const PASSES_PER_TAKE: usize = 64;

/// The read loop's end. There is one read loop, so admission needs no lock.
pub struct QueueSender {
    tx: mpsc::Sender<Pass>,
    /// Notifications in the queue, across passes.
    depth: Arc<AtomicUsize>,
    capacity: usize,
}

/// The writer's end.
pub struct QueueReceiver {
    rx: mpsc::Receiver<Pass>,
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
    /// Notifications that fit now. Only the writer changes the depth meanwhile, and only
    /// down, so a pass of at most this many fits when it is sent.
    pub fn room(&self) -> usize {
        self.capacity
            .saturating_sub(self.depth.load(Ordering::Acquire))
    }

    /// Queues a pass the read loop kept within [`QueueSender::room`]. Should it not fit
    /// after all (the writer is gone), its notifications are counted as `queue_full`.
    pub fn send(&self, pass: Pass, metrics: &TrapMetrics) {
        let n = pass.count;
        if n == 0 {
            return;
        }
        self.depth.fetch_add(n, Ordering::AcqRel);
        match self.tx.try_send(pass) {
            Ok(()) => {}
            Err(TrySendError::Full(p)) | Err(TrySendError::Closed(p)) => {
                self.depth.fetch_sub(n, Ordering::AcqRel);
                metrics.dropped_by(DropReason::QueueFull, p.count as u64);
            }
        }
    }
}

impl QueueReceiver {
    /// Everything waiting, as one pass; `None` once the sender is gone and the queue empty.
    pub async fn take(&mut self) -> Option<Pass> {
        let mut passes = Vec::new();
        if self.rx.recv_many(&mut passes, PASSES_PER_TAKE).await == 0 {
            return None;
        }
        Some(self.merge(passes))
    }

    /// [`QueueReceiver::take`] for a writer on a thread of its own.
    pub fn take_blocking(&mut self) -> Option<Pass> {
        let first = self.rx.blocking_recv()?;
        let mut passes = vec![first];
        while passes.len() < PASSES_PER_TAKE {
            match self.rx.try_recv() {
                Ok(p) => passes.push(p),
                Err(_) => break,
            }
        }
        Some(self.merge(passes))
    }

    fn merge(&self, passes: Vec<Pass>) -> Pass {
        let mut passes = passes.into_iter();
        let mut batch = match passes.next() {
            Some(p) => p,
            // Callers pass at least one.
            None => {
                return Pass {
                    count: 0,
                    body: super::pass::Body::Notifications(Vec::new()),
                    logs: Vec::new(),
                    replies: Vec::new(),
                }
            }
        };
        for p in passes {
            batch.append(p);
        }
        self.depth.fetch_sub(batch.count, Ordering::AcqRel);
        batch
    }
}
