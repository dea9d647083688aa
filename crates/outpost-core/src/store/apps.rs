//! The `apps` table (schema 4, issue 15): each declared app's Compose text as it was
//! given, where it came from (`job` or `dir`), and when it last changed. The store never
//! parses the spec: the containers component does, at start and on apply.
//! Called by the worker inside its batch's transaction.

use rusqlite::{params, Row, Transaction};

use super::StoreError;

/// One stored app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRow {
    pub name: String,
    /// `job` (declared by `app.apply`) or `dir` (a file of `containers.apps_dir`).
    pub source: String,
    /// The Compose YAML text.
    pub spec: String,
    /// Unix milliseconds.
    pub updated_at: i64,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<AppRow> {
    Ok(AppRow {
        name: r.get(0)?,
        source: r.get(1)?,
        spec: r.get(2)?,
        updated_at: r.get(3)?,
    })
}

/// Inserts or replaces the app named `row.name`.
pub(super) fn put(tx: &Transaction<'_>, row: &AppRow) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO apps(name, source, spec, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(name) DO UPDATE SET source=?2, spec=?3, updated_at=?4",
    )?
    .execute(params![row.name, row.source, row.spec, row.updated_at])?;
    Ok(())
}

pub(super) fn delete(tx: &Transaction<'_>, name: &str) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached("DELETE FROM apps WHERE name=?1")?
        .execute([name])?
        > 0)
}

/// Every app, by name.
pub(super) fn list(tx: &Transaction<'_>) -> Result<Vec<AppRow>, StoreError> {
    let rows = tx
        .prepare_cached("SELECT name, source, spec, updated_at FROM apps ORDER BY name")?
        .query_map([], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}
