//! The thread that owns the SQLite connection and commits in groups.

use std::{
    collections::HashMap,
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use rusqlite::{Connection, OptionalExtension, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::{
    apps::{self, AppRow},
    inline::{checkpoint_if_due, Shared},
    rows::{
        ack, append, append_encoded, append_with, finish, get_job, insert_job, job_from_row,
        list_jobs, read_outbox, register, stats, INSERT_OUTBOX, JOB_COLUMNS,
    },
    schedules::{self, ScheduleRow},
    schema,
    trim::trim,
    OutboxItem, OutboxRow, StoreConfig, StoreError, StoreStats,
};
use crate::{
    clock::now_ms,
    event::Event,
    job::{JobError, JobId, JobRecord, JobState},
};

pub(super) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

pub(super) enum Command {
    InsertJob {
        record: Box<JobRecord>,
        reply: Reply<()>,
    },
    /// Jobs accepted together (one schedule firing): all recorded, or none.
    /// The records come back with the reply, so the caller need not keep a copy.
    InsertJobs {
        records: Vec<JobRecord>,
        reply: Reply<Vec<JobRecord>>,
    },
    FinishJob {
        record: Arc<JobRecord>,
        reply: Reply<u64>,
    },
    AppendEvent {
        event: Box<Event>,
        reply: Reply<u64>,
    },
    AppendEvents {
        events: Vec<Event>,
        reply: Reply<Vec<u64>>,
    },
    AppendEncoded {
        events: crate::EncodedEvents,
        reply: Reply<u64>,
    },
    GetJob {
        id: JobId,
        reply: Reply<Option<JobRecord>>,
    },
    ListJobs {
        state: Option<JobState>,
        limit: u32,
        reply: Reply<Vec<JobRecord>>,
    },
    ReadOutbox {
        after: u64,
        limit: u32,
        reply: Reply<Vec<OutboxRow>>,
    },
    Register {
        name: String,
        reply: Reply<u64>,
    },
    Ack {
        name: String,
        seq: u64,
        reply: Reply<()>,
    },
    Stats {
        reply: Reply<StoreStats>,
    },
    Trim {
        reply: Reply<()>,
    },
    Close {
        reply: Reply<()>,
    },
    InsertSchedule {
        row: Box<ScheduleRow>,
        reply: Reply<()>,
    },
    UpdateSchedule {
        id: String,
        spec: String,
        at: i64,
        reply: Reply<Option<ScheduleRow>>,
    },
    DeleteSchedule {
        id: String,
        reply: Reply<bool>,
    },
    GetSchedule {
        id: String,
        reply: Reply<Option<ScheduleRow>>,
    },
    ListSchedules {
        reply: Reply<Vec<ScheduleRow>>,
    },
    MarkSchedules {
        marks: Vec<(String, i64)>,
        reply: Reply<()>,
    },
    PutApp {
        row: Box<AppRow>,
        reply: Reply<()>,
    },
    DeleteApp {
        name: String,
        reply: Reply<bool>,
    },
    ListApps {
        reply: Reply<Vec<AppRow>>,
    },
    /// Nothing to write: wakes the thread to trim and checkpoint after a write committed on
    /// a caller's thread found them due (see `inline.rs`). No one waits for it.
    Maintain,
}

/// What the thread keeps in memory between batches, so hot paths avoid queries.
pub(super) struct State {
    /// Rows in `jobs`; compared with the row limit after each commit.
    pub(super) jobs: u64,
    /// Highest outbox seq ever assigned.
    pub(super) head: u64,
    /// Consumer name to last acknowledged seq.
    pub(super) cursors: HashMap<String, u64>,
    /// Rows dropped by limits before acknowledgement, ever.
    pub(super) dropped: u64,
    pub(super) last_row_trim: Instant,
    pub(super) last_age_trim: Instant,
}

/// Most commands in one transaction; bounds the latency a batch adds to its first caller.
const MAX_BATCH: usize = 2048;
/// Group commit under load. Every commit rewrites each page it touches (the jobs table, its
/// indexes, the outbox) in full, so many small commits cost far more than their rows: polling
/// through the API measured 3.5 commands per commit and the store thread at a third of the
/// agent's CPU (issue 11). When the previous batch held more than one command, commands are
/// arriving concurrently, and the thread waits this long after the first command of a batch
/// so that those arriving meanwhile share its commit. A lone command (an idle agent, one job
/// at a time) is committed at once: the wait only ever lengthens a busy agent's replies, by
/// at most this much per store write. 1 ms gave 6.4 commands per commit and 10-15% less CPU
/// per polled varbind than 300 us (bench/RESULTS.md).
const LINGER: Duration = Duration::from_millis(1);
pub(super) const ROW_TRIM_EVERY: Duration = Duration::from_secs(1);
pub(super) const AGE_TRIM_EVERY: Duration = Duration::from_secs(60);

/// A reply to send once the batch's fate is known.
type Deferred = Box<dyn FnOnce(Option<&str>) + Send>;

fn deferred<T: Send + 'static>(reply: Reply<T>, result: Result<T, StoreError>) -> Deferred {
    Box::new(move |commit_error| {
        let result = match commit_error {
            Some(msg) => Err(StoreError::Commit(msg.to_owned())),
            None => result,
        };
        let _ = reply.send(result);
    })
}

pub(super) fn open(
    config: &StoreConfig,
) -> Result<(Connection, Vec<JobRecord>, State), StoreError> {
    // Results can carry whatever a device or command returned: owner-only, from the first
    // byte. SQLite gives its -wal and -shm files the database file's mode.
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&config.path)
            .map_err(|source| StoreError::Io {
                path: config.path.clone(),
                source,
            })?;
    }
    let mut conn = Connection::open(&config.path)?;
    // One writer, this thread, ever: an exclusive lock held for the store's life spares
    // every transaction its file-lock system calls and keeps the WAL index in this
    // process's memory instead of a shared-memory file (set before WAL is first used). A
    // second agent on the same data directory gets "database is locked", not a share.
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        if config.sync_full { "FULL" } else { "NORMAL" },
    )?;
    conn.pragma_update(None, "busy_timeout", 5000)?;
    // The store thread checkpoints (inline.rs): SQLite's own would run inside whichever
    // commit crosses its threshold, which may be one made on a runtime thread.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // After the pragma, which replaces any hook: tells the committing thread the log's size.
    conn.wal_hook(Some(super::inline::note_wal));
    // A small page cache keeps idle RSS low; the working set is the tail of two tables.
    conn.pragma_update(None, "cache_size", -1024)?;
    // Room for every statement the worker caches (under 20), so none is evicted and parsed
    // again on the write path; rusqlite keeps 16 by default.
    conn.set_prepared_statement_cache_capacity(48);
    schema::migrate(&mut conn)?;

    let jobs: i64 = conn.query_row("SELECT count(*) FROM jobs", [], |r| r.get(0))?;
    let head: i64 = conn
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name='outbox'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let dropped: i64 = conn.query_row(
        "SELECT value FROM meta WHERE key='outbox_dropped'",
        [],
        |r| r.get(0),
    )?;
    let mut cursors = HashMap::new();
    {
        let mut stmt = conn.prepare("SELECT name, cursor FROM consumers")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (name, cursor) = row?;
            cursors.insert(name, cursor.max(0) as u64);
        }
    }
    let mut state = State {
        jobs: jobs.max(0) as u64,
        head: head.max(0) as u64,
        cursors,
        dropped: dropped.max(0) as u64,
        last_row_trim: Instant::now(),
        last_age_trim: Instant::now(),
    };

    let tx = conn.transaction()?;
    let interrupted = interrupt_unfinished(&tx, &mut state)?;
    tx.commit()?;
    Ok((conn, interrupted, state))
}

/// Jobs left queued or running by the previous process get their one result now.
fn interrupt_unfinished(
    tx: &Transaction<'_>,
    state: &mut State,
) -> Result<Vec<JobRecord>, StoreError> {
    let mut stmt = tx.prepare(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE state IN ('queued','running') ORDER BY rowid"
    ))?;
    let unfinished = stmt
        .query_map([], job_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    drop(stmt);
    let now = now_ms();
    let mut out = Vec::with_capacity(unfinished.len());
    for mut record in unfinished {
        record.state = JobState::Interrupted;
        record.finished_at = Some(now);
        record.error = Some(JobError {
            code: "interrupted".into(),
            message: "the agent stopped before this job finished; it was not re-run".into(),
        });
        finish(tx, state, &record)?;
        out.push(record);
    }
    Ok(out)
}

pub(super) fn run(shared: Arc<Shared>, mut rx: mpsc::Receiver<Command>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut last_len = 0;
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        if last_len > 1 {
            // Work is arriving concurrently: let the commands of the next moment share this
            // commit (see LINGER). A bounded wait, taken only while busy, on the store's own
            // thread (no runtime thread is blocked).
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(LINGER);
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(cmd) => batch.push(cmd),
                Err(_) => break,
            }
        }
        let taken = batch.len();
        last_len = taken;
        // A caller that panicked while writing inline left the transaction rolled back
        // (rusqlite rolls back on drop); the store goes on rather than refusing every write.
        let mut guard = shared.core.lock().unwrap_or_else(|p| p.into_inner());
        let core = &mut *guard;
        let Some(conn) = core.conn.as_mut() else {
            // Closed: only commands that raced the close get here.
            for cmd in batch.drain(..) {
                fail(cmd, "the store is closed");
            }
            return;
        };
        let closing = shared.commit(conn, &mut core.state, &mut batch);
        if let Err(e) = trim(conn, &shared.config, &mut core.state, false) {
            tracing::warn!(error = %e, "store: trimming failed; will retry after the next write");
        }
        if let Some(reply) = closing {
            let res = conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(StoreError::from);
            // Released now: a store reopened after `close` must not find the file locked.
            core.conn = None;
            drop(guard);
            let _ = reply.send(res);
            return;
        }
        checkpoint_if_due(conn, &mut core.checkpoint_due);
        drop(guard);
        shared.queued.fetch_sub(taken, Ordering::AcqRel);
    }
}

/// Runs one batch in one transaction. Returns the Close reply if the batch asked to close.
pub(super) fn run_batch(
    conn: &mut Connection,
    config: &StoreConfig,
    state: &mut State,
    batch: &mut Vec<Command>,
    publisher: &super::Publisher,
) -> Option<Reply<()>> {
    let mut replies: Vec<Deferred> = Vec::with_capacity(batch.len());
    let mut published: Vec<OutboxRow> = Vec::new();
    let mut closing = None;
    let mut trims = Vec::new();
    // What the batch may change in memory, restored whole if its transaction fails.
    let head_before = state.head;
    let jobs_before = state.jobs;
    // Cursors are copied only by a batch that may move them (a registration or an ack): a
    // clone of every consumer's name per batch would cost the write path allocations.
    let mut cursors_before: Option<HashMap<String, u64>> = None;

    let tx = match conn.transaction() {
        Ok(tx) => tx,
        Err(e) => {
            let msg = e.to_string();
            for cmd in batch.drain(..) {
                fail(cmd, &msg);
            }
            return None;
        }
    };
    let mut commands = batch.drain(..).peekable();
    while let Some(cmd) = commands.next() {
        match cmd {
            Command::InsertJob { record, reply } => {
                let res = insert_job(&tx, &record).map(|()| state.jobs += 1);
                replies.push(deferred(reply, res));
            }
            Command::InsertJobs { records, reply } => {
                let res =
                    in_savepoint(&tx, |sp| records.iter().try_for_each(|r| insert_job(sp, r))).map(
                        |()| {
                            state.jobs += records.len() as u64;
                            records
                        },
                    );
                replies.push(deferred(reply, res));
            }
            Command::FinishJob { record, reply } => {
                // Results that arrive together are finished together: one savepoint for the
                // run of them, not one each. Inside a savepoint SQLite copies every page a
                // statement changes, if an earlier statement of the transaction changed it, to
                // its statement journal; a savepoint per result copied the same few tail
                // pages again for every result (8 pages a check.http result, 45% of the
                // store thread: issue 14).
                let mut group = vec![(record, reply)];
                while let Some(Command::FinishJob { record, reply }) =
                    commands.next_if(|c| matches!(c, Command::FinishJob { .. }))
                {
                    group.push((record, reply));
                }
                finish_group(&tx, state, group, &mut published, &mut replies);
            }
            Command::AppendEvent { event, reply } => {
                let created_at = now_ms();
                let item = OutboxItem::Event(*event);
                let res = append(&tx, state, created_at, &item);
                if let Ok(seq) = res {
                    published.push(OutboxRow {
                        seq,
                        created_at,
                        item,
                    });
                }
                replies.push(deferred(reply, res));
            }
            Command::AppendEvents { events, reply } => {
                let created_at = now_ms();
                let head = state.head;
                let first = published.len();
                // Kept for publishing only when someone listens: a trap flood with no live
                // reader then frees each event as soon as its row is written.
                let live = publisher.get().is_some_and(|p| p.receiver_count() > 0);
                // All or nothing: a failed row rolls back the rows before it, too.
                let res = in_savepoint(&tx, |sp| {
                    // One statement for the whole batch, not a cache lookup per row.
                    let mut stmt = sp.prepare_cached(INSERT_OUTBOX)?;
                    let mut seqs = Vec::with_capacity(events.len());
                    for event in events {
                        let item = OutboxItem::Event(event);
                        let seq = append_with(&mut stmt, state, created_at, &item)?;
                        seqs.push(seq);
                        if live {
                            published.push(OutboxRow {
                                seq,
                                created_at,
                                item,
                            });
                        }
                    }
                    Ok(seqs)
                });
                if res.is_err() {
                    state.head = head;
                    published.truncate(first);
                }
                replies.push(deferred(reply, res));
            }
            Command::AppendEncoded { events, reply } => {
                let res = append_encoded(&tx, state, &events, publisher, &mut published);
                replies.push(deferred(reply, res));
            }
            Command::GetJob { id, reply } => replies.push(deferred(reply, get_job(&tx, id))),
            Command::ListJobs {
                state: st,
                limit,
                reply,
            } => replies.push(deferred(reply, list_jobs(&tx, st, limit))),
            Command::ReadOutbox {
                after,
                limit,
                reply,
            } => replies.push(deferred(reply, read_outbox(&tx, after, limit))),
            Command::Register { name, reply } => {
                cursors_before.get_or_insert_with(|| state.cursors.clone());
                replies.push(deferred(reply, register(&tx, state, &name)))
            }
            Command::Ack { name, seq, reply } => {
                cursors_before.get_or_insert_with(|| state.cursors.clone());
                replies.push(deferred(reply, ack(&tx, state, &name, seq)))
            }
            Command::Stats { reply } => replies.push(deferred(reply, stats(&tx, state))),
            Command::Close { reply } => closing = Some(reply),
            Command::Trim { reply } => trims.push(reply),
            Command::InsertSchedule { row, reply } => {
                let res = in_savepoint(&tx, |sp| schedules::insert(sp, &row));
                replies.push(deferred(reply, res))
            }
            Command::UpdateSchedule {
                id,
                spec,
                at,
                reply,
            } => replies.push(deferred(reply, schedules::update(&tx, &id, &spec, at))),
            Command::DeleteSchedule { id, reply } => {
                replies.push(deferred(reply, schedules::delete(&tx, &id)))
            }
            Command::GetSchedule { id, reply } => {
                replies.push(deferred(reply, schedules::get(&tx, &id)))
            }
            Command::ListSchedules { reply } => replies.push(deferred(reply, schedules::list(&tx))),
            Command::MarkSchedules { marks, reply } => {
                let res = in_savepoint(&tx, |sp| schedules::mark_handled(sp, &marks));
                replies.push(deferred(reply, res))
            }
            Command::PutApp { row, reply } => replies.push(deferred(reply, apps::put(&tx, &row))),
            Command::DeleteApp { name, reply } => {
                replies.push(deferred(reply, apps::delete(&tx, &name)))
            }
            Command::ListApps { reply } => replies.push(deferred(reply, apps::list(&tx))),
            Command::Maintain => {}
        }
    }
    match tx.commit() {
        Ok(()) => {
            for r in replies {
                r(None);
            }
            // No subscriber is fine: the rows are in the store for whoever comes later. One
            // that subscribed after a batch checked for listeners reads its backlog with a
            // later command, which sees this commit.
            if let Some(publisher) = publisher.get() {
                for row in published {
                    let _ = publisher.send(Arc::new(row));
                }
            }
        }
        Err(e) => {
            for r in trims.drain(..) {
                let _ = r.send(Err(StoreError::Commit(e.to_string())));
            }
            // The transaction rolled back: undo what the batch did to memory, too (head,
            // job count, and consumer cursors moved by acks or added by registrations).
            state.head = head_before;
            state.jobs = jobs_before;
            if let Some(cursors) = cursors_before {
                state.cursors = cursors;
            }
            let msg = e.to_string();
            tracing::error!(error = %msg, "store: commit failed; the batch's callers get an error");
            for r in replies {
                r(Some(&msg));
            }
        }
    }
    if !trims.is_empty() {
        let res = trim(conn, config, state, true).map_err(|e| e.to_string());
        for r in trims {
            let _ = r.send(res.clone().map_err(StoreError::Trim));
        }
    }
    closing
}

/// Finishes a run of jobs in one savepoint. When any of them fails, the savepoint is rolled
/// back and each is finished again in a savepoint of its own, so one bad result fails alone,
/// as if each had come in a batch by itself.
fn finish_group(
    tx: &Transaction<'_>,
    state: &mut State,
    group: Vec<(Arc<JobRecord>, Reply<u64>)>,
    published: &mut Vec<OutboxRow>,
    replies: &mut Vec<Deferred>,
) {
    let head = state.head;
    let jobs = state.jobs;
    let together = in_savepoint(tx, |sp| {
        group
            .iter()
            .map(|(record, _)| finish(sp, state, record))
            .collect::<Result<Vec<_>, _>>()
    });
    match together {
        Ok(rows) => {
            for (row, (_, reply)) in rows.into_iter().zip(group) {
                replies.push(deferred(reply, Ok(row.seq)));
                published.push(row);
            }
        }
        Err(_) => {
            // Rolled back to the savepoint: the seqs taken and rows counted are free again.
            state.head = head;
            state.jobs = jobs;
            for (record, reply) in group {
                let (head, jobs) = (state.head, state.jobs);
                let res = in_savepoint(tx, |sp| finish(sp, state, &record));
                if res.is_err() {
                    state.head = head;
                    state.jobs = jobs;
                }
                let res = res.map(|row| {
                    let seq = row.seq;
                    published.push(row);
                    seq
                });
                replies.push(deferred(reply, res));
            }
        }
    }
}

fn fail(cmd: Command, msg: &str) {
    let err = || StoreError::Begin(msg.to_owned());
    match cmd {
        Command::InsertJob { reply, .. } => drop(reply.send(Err(err()))),
        Command::InsertJobs { reply, .. } => drop(reply.send(Err(err()))),
        Command::FinishJob { reply, .. } | Command::AppendEvent { reply, .. } => {
            drop(reply.send(Err(err())))
        }
        Command::AppendEvents { reply, .. } => drop(reply.send(Err(err()))),
        Command::AppendEncoded { reply, .. } => drop(reply.send(Err(err()))),
        Command::GetJob { reply, .. } => drop(reply.send(Err(err()))),
        Command::ListJobs { reply, .. } => drop(reply.send(Err(err()))),
        Command::ReadOutbox { reply, .. } => drop(reply.send(Err(err()))),
        Command::Register { reply, .. } => drop(reply.send(Err(err()))),
        Command::Ack { reply, .. } | Command::Close { reply } | Command::Trim { reply } => {
            drop(reply.send(Err(err())))
        }
        Command::Stats { reply } => drop(reply.send(Err(err()))),
        Command::InsertSchedule { reply, .. } | Command::MarkSchedules { reply, .. } => {
            drop(reply.send(Err(err())))
        }
        Command::UpdateSchedule { reply, .. } | Command::GetSchedule { reply, .. } => {
            drop(reply.send(Err(err())))
        }
        Command::DeleteSchedule { reply, .. } => drop(reply.send(Err(err()))),
        Command::ListSchedules { reply } => drop(reply.send(Err(err()))),
        Command::PutApp { reply, .. } => drop(reply.send(Err(err()))),
        Command::DeleteApp { reply, .. } => drop(reply.send(Err(err()))),
        Command::ListApps { reply } => drop(reply.send(Err(err()))),
        Command::Maintain => {}
    }
}

/// A multi-statement write that must be all or nothing inside the shared batch.
pub(super) fn in_savepoint<T>(
    tx: &Transaction<'_>,
    f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    // Cached statements: a savepoint per result, parsed afresh each time, showed up in the
    // store thread's profile (issue 11).
    tx.prepare_cached("SAVEPOINT cmd")?.execute([])?;
    match f(tx) {
        Ok(v) => {
            tx.prepare_cached("RELEASE cmd")?.execute([])?;
            Ok(v)
        }
        Err(e) => {
            let _ = tx.execute_batch("ROLLBACK TO cmd; RELEASE cmd");
            Err(e)
        }
    }
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
