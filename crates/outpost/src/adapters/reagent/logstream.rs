//! Live container logs on `reswarm.logs.<serial>.<container>` (../shared/compat/reagent.md
//! §5), published only while someone is subscribed: the router's subscription
//! meta-events say so. `wamp.subscription.on_create` (the first subscriber of a topic)
//! starts one task following that container's log; `wamp.subscription.on_delete` (the
//! last one left) stops it. Nobody subscribed: no task, no engine stream, no timer.
//!
//! A task gathers lines and hands them to the pump every [`BATCH`] as one publication,
//! the lines joined with `\n`, at most [`BATCH_BYTES`]; lines beyond that are dropped,
//! counted (`outpost_reagent_log_lines_dropped`) and reported in the batch as `… N log
//! line(s) dropped` (Reagent's words). While the pump's queue is full, a batch waits and
//! keeps filling up to its cap: the task never blocks the pump, nor the pump the task.

use std::collections::HashMap;
use std::time::Duration;

use outpost_proto::wamp::Payload;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::deadline::sleep_until;

/// How long lines gather before they are published.
pub const BATCH: Duration = Duration::from_millis(200);
/// The most one publication carries (Reagent's 256 KiB).
pub const BATCH_BYTES: usize = 256 * 1024;
/// Topics followed at once; a subscription beyond is not followed (and logged).
pub const MAX_STREAMS: usize = 32;

/// A publication a task asks the pump for.
#[derive(Debug)]
pub struct Publish {
    pub topic: String,
    pub payload: Payload,
    pub acknowledge: bool,
}

/// The figures on `/metrics`.
#[derive(Clone, Default)]
pub struct LogMetrics {
    pub lines_published: Counter,
    pub lines_dropped: Counter,
    pub streams: Gauge,
}

impl LogMetrics {
    pub fn register(&self, reg: &mut prometheus_client::registry::Registry) {
        reg.register(
            "outpost_reagent_log_lines_published",
            "Container log lines published on reswarm.logs.<serial>.<container>",
            self.lines_published.clone(),
        );
        reg.register(
            "outpost_reagent_log_lines_dropped",
            "Container log lines dropped because a 200 ms batch was full (256 KiB)",
            self.lines_dropped.clone(),
        );
        reg.register(
            "outpost_reagent_log_streams",
            "Container logs followed now, one per subscribed reswarm.logs topic",
            self.streams.clone(),
        );
    }
}

/// The followed topics of one session, by the router's subscription id.
pub struct LogStreams {
    /// `reswarm.logs.<serial>.`
    prefix: String,
    engine: Option<super::stats::Engine>,
    metrics: LogMetrics,
    tx: mpsc::Sender<Publish>,
    active: HashMap<u64, CancellationToken>,
}

impl LogStreams {
    pub fn new(
        serial: &str,
        engine: Option<super::stats::Engine>,
        metrics: LogMetrics,
        tx: mpsc::Sender<Publish>,
    ) -> LogStreams {
        LogStreams {
            prefix: format!("reswarm.logs.{serial}."),
            engine,
            metrics,
            tx,
            active: HashMap::new(),
        }
    }

    /// `wamp.subscription.on_create` `[session, {id, uri, match, created}]`: a topic of
    /// ours has its first subscriber. Anything else is ignored.
    pub fn on_create(&mut self, payload: &Payload) {
        let Some(details) = payload.args.get(1) else {
            return;
        };
        let (Some(id), Some(uri)) = (
            details.get("id").and_then(Value::as_u64),
            details.get("uri").and_then(Value::as_str),
        ) else {
            return;
        };
        if details
            .get("match")
            .and_then(Value::as_str)
            .unwrap_or("exact")
            != "exact"
        {
            return;
        }
        self.follow(id, uri);
    }

    /// A subscription `id` on `uri` exists (an event, or found after joining).
    pub fn follow(&mut self, id: u64, uri: &str) {
        let Some(container) = uri.strip_prefix(&self.prefix) else {
            return;
        };
        if container.is_empty() || self.active.contains_key(&id) {
            return;
        }
        if self.active.len() >= MAX_STREAMS {
            tracing::warn!(
                topic = uri,
                "reagent: {MAX_STREAMS} log topics are followed already; not this one"
            );
            return;
        }
        let Some(engine) = self.engine.clone() else {
            tracing::warn!(
                topic = uri,
                "reagent: a log topic was subscribed, but containers are off"
            );
            return;
        };
        let cancel = CancellationToken::new();
        self.active.insert(id, cancel.clone());
        tracing::info!(
            topic = uri,
            "reagent: log topic subscribed; following the container"
        );
        tokio::spawn(follow_task(
            engine,
            container.to_owned(),
            uri.to_owned(),
            self.tx.clone(),
            self.metrics.clone(),
            cancel,
        ));
    }

    /// `wamp.subscription.on_delete` `[session, subscription]`: the last subscriber left.
    pub fn on_delete(&mut self, payload: &Payload) {
        if let Some(id) = payload.args.get(1).and_then(Value::as_u64) {
            if let Some(cancel) = self.active.remove(&id) {
                tracing::info!("reagent: log topic unsubscribed; following stopped");
                cancel.cancel();
            }
        }
    }

    /// How many topics are followed now.
    pub fn followed(&self) -> usize {
        self.active.len()
    }
}

impl Drop for LogStreams {
    /// The session ended: its subscriptions are gone with it.
    fn drop(&mut self) {
        for (_, c) in self.active.drain() {
            c.cancel();
        }
    }
}

/// The running containers' log topics, after joining: a topic subscribed before this
/// session (an agent restarted under a subscribed frontend) made no `on_create` for it, so
/// the pump asks the router with `wamp.subscription.match` (Reagent's "revive logs").
#[cfg(feature = "containers")]
pub async fn topics_to_revive(engine: &super::stats::Engine, serial: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    match engine
        .engine
        .list(&outpost_containers::ListFilter::default(), deadline)
        .await
    {
        Ok(rows) => rows
            .into_iter()
            .take(MAX_STREAMS)
            .map(|r| format!("reswarm.logs.{serial}.{}", r.name))
            .collect(),
        Err(e) => {
            tracing::debug!("reagent: listing containers for their log topics failed: {e}");
            Vec::new()
        }
    }
}

#[cfg(not(feature = "containers"))]
pub async fn topics_to_revive(_engine: &super::stats::Engine, _serial: &str) -> Vec<String> {
    Vec::new()
}

/// Counts a followed stream in the gauge for as long as it lives.
#[cfg_attr(not(feature = "containers"), allow(dead_code))]
struct Live(Gauge);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// One batch being filled.
#[cfg_attr(not(feature = "containers"), allow(dead_code))]
#[derive(Default)]
struct Batch {
    text: String,
    lines: u64,
    dropped: u64,
}

#[cfg_attr(not(feature = "containers"), allow(dead_code))]
impl Batch {
    fn push(&mut self, line: &str, m: &LogMetrics) {
        let need = line.len() + usize::from(!self.text.is_empty());
        if self.text.len() + need > BATCH_BYTES {
            self.dropped += 1;
            m.lines_dropped.inc();
            return;
        }
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.text.push_str(line);
        self.lines += 1;
    }

    fn is_empty(&self) -> bool {
        self.lines == 0 && self.dropped == 0
    }

    /// Hands the batch to the pump; `false` when the pump is gone.
    fn flush(&mut self, topic: &str, tx: &mpsc::Sender<Publish>, m: &LogMetrics) -> bool {
        if self.is_empty() {
            return true;
        }
        let mut text = std::mem::take(&mut self.text);
        if self.dropped > 0 {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!("… {} log line(s) dropped", self.dropped));
        }
        let p = Publish {
            topic: topic.to_owned(),
            payload: Payload::args(vec![Value::String(text)]),
            acknowledge: false,
        };
        match tx.try_send(p) {
            Ok(()) => {
                m.lines_published.inc_by(self.lines);
                self.lines = 0;
                self.dropped = 0;
                true
            }
            Err(mpsc::error::TrySendError::Full(p)) => {
                // Kept for the next tick: put the text back, without the drop notice.
                if let Some(Value::String(t)) = p.payload.args.into_iter().next() {
                    let keep = if self.dropped > 0 {
                        t.rsplit_once('\n')
                            .map(|(a, _)| a.to_owned())
                            .unwrap_or_default()
                    } else {
                        t
                    };
                    self.text = keep;
                }
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

#[cfg(feature = "containers")]
async fn follow_task(
    engine: super::stats::Engine,
    container: String,
    topic: String,
    tx: mpsc::Sender<Publish>,
    m: LogMetrics,
    cancel: CancellationToken,
) {
    use futures_util::StreamExt;
    use outpost_containers::logs::LogQuery;
    m.streams.inc();
    let _live = Live(m.streams.clone());
    // New lines only: the history is get_app_log_history's.
    let q = LogQuery {
        tail: Some(0),
        ..Default::default()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut lines = tokio::select! {
        s = engine.engine.logs_follow(&container, &q, deadline) => match s {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%topic, "reagent: cannot follow the container's log: {e}");
                let mut b = Batch::default();
                b.push(&format!("… cannot follow the log of {container}: {e}"), &m);
                b.flush(&topic, &tx, &m);
                return;
            }
        },
        _ = cancel.cancelled() => return,
    };
    let mut batch = Batch::default();
    let mut flush_at: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = sleep_until(flush_at) => {
                if !batch.flush(&topic, &tx, &m) {
                    return;
                }
                flush_at = (!batch.is_empty()).then(|| tokio::time::Instant::now() + BATCH);
            }
            next = lines.next() => match next {
                Some(Ok(l)) => {
                    batch.push(&l.line, &m);
                    if flush_at.is_none() {
                        flush_at = Some(tokio::time::Instant::now() + BATCH);
                    }
                }
                Some(Err(e)) => {
                    batch.push(&format!("… the log of {container} ended: {e}"), &m);
                    batch.flush(&topic, &tx, &m);
                    return;
                }
                None => {
                    // The container stopped: what was gathered still goes out.
                    batch.flush(&topic, &tx, &m);
                    return;
                }
            }
        }
    }
}

#[cfg(not(feature = "containers"))]
async fn follow_task(
    _engine: super::stats::Engine,
    _container: String,
    _topic: String,
    _tx: mpsc::Sender<Publish>,
    _m: LogMetrics,
    _cancel: CancellationToken,
) {
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue19_a_full_batch_drops_and_says_so() {
        let m = LogMetrics::default();
        let (tx, mut rx) = mpsc::channel(1);
        let mut b = Batch::default();
        let line = "x".repeat(100 * 1024);
        for _ in 0..4 {
            b.push(&line, &m);
        }
        assert_eq!((b.lines, b.dropped), (2, 2));
        assert_eq!(m.lines_dropped.get(), 2);
        assert!(b.flush("t", &tx, &m));
        let p = rx.try_recv().unwrap();
        let text = p.payload.args[0].as_str().unwrap();
        assert!(
            text.ends_with("\n… 2 log line(s) dropped"),
            "{}",
            &text[text.len() - 40..]
        );
        assert_eq!(
            text.len(),
            2 * line.len() + 1 + "\n… 2 log line(s) dropped".len()
        );
        assert_eq!(m.lines_published.get(), 2);
        assert!(b.is_empty());
        // A full queue keeps the batch for the next tick.
        b.push("a", &m);
        tx.try_send(Publish {
            topic: "t".into(),
            payload: Payload::default(),
            acknowledge: false,
        })
        .unwrap();
        assert!(b.flush("t", &tx, &m));
        assert_eq!(b.text, "a");
        drop(rx);
        assert!(!b.flush("t", &tx, &m), "the pump is gone");
    }

    #[test]
    fn issue19_meta_events_of_other_topics_are_ignored() {
        let (tx, _rx) = mpsc::channel(1);
        let mut s = LogStreams::new("SER", None, LogMetrics::default(), tx);
        s.on_create(&Payload::args(vec![
            serde_json::json!(1),
            serde_json::json!({"id": 5, "uri": "reswarm.logs.OTHER.c", "match": "exact"}),
        ]));
        s.on_create(&Payload::args(vec![serde_json::json!("bad")]));
        s.on_delete(&Payload::args(vec![
            serde_json::json!(1),
            serde_json::json!("x"),
        ]));
        assert_eq!(s.followed(), 0);
    }
}
