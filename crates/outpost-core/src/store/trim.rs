//! Limits: acknowledged rows go, and the row and age limits drop what they must, counted.

use std::time::Instant;

use rusqlite::{params, Connection, OptionalExtension};

use super::{
    worker::{State, AGE_TRIM_EVERY, ROW_TRIM_EVERY},
    StoreConfig, StoreError,
};
use crate::clock::now_ms;

/// The row limit and acknowledgements are applied at most once a second.
pub(super) fn rows_due(state: &State) -> bool {
    state.last_row_trim.elapsed() >= ROW_TRIM_EVERY
}

/// The age limits are applied at most once a minute.
pub(super) fn age_due(state: &State) -> bool {
    state.last_age_trim.elapsed() >= AGE_TRIM_EVERY
}

/// Applies acknowledgement and the size and age limits. Runs after writes only, at most
/// once a second (rows) or minute (age): an idle agent does no trimming at all.
pub(super) fn trim(
    conn: &mut Connection,
    config: &StoreConfig,
    state: &mut State,
    force: bool,
) -> Result<(), StoreError> {
    let rows_due = force || rows_due(state);
    let age_due = force || age_due(state);
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
