//! Delivering the outbox over one uplink: a window of unacknowledged rows read from the
//! store at this uplink's cursor. After a reconnect everything unacknowledged is sent again,
//! so duplicates are possible only within the window, and each carries its id and seq.

use std::collections::VecDeque;

use outpost_core::{OutboxItem, OutboxRow, Store, StoreError};
use outpost_proto::Message;

use crate::api::wire::JobView;

pub struct Delivery {
    store: Store,
    /// This uplink's consumer name in the store (`uplink:mqtt`...).
    consumer: String,
    /// Everything up to here is acknowledged and recorded in the store.
    cursor: u64,
    /// Highest seq sent on the current connection.
    sent: u64,
    /// Seqs sent and not yet acknowledged, in order, with their acknowledged flag (MQTT
    /// acknowledges each message; the cursor only moves over a contiguous acknowledged run).
    inflight: VecDeque<(u64, bool)>,
    /// Most rows in flight at once.
    window: usize,
    /// Most rows read from the store at once.
    batch: u32,
}

impl Delivery {
    pub async fn open(
        store: Store,
        consumer: String,
        window: usize,
        batch: u32,
    ) -> Result<Self, StoreError> {
        let cursor = store.register_consumer(&consumer).await?;
        Ok(Delivery {
            store,
            consumer,
            cursor,
            sent: cursor,
            inflight: VecDeque::new(),
            window: window.max(1),
            batch: batch.max(1),
        })
    }

    /// [`Delivery::open`], retried every second until it works or `shutdown` fires (then
    /// `None`): an uplink without its cursor could only resend everything.
    pub async fn open_retrying(
        store: Store,
        consumer: String,
        window: usize,
        batch: u32,
        shutdown: &tokio_util::sync::CancellationToken,
    ) -> Option<Self> {
        loop {
            match Self::open(store.clone(), consumer.clone(), window, batch).await {
                Ok(d) => return Some(d),
                Err(e) => {
                    tracing::error!(consumer = %consumer, error = %e, "uplink: cannot register with the store; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                        _ = shutdown.cancelled() => return None,
                    }
                }
            }
        }
    }

    /// A new connection: resend everything not acknowledged.
    pub fn restart(&mut self) {
        self.sent = self.cursor;
        self.inflight.clear();
    }

    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    pub fn inflight(&self) -> usize {
        self.inflight.len()
    }

    /// The next rows to send, within the window; empty when the window is full or the
    /// outbox has nothing past what was sent.
    pub async fn next(&mut self) -> Result<Vec<OutboxRow>, StoreError> {
        let room = self.window.saturating_sub(self.inflight.len());
        if room == 0 {
            return Ok(vec![]);
        }
        let rows = self
            .store
            .outbox_after(self.sent, self.batch.min(room as u32))
            .await?;
        for r in &rows {
            self.inflight.push_back((r.seq, false));
            self.sent = r.seq;
        }
        Ok(rows)
    }

    /// Takes back every row after `seq` that [`Delivery::next`] handed out but the transport
    /// could not send yet; the next call hands them out again.
    pub fn unsend_after(&mut self, seq: u64) {
        while self.inflight.back().is_some_and(|(s, _)| *s > seq) {
            self.inflight.pop_back();
        }
        self.sent = self.sent.min(seq.max(self.cursor));
    }

    /// One message acknowledged (MQTT PUBACK).
    pub fn ack_one(&mut self, seq: u64) {
        if let Some(e) = self.inflight.iter_mut().find(|(s, _)| *s == seq) {
            e.1 = true;
        }
    }

    /// Everything up to `seq` acknowledged (the protocol's cumulative `ack`).
    pub fn ack_upto(&mut self, seq: u64) {
        for e in self.inflight.iter_mut().take_while(|(s, _)| *s <= seq) {
            e.1 = true;
        }
    }

    /// Moves the durable cursor over the acknowledged prefix. Returns rows released.
    pub async fn commit(&mut self) -> Result<usize, StoreError> {
        let mut n = 0;
        let mut to = self.cursor;
        while let Some((seq, true)) = self.inflight.front().copied() {
            self.inflight.pop_front();
            to = seq;
            n += 1;
        }
        if to > self.cursor {
            self.store.ack(&self.consumer, to).await?;
            self.cursor = to;
        }
        Ok(n)
    }
}

/// An outbox row as a protocol message.
pub fn to_message(row: &OutboxRow) -> Message {
    match &row.item {
        OutboxItem::Result(rec) => Message::Result {
            seq: row.seq,
            result: serde_json::to_value(JobView::from(rec.clone())).unwrap_or_default(),
        },
        OutboxItem::Event(ev) => Message::Event {
            seq: row.seq,
            event: serde_json::to_value(ev).unwrap_or_default(),
        },
    }
}
