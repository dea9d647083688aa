//! App states to the backend: `reswarm.containers.update_app_on_device`, one call at a
//! time in the order the states happened, a failed call retried (at most
//! [`ATTEMPTS`] times, [`RETRY`] apart, and again after a reconnect) before the next one
//! goes out; a queue of at most [`MAX_QUEUED`], the oldest dropped and counted beyond.
//!
//! The states come from the transitions (`app_driver.rs`) and from the reconciler's events,
//! observed as the outbox carries them (consumer `reagent:apps`, a cursor of its own in the
//! store, acknowledged after each batch): `container.start` of an app requested RUNNING is
//! RUNNING (a restart after a crash), `container.die` with a non-zero exit code and
//! `app.crash_loop` are FAILED. The adapter never subscribes to the engine.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_core::{OutboxItem, OutboxRow, Store};
use serde_json::Value;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio_util::sync::CancellationToken;

use super::app_driver::AppDriver;
use super::apps::AppState;

pub const UPDATE_APP: &str = "reswarm.containers.update_app_on_device";
pub const ATTEMPTS: u32 = 5;
pub const RETRY: Duration = Duration::from_secs(2);
pub const MAX_QUEUED: usize = 256;
/// The outbox consumer's name.
pub const CONSUMER: &str = "reagent:apps";
/// Outbox rows of no concern acknowledged together.
const ACK_EVERY: u64 = 256;
pub const DROPPED_METRIC: &str = "outpost_reagent_app_reports_dropped";

/// The reports not yet answered by the backend.
#[derive(Default)]
pub struct ReportQueue {
    queue: VecDeque<(Value, u32)>,
    /// The request id of the call carrying the front report.
    in_flight: Option<u64>,
    retry_at: Option<Instant>,
    /// `outpost_reagent_app_reports_dropped`: reports given up (the queue was full, or
    /// every attempt failed).
    pub dropped: prometheus_client::metrics::counter::Counter,
}

impl ReportQueue {
    /// An empty queue counting its drops in `dropped`.
    pub fn new(dropped: prometheus_client::metrics::counter::Counter) -> Self {
        ReportQueue {
            dropped,
            ..Default::default()
        }
    }

    pub fn push(&mut self, payload: Value) {
        if self.queue.len() >= MAX_QUEUED {
            // The front may be in flight: drop the one after it.
            let at = usize::from(self.in_flight.is_some());
            if self.queue.remove(at).is_some() {
                self.dropped.inc();
                tracing::error!("reagent: {MAX_QUEUED} app states queued; the oldest dropped");
            }
        }
        self.queue.push_back((payload, 0));
    }

    /// A new session: what was in flight is sent again.
    pub fn reconnected(&mut self) {
        self.in_flight = None;
        self.retry_at = None;
    }

    /// The next report to send now, if any.
    pub fn ready(&self, now: Instant) -> Option<Value> {
        if self.in_flight.is_some() || self.retry_at.is_some_and(|t| now < t) {
            return None;
        }
        self.queue.front().map(|(p, _)| p.clone())
    }

    pub fn sent(&mut self, request: u64) {
        self.in_flight = Some(request);
        self.retry_at = None;
    }

    /// When a held retry is due.
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at.filter(|_| self.in_flight.is_none())
    }

    /// The outcome of call `request`; false when it is not ours.
    pub fn done(&mut self, request: u64, ok: bool, now: Instant) -> bool {
        if self.in_flight != Some(request) {
            return false;
        }
        self.in_flight = None;
        if ok {
            self.queue.pop_front();
            return true;
        }
        if let Some((p, attempts)) = self.queue.front_mut() {
            *attempts += 1;
            if *attempts >= ATTEMPTS {
                tracing::error!(report = %p, "reagent: update_app_on_device failed {ATTEMPTS} times; report dropped");
                self.queue.pop_front();
                self.dropped.inc();
            } else {
                self.retry_at = Some(now + RETRY);
            }
        }
        true
    }
}

/// The state an outbox event means for a Reagent app, and the app.
fn meaning(row: &OutboxRow) -> Option<(String, AppState)> {
    let OutboxItem::Event(ev) = &row.item else {
        return None;
    };
    let state = match ev.kind.as_str() {
        "container.start" => AppState::Running,
        "container.die" | "app.crash_loop" => AppState::Failed,
        _ => return None,
    };
    let p: Value = serde_json::from_str(ev.payload.get()).ok()?;
    if ev.kind == "container.die" && p["exit_code"].as_i64() == Some(0) {
        return None;
    }
    Some((p["app"].as_str()?.to_owned(), state))
}

/// Follows the outbox for the apps' events until `stop`.
pub async fn observe(store: Store, driver: Arc<AppDriver>, stop: CancellationToken) {
    let mut live = store.subscribe();
    let mut cursor = match store.register_consumer(CONSUMER).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "reagent: cannot follow the outbox; app crashes are not reported");
            return;
        }
    };
    let mut acked = cursor;
    loop {
        let first = tokio::select! {
            () = stop.cancelled() => return,
            r = live.recv() => r,
        };
        let mut rows: Vec<Arc<OutboxRow>> = Vec::new();
        let mut lagged = false;
        let mut next = Some(first);
        while let Some(r) = next.take() {
            match r {
                Ok(row) => rows.push(row),
                Err(RecvError::Lagged(_)) => lagged = true,
                Err(RecvError::Closed) => return,
            }
            // Everything already there, then one acknowledgement for the batch.
            next = match live.try_recv() {
                Ok(row) => Some(Ok(row)),
                Err(TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
                Err(_) => None,
            };
        }
        if lagged {
            // Read what was missed from the store itself.
            rows.clear();
            loop {
                match store.outbox_after(cursor, 256).await {
                    Ok(batch) if batch.is_empty() => break,
                    Ok(batch) => {
                        let last = batch.last().map_or(cursor, |r| r.seq);
                        rows.extend(batch.into_iter().map(Arc::new));
                        cursor = last;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "reagent: reading the outbox");
                        break;
                    }
                }
            }
        }
        let mut ours = false;
        for row in &rows {
            if row.seq <= cursor && !lagged {
                continue;
            }
            if let Some((app, state)) = meaning(row) {
                if driver.wants_running(&app) {
                    ours = true;
                    driver.report(&app, state).await;
                }
            }
        }
        if let Some(last) = rows.iter().map(|r| r.seq).max() {
            cursor = cursor.max(last);
            // Not a store write per job result of the whole agent: after an app's event,
            // else every ACK_EVERY rows (the few rows behind stay until then).
            if ours || lagged || cursor.saturating_sub(acked) >= ACK_EVERY {
                match store.ack(CONSUMER, cursor).await {
                    Ok(()) => acked = cursor,
                    Err(e) => tracing::warn!(error = %e, "reagent: acknowledging the outbox"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(kind: &'static str, payload: Value) -> OutboxRow {
        let raw = serde_json::value::to_raw_value(&payload).unwrap();
        OutboxRow {
            seq: 1,
            created_at: 0,
            item: OutboxItem::Event(outpost_core::Event::encoded(
                &mut outpost_core::EventIds::new(),
                kind,
                raw,
            )),
        }
    }

    #[test]
    fn issue19_app_events_mean_reagent_states() {
        let app = "prod_1_app";
        assert_eq!(
            meaning(&row("container.start", json!({"app": app}))),
            Some((app.into(), AppState::Running))
        );
        assert_eq!(
            meaning(&row("container.die", json!({"app": app, "exit_code": 3}))),
            Some((app.into(), AppState::Failed))
        );
        assert_eq!(
            meaning(&row(
                "app.crash_loop",
                json!({"app": app, "service": "app"})
            )),
            Some((app.into(), AppState::Failed))
        );
        // A clean exit is no failure; other kinds and events without an app are nothing.
        assert_eq!(
            meaning(&row("container.die", json!({"app": app, "exit_code": 0}))),
            None
        );
        assert_eq!(meaning(&row("container.oom", json!({"app": app}))), None);
        assert_eq!(meaning(&row("container.start", json!({"app": null}))), None);
    }

    #[test]
    fn issue19_app_reports_in_order_retried_then_dropped() {
        let now = Instant::now();
        let mut q = ReportQueue::default();
        assert!(q.ready(now).is_none());
        q.push(json!(1));
        q.push(json!(2));
        assert_eq!(q.ready(now), Some(json!(1)));
        q.sent(10);
        assert!(q.ready(now).is_none(), "one at a time");
        assert!(!q.done(11, true, now), "not ours");
        // A failure holds the same report back until the retry is due.
        assert!(q.done(10, false, now));
        assert!(q.ready(now).is_none());
        assert_eq!(q.retry_at(), Some(now + RETRY));
        assert_eq!(q.ready(now + RETRY), Some(json!(1)));
        q.sent(12);
        assert!(q.done(12, true, now));
        assert_eq!(q.ready(now), Some(json!(2)));
        // A reconnect sends the one in flight again.
        q.sent(13);
        q.reconnected();
        assert_eq!(q.ready(now), Some(json!(2)));
        for i in 0..ATTEMPTS {
            q.sent(20 + u64::from(i));
            q.done(20 + u64::from(i), false, now);
            q.reconnected();
        }
        assert!(q.ready(now).is_none());
        assert_eq!(q.dropped.get(), 1);
        for i in 0..(MAX_QUEUED + 3) {
            q.push(json!(i));
        }
        assert_eq!(q.queue.len(), MAX_QUEUED);
        assert_eq!(q.dropped.get(), 4);
    }
}
