//! Issue 11: a result is written once. Its outbox row names the job instead of copying the
//! record, reads back exactly as it was published, keeps its job through trimming, and
//! rows written by the previous schema still read.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use outpost_core::{
    CoreMetrics, JobId, JobRecord, JobState, OutboxItem, RawJson, Store, StoreConfig,
};

fn open(path: &std::path::Path, tweak: impl FnOnce(&mut StoreConfig)) -> Store {
    let mut cfg = StoreConfig::new(path);
    tweak(&mut cfg);
    Store::open(cfg, CoreMetrics::default()).unwrap().0
}

fn finished(output: RawJson) -> JobRecord {
    JobRecord {
        id: JobId::new(),
        kind: "snmp.walk".into(),
        params: Some(serde_json::json!({"community": "[redacted]"}).into()),
        timeout_ms: 1000,
        source: "test".into(),
        state: JobState::Succeeded,
        // Now, so the age limit (a week) keeps it: only the row limit is under test.
        created_at: outpost_core::clock::now_ms(),
        started_at: Some(outpost_core::clock::now_ms()),
        finished_at: Some(outpost_core::clock::now_ms()),
        output: Some(output),
        error: None,
        schedule: None,
    }
}

fn big_output() -> RawJson {
    let rows: Vec<_> = (0..200)
        .map(|i| serde_json::json!({"oid": format!(".1.3.6.1.2.1.2.2.1.2.{i}"), "value": "x"}))
        .collect();
    RawJson::to_raw(&serde_json::json!({ "varbinds": rows })).unwrap()
}

#[tokio::test]
async fn issue11_a_result_is_written_once_and_its_outbox_row_reads_back_as_published() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = open(&path, |_| {});
    let mut live = store.subscribe();
    let rec = finished(big_output());
    let seq = store.finish_job(rec.clone()).await.unwrap();
    let published = tokio::time::timeout(Duration::from_secs(10), live.recv())
        .await
        .unwrap()
        .unwrap();
    let read = store.outbox_after(seq - 1, 1).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(&read[0], &*published, "read back = published");
    let OutboxItem::Result(r) = &read[0].item else {
        panic!("not a result")
    };
    assert_eq!(r.output, rec.output);
    assert!(r.params.is_none(), "the outbox leaves params out");
    store.close().await.unwrap();

    // On disk: the output once, in the job's row; the outbox row only names the job.
    let db = rusqlite::Connection::open(&path).unwrap();
    let (body, job): (String, String) = db
        .query_row(
            "SELECT body, job FROM outbox WHERE seq = ?1",
            [seq as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(body, "");
    assert_eq!(job, rec.id.to_string());
    let out_len: i64 = db
        .query_row(
            "SELECT length(output) FROM jobs WHERE id = ?1",
            [&job],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(out_len as usize, rec.output.as_ref().unwrap().get().len());
}

#[tokio::test]
async fn issue11_jobs_named_by_undelivered_outbox_rows_survive_job_trimming() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("t.db"), |c| c.jobs_max_rows = 2);
    store.register_consumer("slow").await.unwrap();
    let mut last = 0;
    for _ in 0..5 {
        last = store.finish_job(finished(big_output())).await.unwrap();
    }
    store.trim_now().await.unwrap();
    let rows = store.outbox_after(0, 100).await.unwrap();
    assert_eq!(rows.len(), 5, "every undelivered result is still readable");
    assert_eq!(store.stats().await.unwrap().jobs, 5, "their jobs were kept");
    store.ack("slow", last).await.unwrap();
    store.trim_now().await.unwrap();
    assert_eq!(
        store.stats().await.unwrap().jobs,
        2,
        "once delivered, the job limit applies"
    );
}

/// The first schema, as shipped: a result's row held the whole record.
const SCHEMA_1: &str = "CREATE TABLE jobs(
        id TEXT PRIMARY KEY NOT NULL, kind TEXT NOT NULL, params TEXT NOT NULL,
        timeout_ms INTEGER NOT NULL, source TEXT NOT NULL, state TEXT NOT NULL,
        created_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER, output TEXT,
        error_code TEXT, error_message TEXT);
    CREATE INDEX jobs_by_state ON jobs(state);
    CREATE TABLE outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, created_at INTEGER NOT NULL,
        body TEXT NOT NULL);
    CREATE TABLE consumers(name TEXT PRIMARY KEY NOT NULL, cursor INTEGER NOT NULL);
    CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL);
    INSERT INTO meta(key, value) VALUES ('outbox_dropped', 0);
    PRAGMA user_version = 1;";

#[tokio::test]
async fn issue11_result_rows_written_by_schema_1_still_read_after_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let mut old = finished(big_output());
    old.params = None;
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch(SCHEMA_1).unwrap();
        let body = serde_json::to_string(&OutboxItem::Result(old.clone())).unwrap();
        db.execute(
            "INSERT INTO outbox(created_at, body) VALUES (5, ?1)",
            [body],
        )
        .unwrap();
    }
    let store = open(&path, |_| {});
    let new = finished(big_output());
    store.finish_job(new.clone()).await.unwrap();
    let rows = store.outbox_after(0, 10).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].item, OutboxItem::Result(old));
    let OutboxItem::Result(r) = &rows[1].item else {
        panic!("not a result")
    };
    assert_eq!(r.id, new.id);
    assert_eq!(r.output, new.output);
}

#[tokio::test]
async fn issue11_jobs_named_by_undelivered_outbox_rows_survive_the_age_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("t.db"), |_| {});
    store.register_consumer("slow").await.unwrap();
    let mut ancient = finished(big_output());
    ancient.created_at = 1; // 1970: past any age limit
    let seq = store.finish_job(ancient).await.unwrap();
    store.trim_now().await.unwrap();
    assert_eq!(store.outbox_after(0, 10).await.unwrap().len(), 1);
    assert_eq!(store.stats().await.unwrap().jobs, 1);
    store.ack("slow", seq).await.unwrap();
    store.trim_now().await.unwrap();
    assert_eq!(store.stats().await.unwrap().jobs, 0);
}
