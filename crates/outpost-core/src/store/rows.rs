//! The store's rows: how jobs, results and outbox rows are written and read back, one
//! statement (cached) each. Called by the worker inside its batch's transaction.

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use super::{
    worker::{in_savepoint, State},
    OutboxItem, OutboxRow, StoreError, StoreStats,
};
use crate::{
    clock::now_ms,
    job::{JobError, JobId, JobRecord, JobState},
    json::RawJson,
};

pub(super) const JOB_COLUMNS: &str =
    "id, kind, params, timeout_ms, source, state, created_at, started_at, \
                           finished_at, output, error_code, error_message, schedule";

pub(super) fn job_from_row(r: &Row<'_>) -> rusqlite::Result<JobRecord> {
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
        schedule: r.get(at + 12)?,
    })
}

pub(super) fn insert_job(tx: &Transaction<'_>, r: &JobRecord) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO jobs(id, kind, params, timeout_ms, source, state, created_at, schedule)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let res = stmt.execute(params![
        r.id.to_string(),
        r.kind,
        r.params.as_ref().map_or("null", RawJson::get),
        r.timeout_ms as i64,
        r.source,
        r.state.as_str(),
        r.created_at,
        r.schedule,
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
pub(super) fn finish(
    tx: &Transaction<'_>,
    state: &mut State,
    r: &JobRecord,
) -> Result<OutboxRow, StoreError> {
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

pub(super) const INSERT_OUTBOX: &str = "INSERT INTO outbox(created_at, body) VALUES (?1, ?2)";

pub(super) fn append(
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

pub(super) fn append_with(
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
pub(super) fn append_encoded(
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

pub(super) fn get_job(tx: &Transaction<'_>, id: JobId) -> Result<Option<JobRecord>, StoreError> {
    Ok(tx
        .prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id=?1"))?
        .query_row([id.to_string()], job_from_row)
        .optional()?)
}

pub(super) fn list_jobs(
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
    j.created_at, j.started_at, j.finished_at, j.output, j.error_code, j.error_message, \
    j.schedule";

pub(super) fn read_outbox(
    tx: &Transaction<'_>,
    after: u64,
    limit: u32,
) -> Result<Vec<OutboxRow>, StoreError> {
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

pub(super) fn register(
    tx: &Transaction<'_>,
    state: &mut State,
    name: &str,
) -> Result<u64, StoreError> {
    if let Some(c) = state.cursors.get(name) {
        return Ok(*c);
    }
    tx.prepare_cached("INSERT INTO consumers(name, cursor) VALUES (?1, ?2)")?
        .execute(params![name, state.head as i64])?;
    state.cursors.insert(name.to_owned(), state.head);
    Ok(state.head)
}

pub(super) fn ack(
    tx: &Transaction<'_>,
    state: &mut State,
    name: &str,
    seq: u64,
) -> Result<(), StoreError> {
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

pub(super) fn stats(tx: &Transaction<'_>, state: &State) -> Result<StoreStats, StoreError> {
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
