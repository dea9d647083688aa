//! Delivering the outbox over one uplink: a window of unacknowledged rows read from the
//! store at this uplink's cursor. After a reconnect everything unacknowledged is sent again,
//! so duplicates are possible only within the window, and each carries its id and seq.
//!
//! Rows come from the store's live feed when they are next in line (no store read per row)
//! and from a store read only when the feed cannot have carried them: at the start of a
//! connection, after the feed lagged or skipped, or while a read left rows behind.

use std::{collections::VecDeque, sync::Arc};

use outpost_core::{OutboxItem, OutboxRow, Store, StoreError};
use outpost_proto::Delivered;
use tokio::sync::broadcast::error::RecvError;

use super::events::{AckRecordFailed, RegisterFailed, Reporter, RowUnencodable};
use crate::{api::wire::JobView, internal_event::InternalEvent};

/// Acknowledgements gathered before the cursor is written (see [`Delivery::ack_one`]).
const COMMIT_EVERY: usize = 64;
/// How long an acknowledged cursor may wait for [`COMMIT_EVERY`] before it is written anyway
/// ([`Delivery::write_due`]). An agent taking a job a second would otherwise write its cursor
/// once per result: a third of its store transactions (and flash writes, on a router) for
/// a figure whose loss to a `kill -9` costs only resending rows the peer already has, within
/// the window, with their ids.
const WRITE_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

pub struct Delivery {
    store: Store,
    /// The uplink's events (a failed cursor write is reported on it).
    rep: Reporter,
    /// This uplink's consumer name in the store (`uplink:mqtt`...).
    consumer: String,
    /// Everything up to here is acknowledged, and recorded in the store or on its way there
    /// (see [`Delivery::commit_soon`]).
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
    /// Acknowledgements since the cursor was last written ([`Delivery::ack_one`]).
    unwritten: usize,
    /// The cursor as last handed to the store.
    written: u64,
    /// Rows released from the window since the last write, reported with it.
    released: usize,
    /// When the acknowledged cursor must be written at the latest; `None` while `written`
    /// is current.
    write_by: Option<tokio::time::Instant>,
    /// Rows taken from the live feed, waiting for [`Delivery::next`] (within the window).
    ready: VecDeque<Arc<OutboxRow>>,
    /// Whether the store may hold owed rows the live feed did not hand us: only then does
    /// [`Delivery::next`] read it.
    stale: bool,
}

/// The store's live feed has closed: the store is gone.
#[derive(Debug)]
pub struct FeedClosed;

impl Delivery {
    /// Opens the cursor of consumer `uplink:NAME`, NAME being `rep`'s uplink.
    pub async fn open(
        store: Store,
        rep: Reporter,
        window: usize,
        batch: u32,
    ) -> Result<Self, StoreError> {
        let consumer = format!("uplink:{}", rep.name());
        let cursor = store.register_consumer(&consumer).await?;
        Ok(Delivery {
            store,
            rep,
            consumer,
            unwritten: 0,
            written: cursor,
            released: 0,
            write_by: None,
            cursor,
            sent: cursor,
            inflight: VecDeque::new(),
            window: window.max(1),
            batch: batch.max(1),
            ready: VecDeque::new(),
            stale: true,
        })
    }

    /// [`Delivery::open`], retried every second until it works or `shutdown` fires (then
    /// `None`): an uplink without its cursor could only resend everything.
    pub async fn open_retrying(
        store: Store,
        rep: Reporter,
        window: usize,
        batch: u32,
        shutdown: &tokio_util::sync::CancellationToken,
    ) -> Option<Self> {
        loop {
            match Self::open(store.clone(), rep.clone(), window, batch).await {
                Ok(d) => return Some(d),
                Err(error) => {
                    let consumer = format!("uplink:{}", rep.name());
                    RegisterFailed {
                        consumer: &consumer,
                        error: &error,
                    }
                    .emit(&rep);
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
        self.ready.clear();
        self.stale = true;
    }

    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    pub fn inflight(&self) -> usize {
        self.inflight.len()
    }

    /// The next rows to send, within the window: rows taken from the live feed, else a store
    /// read if the store may hold owed rows; empty when the window is full or nothing is owed.
    pub async fn next(&mut self) -> Result<Vec<Arc<OutboxRow>>, StoreError> {
        if !self.ready.is_empty() {
            return Ok(self.ready.drain(..).collect());
        }
        let room = self.window.saturating_sub(self.inflight.len());
        if room == 0 || !self.stale {
            return Ok(vec![]);
        }
        let limit = self.batch.min(room as u32);
        let rows = self.store.outbox_after(self.sent, limit).await?;
        // A short read took everything there was; what commits later comes on the feed.
        self.stale = rows.len() as u32 == limit;
        for r in &rows {
            self.inflight.push_back((r.seq, false));
            self.sent = r.seq;
        }
        Ok(rows.into_iter().map(Arc::new).collect())
    }

    /// What the store's live feed delivered: the next row owed is kept for
    /// [`Delivery::next`]; a row owed but not next (or no room for it), or a lag, means the
    /// store must be read instead.
    pub fn feed(&mut self, r: Result<Arc<OutboxRow>, RecvError>) -> Result<(), FeedClosed> {
        match r {
            Ok(row) if self.offer(&row) => self.ready.push_back(row),
            Ok(row) => self.stale |= self.wants(&row),
            Err(RecvError::Lagged(_)) => self.stale = true,
            Err(RecvError::Closed) => return Err(FeedClosed),
        }
        Ok(())
    }

    /// A row fresh from the store's live feed, taken when it is exactly the next one this
    /// uplink owes and the window has room: the common case under load.
    fn offer(&mut self, row: &OutboxRow) -> bool {
        if row.seq == self.sent + 1 && self.inflight.len() < self.window {
            self.inflight.push_back((row.seq, false));
            self.sent = row.seq;
            true
        } else {
            false
        }
    }

    /// Whether a live row not taken by [`Delivery::offer`] is still owed (not yet sent).
    fn wants(&self, row: &OutboxRow) -> bool {
        row.seq > self.sent
    }

    /// One message acknowledged (MQTT PUBACK). The window moves at once; the cursor is
    /// written in batches, every [`COMMIT_EVERY`] acknowledgements, else by
    /// [`Delivery::write_due`] ([`WRITE_WITHIN`] after the first one not yet written), without
    /// waiting: losing the last few to a crash only means resending them, within the window.
    /// Returns the rows released that are not reported yet, when it reports them.
    pub fn ack_one(&mut self, seq: u64) -> usize {
        if let Some(e) = self.inflight.iter_mut().find(|(s, _)| *s == seq) {
            e.1 = true;
        }
        self.unwritten += 1;
        if self.unwritten >= COMMIT_EVERY {
            return self.commit_soon();
        }
        self.released += self.release_acked();
        if self.cursor > self.written && self.write_by.is_none() {
            self.write_by = Some(tokio::time::Instant::now() + WRITE_WITHIN);
        }
        // Reported once the window is empty (a quiet uplink's every acknowledgement), else
        // with the write: never one metric update per PUBACK under load.
        if self.inflight.is_empty() {
            std::mem::take(&mut self.released)
        } else {
            0
        }
    }

    /// When the acknowledged cursor is owed to the store: the transport's loop calls
    /// [`Delivery::commit_soon`] then.
    pub fn write_due(&self) -> Option<tokio::time::Instant> {
        self.write_by
    }

    /// Everything up to `seq` acknowledged (the protocol's cumulative `ack`).
    pub fn ack_upto(&mut self, seq: u64) {
        for e in self.inflight.iter_mut().take_while(|(s, _)| *s <= seq) {
            e.1 = true;
        }
    }

    /// Moves the durable cursor over the acknowledged prefix. Returns rows released.
    pub async fn commit(&mut self) -> Result<usize, StoreError> {
        let n = self.release_acked() + std::mem::take(&mut self.released);
        self.unwritten = 0;
        self.write_by = None;
        if self.cursor > self.written {
            self.store.ack(&self.consumer, self.cursor).await?;
            self.written = self.cursor;
        }
        Ok(n)
    }

    /// [`Delivery::commit`] without waiting for the store: the transport's loop keeps moving
    /// while the cursor is written. The store never moves a cursor back, so these writes may
    /// land in any order; one lost to a crash only means resending, within the window, rows
    /// the peer already has.
    pub fn commit_soon(&mut self) -> usize {
        let n = self.release_acked() + std::mem::take(&mut self.released);
        self.unwritten = 0;
        self.write_by = None;
        if self.cursor > self.written {
            self.written = self.cursor;
            let (store, consumer, to) = (self.store.clone(), self.consumer.clone(), self.cursor);
            let rep = self.rep.clone();
            tokio::spawn(async move {
                if let Err(error) = store.ack(&consumer, to).await {
                    AckRecordFailed {
                        consumer: &consumer,
                        error: &error,
                    }
                    .emit(&rep);
                }
            });
        }
        n
    }

    /// Drops the acknowledged prefix from the window and moves the in-memory cursor over it:
    /// the peer has those rows, so a reconnect need not resend them even if the store write
    /// of the cursor fails (then a restart of the agent resends them, within the window).
    fn release_acked(&mut self) -> usize {
        let mut n = 0;
        while let Some((seq, true)) = self.inflight.front().copied() {
            self.inflight.pop_front();
            self.cursor = seq;
            n += 1;
        }
        n
    }
}

/// An outbox row as the envelope's text, written straight from the stored record: the
/// output's text is copied in, never rebuilt as a tree (issue 11).
pub fn encode_row(row: &OutboxRow, rep: &Reporter) -> (Delivered, String) {
    let encoded = match &row.item {
        OutboxItem::Result(rec) => (
            Delivered::Result,
            Delivered::Result.encode(row.seq, &JobView::from(rec.clone())),
        ),
        OutboxItem::Event(ev) => (Delivered::Event, Delivered::Event.encode(row.seq, ev)),
    };
    match encoded {
        (kind, Ok(text)) => (kind, text),
        // Records and events are plain data (string keys, text payloads): serializing them
        // cannot fail. Were it ever to, the peer still gets the row's sequence number, so
        // its acknowledgement moves the cursor on instead of stalling delivery.
        (kind, Err(error)) => {
            RowUnencodable {
                seq: row.seq,
                error: &error,
            }
            .emit(rep);
            let text = kind
                .encode(row.seq, &serde_json::Value::Null)
                .unwrap_or_default();
            (kind, text)
        }
    }
}

#[cfg(test)]
mod tests {
    use outpost_core::{CoreMetrics, Event, Store, StoreConfig};

    use super::Delivery;
    use crate::uplink::{events::Reporter, UplinkMetrics};

    fn rep() -> Reporter {
        Reporter::new("test", UplinkMetrics::default())
    }

    async fn store(dir: &tempfile::TempDir) -> Store {
        let cfg = StoreConfig::new(dir.path().join("s.db"));
        Store::open(cfg, CoreMetrics::default()).unwrap().0
    }

    /// The live-feed shortcut takes a row only when it is exactly the next one owed and
    /// the window has room; anything else is left to a store read, which finds it.
    #[tokio::test]
    async fn issue5_delivery_takes_live_rows_only_in_order_and_within_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let mut live = store.subscribe();
        let mut d = Delivery::open(store.clone(), rep(), 2, 16).await.unwrap();
        for i in 0..4 {
            store
                .append_event(Event::new("t", serde_json::json!({ "i": i })))
                .await
                .unwrap();
        }
        // The store answers a commit before it publishes the rows: wait for them.
        let mut rows = vec![];
        for _ in 0..4 {
            let r = tokio::time::timeout(std::time::Duration::from_secs(10), live.recv());
            rows.push(r.await.unwrap().unwrap());
        }
        assert!(!d.offer(&rows[1]), "a gap is not taken");
        assert!(d.wants(&rows[1]));
        assert!(d.offer(&rows[0]));
        assert!(
            !d.offer(&rows[0]) && !d.wants(&rows[0]),
            "a row already sent"
        );
        assert!(d.offer(&rows[1]));
        assert!(!d.offer(&rows[2]), "the window (2) is full");
        assert!(d.wants(&rows[2]));
        // Acknowledged out of order: the cursor moves over the contiguous prefix only.
        assert_eq!(d.ack_one(rows[1].seq), 0);
        assert_eq!(
            d.ack_one(rows[0].seq),
            2,
            "all in flight acknowledged: reported"
        );
        assert_eq!(d.cursor(), rows[1].seq, "the window moved at once");
        let due = d.write_due().expect("the write is owed");
        assert!(due <= tokio::time::Instant::now() + super::WRITE_WITHIN);
        let before = Delivery::open(store.clone(), rep(), 2, 16).await.unwrap();
        assert_eq!(before.cursor(), 0, "the store's cursor waits for the write");
        assert_eq!(d.commit_soon(), 0, "nothing left to report");
        assert!(d.write_due().is_none());
        // The store read resumes exactly where the feed stopped.
        let next = d.next().await.unwrap();
        assert_eq!(
            next.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [rows[2].seq, rows[3].seq]
        );
        // The cursor written in the background is the one a restart finds.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let again = Delivery::open(store.clone(), rep(), 2, 16).await.unwrap();
            if again.cursor() == rows[1].seq {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "cursor never recorded"
            );
            tokio::task::yield_now().await;
        }
    }
}
