//! The `schedules` table (schema 3): each schedule's spec as JSON text (its secret params
//! sealed by the agent before they get here), when it was created and last changed, and the
//! time up to which its due times were handled, so the missed-run policy survives a restart.
//! Called by the worker inside its batch's transaction.

use rusqlite::{params, OptionalExtension, Row, Transaction};

use super::StoreError;

/// One stored schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRow {
    pub id: String,
    /// The spec as JSON text; the store never looks inside.
    pub spec: String,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    /// Every due time up to here was handled (run, or skipped by a policy); `None` until
    /// the first.
    pub handled_through: Option<i64>,
}

const COLUMNS: &str = "id, spec, created_at, updated_at, handled_through";

fn from_row(r: &Row<'_>) -> rusqlite::Result<ScheduleRow> {
    Ok(ScheduleRow {
        id: r.get(0)?,
        spec: r.get(1)?,
        created_at: r.get(2)?,
        updated_at: r.get(3)?,
        handled_through: r.get(4)?,
    })
}

/// A new schedule; an existing id is [`StoreError::ScheduleExists`].
pub(super) fn insert(tx: &Transaction<'_>, row: &ScheduleRow) -> Result<(), StoreError> {
    let res = tx
        .prepare_cached(
            "INSERT INTO schedules(id, spec, created_at, updated_at, handled_through)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            row.id,
            row.spec,
            row.created_at,
            row.updated_at,
            row.handled_through
        ]);
    match res {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Err(StoreError::ScheduleExists(row.id.clone()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Replaces a schedule's spec (its creation time stays); `handled_through` is set too, so
/// due times before the change are not "missed". Returns the row as stored, `None` if
/// there is no such schedule.
pub(super) fn update(
    tx: &Transaction<'_>,
    id: &str,
    spec: &str,
    updated_at: i64,
) -> Result<Option<ScheduleRow>, StoreError> {
    let n = tx
        .prepare_cached(
            "UPDATE schedules SET spec=?2, updated_at=?3, handled_through=?3 WHERE id=?1",
        )?
        .execute(params![id, spec, updated_at])?;
    if n == 0 {
        return Ok(None);
    }
    get(tx, id)
}

pub(super) fn delete(tx: &Transaction<'_>, id: &str) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached("DELETE FROM schedules WHERE id=?1")?
        .execute([id])?
        > 0)
}

pub(super) fn get(tx: &Transaction<'_>, id: &str) -> Result<Option<ScheduleRow>, StoreError> {
    Ok(tx
        .prepare_cached(&format!("SELECT {COLUMNS} FROM schedules WHERE id=?1"))?
        .query_row([id], from_row)
        .optional()?)
}

/// Every schedule, by id.
pub(super) fn list(tx: &Transaction<'_>) -> Result<Vec<ScheduleRow>, StoreError> {
    let rows = tx
        .prepare_cached(&format!("SELECT {COLUMNS} FROM schedules ORDER BY id"))?
        .query_map([], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Moves each schedule's `handled_through` forward (never back). Unknown ids (a schedule
/// removed meanwhile) are ignored.
pub(super) fn mark_handled(
    tx: &Transaction<'_>,
    marks: &[(String, i64)],
) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "UPDATE schedules SET handled_through=?2
         WHERE id=?1 AND (handled_through IS NULL OR handled_through < ?2)",
    )?;
    for (id, t) in marks {
        stmt.execute(params![id, t])?;
    }
    Ok(())
}
