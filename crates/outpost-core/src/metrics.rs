//! The core's own figures, in a prometheus-client registry the binary extends and serves.
//!
//! Each figure has one place that moves it (vector's internal-event discipline), so
//! `/metrics` and the logs never disagree.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindOutcome {
    pub kind: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    pub reason: String,
}

/// Handles to the core's metrics; cheap to clone.
#[derive(Clone, Default)]
pub struct CoreMetrics {
    /// Finished jobs by kind and terminal state.
    pub jobs: Family<KindOutcome, Counter>,
    /// Jobs refused at submission, by reason (`busy`, `unknown_kind`, `bad_params`, `shutting_down`).
    pub jobs_rejected: Family<Reason, Counter>,
    /// Jobs accepted and not yet finished (queued or running): the bounded queue's depth.
    pub queue_depth: Gauge,
    /// Jobs holding an executor slot right now.
    pub jobs_running: Gauge,
    /// Outbox rows not yet acknowledged by every consumer.
    pub outbox_depth: Gauge,
    /// Outbox rows removed by a size or age limit before every consumer acknowledged them.
    pub outbox_dropped: Counter,
    /// Bytes the store occupies on disk, database plus write-ahead log.
    pub store_bytes: Gauge,
    /// Store write batches committed; with `store_batch_rows`, shows group commit at work.
    pub store_commits: Counter,
    /// Commands handled across all committed batches.
    pub store_batch_rows: Counter,
    /// Of `store_commits`, those made on the caller's thread (the store idle: one small
    /// write, no hand-off to the store thread and back).
    pub store_inline_commits: Counter,
}

impl CoreMetrics {
    pub fn register(&self, reg: &mut Registry) {
        reg.register(
            "outpost_jobs",
            "Finished jobs by kind and outcome",
            self.jobs.clone(),
        );
        reg.register(
            "outpost_jobs_rejected",
            "Jobs refused at submission, by reason",
            self.jobs_rejected.clone(),
        );
        reg.register(
            "outpost_queue_depth",
            "Jobs accepted and not yet finished",
            self.queue_depth.clone(),
        );
        reg.register(
            "outpost_jobs_running",
            "Jobs running on an executor now",
            self.jobs_running.clone(),
        );
        reg.register(
            "outpost_outbox_depth",
            "Outbox rows awaiting acknowledgement",
            self.outbox_depth.clone(),
        );
        reg.register(
            "outpost_outbox_dropped",
            "Outbox rows dropped by size or age limits before acknowledgement",
            self.outbox_dropped.clone(),
        );
        reg.register(
            "outpost_store_size_bytes",
            "Store size on disk (database and WAL)",
            self.store_bytes.clone(),
        );
        reg.register(
            "outpost_store_commits",
            "Store transactions committed",
            self.store_commits.clone(),
        );
        reg.register(
            "outpost_store_commands",
            "Store commands handled in committed transactions",
            self.store_batch_rows.clone(),
        );
        reg.register(
            "outpost_store_inline_commits",
            "Store commits made on the writer's own thread, the store being idle",
            self.store_inline_commits.clone(),
        );
    }

    pub fn reject(&self, reason: &str) {
        self.jobs_rejected
            .get_or_create(&Reason {
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub fn finished(&self, kind: &str, outcome: &str) {
        self.jobs
            .get_or_create(&KindOutcome {
                kind: kind.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }
}
