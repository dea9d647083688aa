//! The store's connection, shared by its thread and, for one small write at a time, by the
//! caller itself.
//!
//! Why: a job's two writes (its record, then its result) each cost two thread hand-offs
//! when they go through the store thread: the thread wakes, commits, and wakes the caller.
//! On an agent taking one job at a time those four context switches were most of the
//! job's cost (issue 20: 6.3 switches per MQTT echo job, a quarter of its CPU in the
//! scheduler). So a write that finds the store idle is committed on the caller's thread,
//! with the same code and the same all-or-nothing reply, and the thread is left asleep.
//!
//! What keeps this safe:
//! - Only while nothing is queued for the thread ([`Shared::queued`] is zero, checked with
//!   the connection locked): a command sent earlier and still waiting (a schedule mark,
//!   see `Store::queue_schedule_marks`) is never overtaken.
//! - Only small writes: a job's record, its result, one event, a cursor. Reads of many
//!   rows, bursts of events, trims and checkpoints stay on the thread: the caller is
//!   usually a runtime thread, which must not wait on the disk.
//! - Never with `sync_full`: each commit would wait for the disk.
//! - Trims and checkpoints stay on the thread: a write inline that finds one due nudges the
//!   thread ([`Command::Maintain`]) and returns without waiting for it. A job's result
//!   nudges, its record does not, so that the trim never holds the connection while the
//!   result is waiting to be written. SQLite's automatic checkpoint is off for this reason
//!   (it runs inside whichever commit crosses its threshold); the thread checkpoints
//!   instead, at the same threshold ([`CHECKPOINT_PAGES`], read by a WAL hook after each
//!   commit).

use std::{
    cell::Cell,
    ffi::c_int,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex,
    },
};

use rusqlite::{hooks::Wal, Connection};
use tokio::sync::mpsc;

use super::{
    trim,
    worker::{run_batch, Command, Reply, State},
    Publisher, StoreConfig,
};
use crate::metrics::CoreMetrics;

/// Pages in the write-ahead log that make a checkpoint due: SQLite's own default. A
/// checkpoint writes the log's distinct pages back and syncs twice, so checkpointing more
/// often writes the same hot pages (the tails of the jobs and outbox tables) more often.
pub(super) const CHECKPOINT_PAGES: c_int = 1000;

thread_local! {
    /// Pages in the log after the last commit made on this thread, set by [`note_wal`].
    /// A commit runs its hook on the committing thread, so the value read just after a
    /// commit is that commit's, whichever store it was.
    static WAL_PAGES: Cell<c_int> = const { Cell::new(0) };
}

/// The connection's WAL hook (installed by `worker::open`).
pub(super) fn note_wal(_: &Wal, pages: c_int) -> rusqlite::Result<()> {
    WAL_PAGES.set(pages);
    Ok(())
}

/// Whether the commits made on this thread since the last call filled the log enough to
/// checkpoint it.
pub(super) fn log_full() -> bool {
    WAL_PAGES.replace(0) >= CHECKPOINT_PAGES
}

/// The connection and what the store keeps in memory beside it.
pub(super) struct Core {
    /// `None` once the store is closed: the file is released at once, not when the last
    /// handle to the store goes.
    pub(super) conn: Option<Connection>,
    pub(super) state: State,
    /// The log has reached [`CHECKPOINT_PAGES`]: the thread checkpoints after its next batch.
    pub(super) checkpoint_due: bool,
}

/// What the store thread and every [`super::Store`] handle share.
pub(super) struct Shared {
    pub(super) core: Mutex<Core>,
    /// Commands sent to the thread and not yet committed by it.
    pub(super) queued: AtomicUsize,
    pub(super) config: StoreConfig,
    pub(super) publisher: Publisher,
    pub(super) metrics: CoreMetrics,
}

impl Shared {
    /// Runs one batch in one transaction and counts the commit: the thread's batches and
    /// lone inline writes alike. Returns the Close reply if the batch asked to close.
    pub(super) fn commit(
        &self,
        conn: &mut Connection,
        state: &mut State,
        batch: &mut Vec<Command>,
    ) -> Option<Reply<()>> {
        // A nudge to trim is not a command anyone sent: the figures count what was written.
        let n = batch
            .iter()
            .filter(|c| !matches!(c, Command::Maintain))
            .count() as u64;
        let closing = run_batch(conn, &self.config, state, batch, &self.publisher);
        if n > 0 {
            self.metrics.store_commits.inc();
            self.metrics.store_batch_rows.inc_by(n);
        }
        closing
    }

    /// Runs `cmd` on this thread when the store is idle and the command is small; gives it
    /// back otherwise, to be sent to the thread. When it ran, its reply has been sent.
    pub(super) fn try_inline(
        &self,
        cmd: Command,
        thread: &mpsc::Sender<Command>,
    ) -> Result<(), Command> {
        if self.config.sync_full || !small(&cmd) || self.queued.load(Ordering::Acquire) != 0 {
            return Err(cmd);
        }
        // Never waits: a busy connection means the thread (or another caller) is writing.
        let Ok(mut core) = self.core.try_lock() else {
            return Err(cmd);
        };
        // Checked again with the connection held: a command queued meanwhile goes first.
        let core = &mut *core;
        let Some(conn) = core.conn.as_mut() else {
            return Err(cmd);
        };
        if self.queued.load(Ordering::Acquire) != 0 {
            return Err(cmd);
        }
        // A job's record is followed by its result within moments: the thread is nudged
        // after the result, so that its trim or checkpoint does not hold the connection
        // while the job's own result waits for it.
        let may_nudge = !matches!(cmd, Command::InsertJob { .. });
        let mut batch = vec![cmd];
        // A lone write never asks to close (Close is not small).
        let _ = self.commit(conn, &mut core.state, &mut batch);
        core.checkpoint_due |= log_full();
        self.metrics.store_inline_commits.inc();
        if may_nudge && (core.checkpoint_due || trim_due(&core.state)) {
            // Counted before it is sent, so no later write overtakes it. A full queue means
            // the thread is busy and will trim and checkpoint after its own batch anyway.
            self.queued.fetch_add(1, Ordering::AcqRel);
            if thread.try_send(Command::Maintain).is_err() {
                self.queued.fetch_sub(1, Ordering::AcqRel);
            }
        }
        Ok(())
    }
}

/// A write of a few rows, quick enough to commit on a runtime thread.
fn small(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::InsertJob { .. }
            | Command::FinishJob { .. }
            | Command::AppendEvent { .. }
            | Command::Ack { .. }
    )
}

fn trim_due(state: &State) -> bool {
    trim::rows_due(state) || trim::age_due(state)
}

/// After the thread's batch (and its trim): the log is checkpointed once it is full.
/// PASSIVE: never waits (there are no other connections to wait for).
pub(super) fn checkpoint_if_due(conn: &Connection, due: &mut bool) {
    *due |= log_full();
    if !*due {
        return;
    }
    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        Ok(()) => *due = false,
        // Left due: the next write goes to the thread and tries again.
        Err(e) => {
            tracing::warn!(error = %e, "store: checkpoint failed; will retry after the next write")
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::sync::atomic::Ordering;

    use tokio::sync::oneshot;

    use super::*;

    fn shared(dir: &std::path::Path, sync_full: bool) -> Shared {
        let mut config = StoreConfig::new(dir.join("t.db"));
        config.sync_full = sync_full;
        let (conn, _, state) = crate::store::worker::open(&config).unwrap();
        Shared {
            core: Mutex::new(Core {
                conn: Some(conn),
                state,
                checkpoint_due: false,
            }),
            queued: AtomicUsize::new(0),
            config,
            publisher: Publisher::default(),
            metrics: CoreMetrics::default(),
        }
    }

    fn ack() -> (Command, oneshot::Receiver<Result<(), crate::StoreError>>) {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Ack {
            name: "nobody".into(),
            seq: 1,
            reply,
        };
        (cmd, rx)
    }

    /// issue 20: a write inline never overtakes one queued for the thread, never runs
    /// beside the thread's batch, and never waits on the disk (`sync_full`); otherwise it
    /// runs, and its reply is there when `try_inline` returns.
    #[test]
    fn issue20_inline_only_when_nothing_is_queued_or_writing() {
        let dir = tempfile::tempdir().unwrap();
        let (thread, _rx) = mpsc::channel(4);
        let s = shared(dir.path(), false);

        s.queued.store(1, Ordering::Release);
        assert!(s.try_inline(ack().0, &thread).is_err(), "queued first");
        s.queued.store(0, Ordering::Release);

        let held = s.core.lock().unwrap();
        assert!(
            s.try_inline(ack().0, &thread).is_err(),
            "the connection is busy"
        );
        drop(held);

        let (cmd, mut rx) = ack();
        assert!(s.try_inline(cmd, &thread).is_ok());
        // An ack for an unknown consumer: the store's own error, given inline.
        assert!(matches!(
            rx.try_recv(),
            Ok(Err(crate::StoreError::UnknownConsumer(_)))
        ));
        assert_eq!(s.metrics.store_inline_commits.get(), 1);

        let dir2 = tempfile::tempdir().unwrap();
        let s2 = shared(dir2.path(), true);
        assert!(
            s2.try_inline(ack().0, &thread).is_err(),
            "sync_full waits for the disk"
        );
    }
}
