//! Issue 20: a small write that finds the store idle is committed on the caller's thread
//! (no hand-off to the store thread and back), and the store thread still trims and
//! checkpoints behind such writes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use outpost_core::{CoreMetrics, JobId, JobRecord, JobState, RawJson, Store, StoreConfig};

fn finished() -> JobRecord {
    let now = outpost_core::clock::now_ms();
    JobRecord {
        id: JobId::new(),
        kind: "echo".into(),
        params: None,
        timeout_ms: 1000,
        source: "test".into(),
        state: JobState::Succeeded,
        created_at: now,
        started_at: Some(now),
        finished_at: Some(now),
        output: Some(RawJson::to_raw(&serde_json::json!({"seq": 1})).unwrap()),
        error: None,
        schedule: None,
    }
}

/// A store at `path` and the metrics it counts in.
fn open(path: &std::path::Path) -> (Store, CoreMetrics) {
    let metrics = CoreMetrics::default();
    let (store, _) = Store::open(StoreConfig::new(path), metrics.clone()).unwrap();
    (store, metrics)
}

/// One result at a time, as an agent taking one job at a time writes them: they are
/// committed inline, and the write-ahead log stays bounded because the store thread
/// checkpoints behind them (SQLite's own checkpoint is off). Without that checkpoint the
/// log would hold every commit: 54 MB here.
#[tokio::test]
async fn issue20_lone_writes_commit_inline_and_the_log_stays_checkpointed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let (store, metrics) = open(&path);
    // Just opened: no trim is due for a second and the log is nearly empty, so nothing
    // keeps the store thread busy and every lone write is committed inline.
    for _ in 0..10 {
        store.finish_job_as(finished(), true).await.unwrap();
    }
    assert_eq!(metrics.store_inline_commits.get(), 10);
    const N: u64 = 2000;
    for _ in 10..N {
        store.finish_job_as(finished(), true).await.unwrap();
    }
    // Most of the rest too; some meet the thread checkpointing or trimming, and wait.
    assert!(metrics.store_inline_commits.get() > 10);
    let wal = std::fs::metadata(path.with_extension("db-wal"))
        .unwrap()
        .len();
    assert!(wal < 8 << 20, "the write-ahead log grew to {wal} bytes");
    assert_eq!(store.outbox_after(0, 10_000).await.unwrap().len() as u64, N);
    store.close().await.unwrap();
}

/// A job's writes go to the store thread unless the caller says the job is alone: the
/// writes of concurrent jobs must meet in one group commit.
#[tokio::test]
async fn issue20_writes_of_concurrent_jobs_go_to_the_thread() {
    let dir = tempfile::tempdir().unwrap();
    let (store, metrics) = open(&dir.path().join("t.db"));
    for _ in 0..20 {
        store.finish_job(finished()).await.unwrap();
        store.finish_job_as(finished(), false).await.unwrap();
    }
    assert_eq!(metrics.store_inline_commits.get(), 0);
    assert_eq!(store.outbox_after(0, 100).await.unwrap().len(), 40);
    store.close().await.unwrap();
}

/// Acknowledged rows are trimmed with no `trim_now`: a write inline that finds the
/// once-a-second trim due wakes the store thread to do it.
#[tokio::test]
async fn issue20_inline_writes_still_trim_acknowledged_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (store, metrics) = open(&dir.path().join("t.db"));
    store.register_consumer("c").await.unwrap();
    let mut last = 0;
    for _ in 0..10 {
        last = store.finish_job_as(finished(), true).await.unwrap();
    }
    store.ack("c", last).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Writes keep coming, each inline, as on a working agent.
        store.finish_job_as(finished(), true).await.unwrap();
        let oldest = store.outbox_after(0, 1).await.unwrap();
        if oldest.first().is_some_and(|r| r.seq > last) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "acknowledged rows were never trimmed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(metrics.store_inline_commits.get() >= 10);
    store.close().await.unwrap();
}

/// `close` releases the file at once, though handles to the store remain: the store can
/// be opened again (by a restart in the same process, or by `outpost` tools).
#[tokio::test]
async fn issue20_close_releases_the_file_while_handles_remain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let (store, _) = open(&path);
    let seq = store.finish_job_as(finished(), true).await.unwrap();
    store.close().await.unwrap();
    assert!(
        store.finish_job(finished()).await.is_err(),
        "a closed store refuses writes"
    );
    let (again, _) = open(&path);
    assert_eq!(
        again
            .outbox_after(0, 10)
            .await
            .unwrap()
            .last()
            .map(|r| r.seq),
        Some(seq)
    );
    again.close().await.unwrap();
    drop(store);
}
