//! The thread that owns the SQLite connection and commits in groups.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::{schema, OutboxItem, OutboxRow, StoreConfig, StoreError, StoreStats};
use crate::{
    clock::now_ms,
    event::Event,
    job::{JobError, JobId, JobRecord, JobState},
    json::RawJson,
    metrics::CoreMetrics,
};

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

pub(super) enum Command {
    InsertJob {
        record: Box<JobRecord>,
        reply: Reply<()>,
    },
    FinishJob {
        record: Box<JobRecord>,
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
}

/// What the thread keeps in memory between batches, so hot paths avoid queries.
pub(super) struct State {
    /// Rows in `jobs`; compared with the row limit after each commit.
    jobs: u64,
    /// Highest outbox seq ever assigned.
    head: u64,
    /// Consumer name to last acknowledged seq.
    cursors: HashMap<String, u64>,
    /// Rows dropped by limits before acknowledgement, ever.
    dropped: u64,
    last_row_trim: Instant,
    last_age_trim: Instant,
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
const ROW_TRIM_EVERY: Duration = Duration::from_secs(1);
const AGE_TRIM_EVERY: Duration = Duration::from_secs(60);

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

pub(super) fn run(
    mut conn: Connection,
    config: StoreConfig,
    mut state: State,
    mut rx: mpsc::Receiver<Command>,
    publisher: super::Publisher,
    metrics: CoreMetrics,
) {
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
        let n = batch.len() as u64;
        last_len = batch.len();
        let closing = run_batch(&mut conn, &config, &mut state, &mut batch, &publisher);
        metrics.store_commits.inc();
        metrics.store_batch_rows.inc_by(n);
        if let Err(e) = trim(&mut conn, &config, &mut state, false) {
            tracing::warn!(error = %e, "store: trimming failed; will retry after the next write");
        }
        if let Some(reply) = closing {
            let res = conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(StoreError::from);
            let _ = reply.send(res);
            return;
        }
    }
}

/// Runs one batch in one transaction. Returns the Close reply if the batch asked to close.
fn run_batch(
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
    for cmd in batch.drain(..) {
        match cmd {
            Command::InsertJob { record, reply } => {
                let res = insert_job(&tx, &record).map(|()| state.jobs += 1);
                replies.push(deferred(reply, res));
            }
            Command::FinishJob { record, reply } => {
                let head = state.head;
                let res = in_savepoint(&tx, |sp| finish(sp, state, &record));
                if res.is_err() {
                    // Rolled back to the savepoint: the seq it took is free again.
                    state.head = head;
                }
                let res = res.map(|row| {
                    let seq = row.seq;
                    published.push(row);
                    seq
                });
                replies.push(deferred(reply, res));
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

fn fail(cmd: Command, msg: &str) {
    let err = || StoreError::Begin(msg.to_owned());
    match cmd {
        Command::InsertJob { reply, .. } => drop(reply.send(Err(err()))),
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
    }
}

/// A multi-statement write that must be all or nothing inside the shared batch.
fn in_savepoint<T>(
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

const JOB_COLUMNS: &str = "id, kind, params, timeout_ms, source, state, created_at, started_at, \
                           finished_at, output, error_code, error_message";

fn job_from_row(r: &Row<'_>) -> rusqlite::Result<JobRecord> {
    job_from_columns(r, 0)
}

/// A job record from [`JOB_COLUMNS`] starting at column `at` (a NULL `params` reads as
/// none: the outbox's view of a job leaves them out).
fn job_from_columns(r: &Row<'_>, at: usize) -> rusqlite::Result<JobRecord> {
    let id: String = r.get(at)?;
    let params: Option<String> = r.get(at + 2)?;
    let state: String = r.get(at + 5)?;
    let output: Option<String> = r.get(at + 9)?;
    let code: Option<String> = r.get(at + 10)?;
    let message: Option<String> = r.get(at + 11)?;
    let bad = |what: String| {
        rusqlite::Error::FromSqlConversionFailure(at, rusqlite::types::Type::Text, what.into())
    };
    Ok(JobRecord {
        id: id.parse().map_err(|_| bad(format!("job id {id:?}")))?,
        kind: r.get(at + 1)?,
        // Text the store wrote itself; a row that no longer parses shows no params rather
        // than failing the whole read.
        params: params
            .and_then(|p| RawJson::from_text(p).ok())
            .filter(|p| !p.is_null()),
        timeout_ms: r.get::<_, i64>(at + 3)?.max(0) as u64,
        source: r.get(at + 4)?,
        state: state.parse().map_err(bad)?,
        created_at: r.get(at + 6)?,
        started_at: r.get(at + 7)?,
        finished_at: r.get(at + 8)?,
        output: output.and_then(|o| RawJson::from_text(o).ok()),
        error: code.map(|code| JobError {
            code,
            message: message.unwrap_or_default(),
        }),
    })
}

fn insert_job(tx: &Transaction<'_>, r: &JobRecord) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO jobs(id, kind, params, timeout_ms, source, state, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let res = stmt.execute(params![
        r.id.to_string(),
        r.kind,
        r.params.as_ref().map_or("null", RawJson::get),
        r.timeout_ms as i64,
        r.source,
        r.state.as_str(),
        r.created_at,
    ]);
    match res {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Err(StoreError::Duplicate(r.id))
        }
        Err(e) => Err(e.into()),
    }
}

/// The record as the outbox keeps it. Cheap: the output is shared, not copied.
fn without_params(r: &JobRecord) -> JobRecord {
    JobRecord {
        params: None,
        ..r.clone()
    }
}

/// Writes the terminal state and appends the result to the outbox. Returns the row as
/// written, so what is published is exactly what was stored.
fn finish(tx: &Transaction<'_>, state: &mut State, r: &JobRecord) -> Result<OutboxRow, StoreError> {
    if write_result(tx, r)? == 0 {
        // A result for a job the store never accepted (or already trimmed): keep the
        // result anyway; losing it would be worse than a row without its request.
        insert_job(tx, r)?;
        state.jobs += 1;
        write_result(tx, r)?;
    }
    let created_at = now_ms();
    // The row names the job; readers take the record from its row (schema 2).
    let seq = tx
        .prepare_cached("INSERT INTO outbox(created_at, body, job) VALUES (?1, '', ?2)")?
        .insert(params![created_at, r.id.to_string()])?
        .max(0) as u64;
    state.head = seq;
    let item = OutboxItem::Result(without_params(r));
    Ok(OutboxRow {
        seq,
        created_at,
        item,
    })
}

/// The result columns of a job row; returns how many rows matched.
fn write_result(tx: &Transaction<'_>, r: &JobRecord) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "UPDATE jobs SET state=?2, started_at=?3, finished_at=?4, output=?5, error_code=?6,
         error_message=?7 WHERE id=?1",
    )?
    .execute(params![
        r.id.to_string(),
        r.state.as_str(),
        r.started_at,
        r.finished_at,
        r.output.as_ref().map(RawJson::get),
        r.error.as_ref().map(|e| e.code.as_str()),
        r.error.as_ref().map(|e| e.message.as_str()),
    ])
}

const INSERT_OUTBOX: &str = "INSERT INTO outbox(created_at, body) VALUES (?1, ?2)";

fn append(
    tx: &Transaction<'_>,
    state: &mut State,
    created_at: i64,
    item: &OutboxItem,
) -> Result<u64, StoreError> {
    append_with(
        &mut tx.prepare_cached(INSERT_OUTBOX)?,
        state,
        created_at,
        item,
    )
}

fn append_with(
    stmt: &mut rusqlite::CachedStatement<'_>,
    state: &mut State,
    created_at: i64,
    item: &OutboxItem,
) -> Result<u64, StoreError> {
    let body =
        serde_json::to_string(item).map_err(|e| StoreError::Encode(format!("outbox item: {e}")))?;
    let seq = stmt.insert(params![created_at, body])?.max(0) as u64;
    state.head = seq;
    Ok(seq)
}

/// Rows per multi-row INSERT of pre-encoded events: the statement's run, and the update
/// of the outbox's AUTOINCREMENT counter that comes with every run, once per this many rows.
const ENCODED_ROWS: usize = 32;

/// `INSERT INTO outbox(created_at, body) VALUES (?1, ?2), (?1, ?3), ...`, [`ENCODED_ROWS`] rows.
fn insert_encoded_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let rows: Vec<String> = (0..ENCODED_ROWS)
            .map(|i| format!("(?1, ?{})", i + 2))
            .collect();
        format!(
            "INSERT INTO outbox(created_at, body) VALUES {}",
            rows.join(", ")
        )
    })
}

/// Pre-encoded event bodies, inserted as written, all or nothing. Read back into events
/// only when someone listens live (the outbox publisher has a receiver).
fn append_encoded(
    tx: &Transaction<'_>,
    state: &mut State,
    events: &crate::EncodedEvents,
    publisher: &super::Publisher,
    published: &mut Vec<OutboxRow>,
) -> Result<u64, StoreError> {
    let created_at = now_ms();
    let head = state.head;
    let first = published.len();
    let live = publisher.get().is_some_and(|p| p.receiver_count() > 0);
    let bodies: Vec<&str> = events.bodies().collect();
    let res = in_savepoint(tx, |sp| {
        let mut many = sp.prepare_cached(insert_encoded_sql())?;
        let mut one = sp.prepare_cached(INSERT_OUTBOX)?;
        let mut params: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(ENCODED_ROWS + 1);
        let mut seq = state.head;
        for chunk in bodies.chunks(ENCODED_ROWS) {
            // The rows of one statement take consecutive seqs, the last one's rowid last.
            let last = if chunk.len() == ENCODED_ROWS {
                params.clear();
                params.push(&created_at);
                params.extend(chunk.iter().map(|b| b as &dyn rusqlite::ToSql));
                many.execute(&*params)?;
                sp.last_insert_rowid().max(0) as u64
            } else {
                let mut last = seq;
                for body in chunk {
                    last = one.insert(params![created_at, body])?.max(0) as u64;
                }
                last
            };
            if live {
                let base = last + 1 - chunk.len() as u64;
                for (i, body) in chunk.iter().enumerate() {
                    let event = crate::EncodedEvents::event(body)
                        .map_err(|e| StoreError::Encode(format!("encoded event: {e}")))?;
                    published.push(OutboxRow {
                        seq: base + i as u64,
                        created_at,
                        item: OutboxItem::Event(event),
                    });
                }
            }
            seq = last;
        }
        state.head = seq;
        Ok(seq)
    });
    if res.is_err() {
        state.head = head;
        published.truncate(first);
    }
    res
}

fn get_job(tx: &Transaction<'_>, id: JobId) -> Result<Option<JobRecord>, StoreError> {
    Ok(tx
        .prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id=?1"))?
        .query_row([id.to_string()], job_from_row)
        .optional()?)
}

fn list_jobs(
    tx: &Transaction<'_>,
    st: Option<JobState>,
    limit: u32,
) -> Result<Vec<JobRecord>, StoreError> {
    let rows = match st {
        Some(st) => tx
            .prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE state=?1 ORDER BY rowid DESC LIMIT ?2"
            ))?
            .query_map(params![st.as_str(), limit], job_from_row)?
            .collect::<Result<Vec<_>, _>>()?,
        None => tx
            .prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs ORDER BY rowid DESC LIMIT ?1"
            ))?
            .query_map(params![limit], job_from_row)?
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(rows)
}

/// The outbox's view of a job: its columns without the params.
const OUTBOX_JOB_COLUMNS: &str = "j.id, j.kind, NULL, j.timeout_ms, j.source, j.state, \
    j.created_at, j.started_at, j.finished_at, j.output, j.error_code, j.error_message";

fn read_outbox(tx: &Transaction<'_>, after: u64, limit: u32) -> Result<Vec<OutboxRow>, StoreError> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT o.seq, o.created_at, o.body, o.job, {OUTBOX_JOB_COLUMNS}
         FROM outbox o LEFT JOIN jobs j ON j.id = o.job
         WHERE o.seq > ?1 ORDER BY o.seq LIMIT ?2"
    ))?;
    // Sequence numbers are rowids (i64). A cursor past i64::MAX saturates, so it means
    // "after everything", never wraps negative into "replay the whole outbox".
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let mut rows = stmt.query(params![after, limit])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let created_at: i64 = r.get(1)?;
        let job: Option<String> = r.get(3)?;
        let item = match job {
            // Trimming keeps every job an outbox row names, so a missing one is damage.
            Some(id) => match r.get::<_, Option<String>>(4)? {
                Some(_) => OutboxItem::Result(job_from_columns(r, 4).map_err(|e| {
                    StoreError::Corrupt(format!("outbox row {seq}: job {id}: {e}"))
                })?),
                None => {
                    return Err(StoreError::Corrupt(format!(
                        "outbox row {seq}: job {id} is missing"
                    )))
                }
            },
            None => OutboxItem::from_json(&r.get::<_, String>(2)?)
                .map_err(|e| StoreError::Corrupt(format!("outbox row {seq}: {e}")))?,
        };
        out.push(OutboxRow {
            seq: seq.max(0) as u64,
            created_at,
            item,
        });
    }
    Ok(out)
}

fn register(tx: &Transaction<'_>, state: &mut State, name: &str) -> Result<u64, StoreError> {
    if let Some(c) = state.cursors.get(name) {
        return Ok(*c);
    }
    tx.prepare_cached("INSERT INTO consumers(name, cursor) VALUES (?1, ?2)")?
        .execute(params![name, state.head as i64])?;
    state.cursors.insert(name.to_owned(), state.head);
    Ok(state.head)
}

fn ack(tx: &Transaction<'_>, state: &mut State, name: &str, seq: u64) -> Result<(), StoreError> {
    let head = state.head;
    let Some(cursor) = state.cursors.get_mut(name) else {
        return Err(StoreError::UnknownConsumer(name.to_owned()));
    };
    let to = seq.min(head);
    if to > *cursor {
        tx.prepare_cached("UPDATE consumers SET cursor=?2 WHERE name=?1")?
            .execute(params![name, to as i64])?;
        *cursor = to;
    }
    Ok(())
}

fn first_seq(conn: &Connection) -> Result<Option<u64>, StoreError> {
    let first: Option<i64> = conn.query_row("SELECT min(seq) FROM outbox", [], |r| r.get(0))?;
    Ok(first.map(|f| f.max(0) as u64))
}

fn stats(tx: &Transaction<'_>, state: &State) -> Result<StoreStats, StoreError> {
    let first = first_seq(tx)?;
    let floor = state.cursors.values().min().copied();
    let outbox_depth = match (first, floor) {
        (None, _) => 0,
        (Some(first), Some(floor)) => state.head.saturating_sub(floor.max(first - 1)),
        (Some(first), None) => state.head + 1 - first,
    };
    let page_count: i64 = tx.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let page_size: i64 = tx.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let db_path = tx.path().map(std::path::PathBuf::from);
    let wal = db_path
        .map(|p| {
            let mut w = p.into_os_string();
            w.push("-wal");
            std::fs::metadata(w).map(|m| m.len()).unwrap_or(0)
        })
        .unwrap_or(0);
    Ok(StoreStats {
        outbox_depth,
        outbox_dropped: state.dropped,
        size_bytes: (page_count.max(0) as u64) * (page_size.max(0) as u64) + wal,
        jobs: state.jobs,
        head: state.head,
    })
}

/// Applies acknowledgement and the size and age limits. Runs after writes only, at most
/// once a second (rows) or minute (age): an idle agent does no trimming at all.
fn trim(
    conn: &mut Connection,
    config: &StoreConfig,
    state: &mut State,
    force: bool,
) -> Result<(), StoreError> {
    let rows_due = force || state.last_row_trim.elapsed() >= ROW_TRIM_EVERY;
    let age_due = force || state.last_age_trim.elapsed() >= AGE_TRIM_EVERY;
    if !rows_due && !age_due {
        return Ok(());
    }
    let tx = conn.transaction()?;
    // Counters change in memory only once the transaction commits.
    let mut dropped = state.dropped;
    let mut jobs = state.jobs;
    let floor = state.cursors.values().min().copied();
    let mut limit_cut = state.head.saturating_sub(config.outbox_max_rows);
    if age_due {
        let cutoff = now_ms() - config.outbox_max_age.as_millis() as i64;
        let young: Option<i64> = tx
            .query_row(
                "SELECT seq FROM outbox WHERE created_at > ?1 ORDER BY seq LIMIT 1",
                [cutoff],
                |r| r.get(0),
            )
            .optional()?;
        let age_cut = match young {
            Some(s) => (s.max(1) as u64) - 1,
            None => state.head,
        };
        limit_cut = limit_cut.max(age_cut);
    }
    if let Some(floor) = floor {
        if limit_cut > floor {
            let lost: i64 = tx.query_row(
                "SELECT count(*) FROM outbox WHERE seq > ?1 AND seq <= ?2",
                params![floor as i64, limit_cut as i64],
                |r| r.get(0),
            )?;
            if lost > 0 {
                dropped += lost as u64;
                tx.execute(
                    "UPDATE meta SET value=?1 WHERE key='outbox_dropped'",
                    [dropped as i64],
                )?;
            }
        }
    }
    let cut = limit_cut.max(floor.unwrap_or(0));
    if cut > 0 {
        tx.prepare_cached("DELETE FROM outbox WHERE seq <= ?1")?
            .execute([cut as i64])?;
    }
    if rows_due && jobs > config.jobs_max_rows {
        let excess = jobs - config.jobs_max_rows;
        // Jobs that an outbox row still names stay until the row goes (schema 2), so jobs
        // may exceed their limit by at most the outbox's.
        let n = tx.execute(
            "DELETE FROM jobs WHERE rowid IN (SELECT rowid FROM jobs
             WHERE state NOT IN ('queued','running') AND NOT EXISTS
               (SELECT 1 FROM outbox WHERE outbox.job = jobs.id)
             ORDER BY rowid LIMIT ?1)",
            [excess as i64],
        )?;
        jobs = jobs.saturating_sub(n as u64);
    }
    if age_due {
        let cutoff = now_ms() - config.jobs_max_age.as_millis() as i64;
        let n = tx.execute(
            "DELETE FROM jobs WHERE created_at < ?1 AND state NOT IN ('queued','running')
             AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.job = jobs.id)",
            [cutoff],
        )?;
        jobs = jobs.saturating_sub(n as u64);
    }
    tx.commit()?;
    if dropped > state.dropped {
        tracing::warn!(
            dropped = dropped - state.dropped,
            "outbox: limit reached; unacknowledged rows dropped"
        );
    }
    state.dropped = dropped;
    state.jobs = jobs;
    if rows_due {
        state.last_row_trim = Instant::now();
    }
    if age_due {
        state.last_age_trim = Instant::now();
    }
    Ok(())
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
