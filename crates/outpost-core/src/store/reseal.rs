//! Rewriting sealed documents in place with the agent stopped (`outpost secrets rotate`).
//!
//! The running store holds an exclusive lock for its whole life, so this opens the file
//! itself, and a running agent shows up as a busy store, reported as [`ResealError::InUse`].
//! Everything happens in one transaction: a failure leaves every row as it was.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags, TransactionBehavior};

/// A column of JSON documents whose secret leaves are sealed, keyed by the row id they are
/// sealed to.
#[derive(Debug, Clone, Copy)]
pub struct SealedColumn {
    pub table: &'static str,
    pub key: &'static str,
    pub column: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    #[error("the store {0} is in use: stop `outpost run` first")]
    InUse(PathBuf),
    #[error("the store {0} does not exist")]
    Missing(PathBuf),
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{table} row {id}: {reason}")]
    Row {
        table: &'static str,
        id: String,
        reason: String,
    },
}

/// Calls `f(row id, document)` for every document in `columns` that holds a sealed value
/// (the text `"$sealed"`), and writes back what it returns; all in one transaction.
/// Returns how many documents were rewritten. Tables that do not exist yet are skipped.
pub fn reseal_offline(
    db: &Path,
    columns: &[SealedColumn],
    f: &mut dyn FnMut(&str, &str) -> Result<String, String>,
) -> Result<usize, ResealError> {
    if !db.exists() {
        return Err(ResealError::Missing(db.to_owned()));
    }
    let mut conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    conn.busy_timeout(std::time::Duration::from_millis(500))?;
    let busy = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            ResealError::InUse(db.to_owned())
        }
        _ => ResealError::Sqlite(e),
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(busy)?;
    let mut rewritten = 0;
    for c in columns {
        let exists: bool = tx
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                params![c.table],
                |r| r.get(0),
            )
            .map_err(busy)?;
        if !exists {
            continue;
        }
        // Identifiers come from the compiled-in list, never from input.
        let docs: Vec<(String, String)> = {
            let mut st = tx.prepare(&format!(
                "SELECT {key}, {col} FROM {table} WHERE instr({col}, '\"$sealed\"') > 0",
                key = c.key,
                col = c.column,
                table = c.table
            ))?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut up = tx.prepare(&format!(
            "UPDATE {table} SET {col} = ?2 WHERE {key} = ?1",
            key = c.key,
            col = c.column,
            table = c.table
        ))?;
        for (id, text) in docs {
            let new = f(&id, &text).map_err(|reason| ResealError::Row {
                table: c.table,
                id: id.clone(),
                reason,
            })?;
            up.execute(params![id, new])?;
            rewritten += 1;
        }
    }
    tx.commit()?;
    Ok(rewritten)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const COLS: &[SealedColumn] = &[
        SealedColumn {
            table: "t",
            key: "id",
            column: "doc",
        },
        SealedColumn {
            table: "absent",
            key: "id",
            column: "doc",
        },
    ];

    #[test]
    fn issue13_reseal_rewrites_only_sealed_documents_in_one_transaction_and_refuses_a_locked_store()
    {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id TEXT PRIMARY KEY, doc TEXT);
             INSERT INTO t VALUES ('a', '{\"c\":{\"$sealed\":\"x\"}}'), ('b', '{\"c\":1}'),
                                  ('c', '{\"c\":{\"$sealed\":\"y\"}}');",
        )
        .unwrap();
        drop(conn);
        let mut seen = Vec::new();
        let n = reseal_offline(&db, COLS, &mut |id, doc| {
            seen.push(id.to_owned());
            Ok(doc.replace("$sealed\":\"", "$sealed\":\"new-"))
        })
        .unwrap();
        assert_eq!(n, 2);
        seen.sort();
        assert_eq!(seen, ["a", "c"]);
        let conn = Connection::open(&db).unwrap();
        let a: String = conn
            .query_row("SELECT doc FROM t WHERE id = 'a'", [], |r| r.get(0))
            .unwrap();
        assert!(a.contains("new-x"), "{a}");

        // A failure on one row leaves every row as it was.
        let e = reseal_offline(&db, COLS, &mut |id, doc| {
            if id == "c" {
                Err("boom".into())
            } else {
                Ok(doc.replace("new-", "newer-"))
            }
        })
        .unwrap_err();
        assert!(e.to_string().contains("boom"), "{e}");
        let a: String = conn
            .query_row("SELECT doc FROM t WHERE id = 'a'", [], |r| r.get(0))
            .unwrap();
        assert!(!a.contains("newer-"), "{a}");

        // Held by another connection (as the running agent holds it): InUse.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
            .unwrap();
        conn.execute_batch("BEGIN IMMEDIATE; UPDATE t SET doc = doc; COMMIT;")
            .unwrap();
        let e = reseal_offline(&db, COLS, &mut |_, d| Ok(d.to_owned())).unwrap_err();
        assert!(matches!(e, ResealError::InUse(_)), "{e}");
        assert!(matches!(
            reseal_offline(&dir.path().join("none.db"), COLS, &mut |_, d| Ok(
                d.to_owned()
            )),
            Err(ResealError::Missing(_))
        ));
    }
}
