//! Versioned migrations, applied in order and recorded in `PRAGMA user_version`.

use rusqlite::Connection;

use super::StoreError;

/// Each entry moves the schema from version `i` to `i + 1`. Never edit a shipped entry:
/// add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: jobs with their results, the outbox, consumer cursors, durable counters.
    "CREATE TABLE jobs(
        id TEXT PRIMARY KEY NOT NULL,
        kind TEXT NOT NULL,
        params TEXT NOT NULL,
        timeout_ms INTEGER NOT NULL,
        source TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER,
        output TEXT,
        error_code TEXT,
        error_message TEXT
    );
    CREATE INDEX jobs_by_state ON jobs(state);
    CREATE TABLE outbox(
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE TABLE consumers(name TEXT PRIMARY KEY NOT NULL, cursor INTEGER NOT NULL);
    CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL);
    INSERT INTO meta(key, value) VALUES ('outbox_dropped', 0);",
    // 2: a result's outbox row names its job instead of holding a second copy of the
    // record (an SNMP walk's output is kilobytes, and every byte was written twice: issue
    // 11). Rows written before keep their body and read as before. The index lets trimming
    // keep the jobs that undelivered rows still point at.
    "ALTER TABLE outbox ADD COLUMN job TEXT;
    CREATE INDEX outbox_by_job ON outbox(job) WHERE job IS NOT NULL;",
    // 3: schedules (issue 13). A schedule's spec is JSON text whose secret params are
    // sealed by the agent; `handled_through` is how far its due times were handled, so the
    // missed-run policy survives a restart. A job a schedule submitted names it.
    "CREATE TABLE schedules(
        id TEXT PRIMARY KEY NOT NULL,
        spec TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        handled_through INTEGER
    );
    ALTER TABLE jobs ADD COLUMN schedule TEXT;",
    // 4: declared apps (issue 15): each app's Compose text, where it came from (`job` or
    // `dir`), so the reconciler keeps them across a restart.
    "CREATE TABLE apps(
        name TEXT PRIMARY KEY NOT NULL,
        source TEXT NOT NULL,
        spec TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    );",
];

pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as i64;
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
