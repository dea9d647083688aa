//! Issue 2: the store's outbox semantics against a real SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use outpost_core::{
    CoreMetrics, Event, JobId, JobRecord, JobState, OutboxItem, Store, StoreConfig,
};

fn open(dir: &std::path::Path, tweak: impl FnOnce(&mut StoreConfig)) -> Store {
    let mut cfg = StoreConfig::new(dir.join("t.db"));
    tweak(&mut cfg);
    Store::open(cfg, CoreMetrics::default()).unwrap().0
}

fn event(n: u64) -> Event {
    Event::new("test", serde_json::json!({ "n": n }))
}

#[tokio::test]
async fn issue2_outbox_row_stays_until_every_consumer_acknowledges() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), |_| {});
    assert_eq!(store.register_consumer("a").await.unwrap(), 0);
    assert_eq!(store.register_consumer("b").await.unwrap(), 0);
    let mut last = 0;
    for n in 0..10 {
        last = store.append_event(event(n)).await.unwrap();
    }
    store.ack("a", last).await.unwrap();
    store.trim_now().await.unwrap();
    assert_eq!(
        store.outbox_after(0, 100).await.unwrap().len(),
        10,
        "b has not acked"
    );
    store.ack("b", 4).await.unwrap();
    store.trim_now().await.unwrap();
    let rows = store.outbox_after(0, 100).await.unwrap();
    assert_eq!(rows.first().unwrap().seq, 5);
    assert_eq!(store.stats().await.unwrap().outbox_depth, 6);
    // Acks never move a cursor backwards, nor beyond what exists.
    store.ack("b", 2).await.unwrap();
    store.ack("b", 10_000).await.unwrap();
    assert_eq!(store.register_consumer("b").await.unwrap(), last);
    assert!(store.ack("nobody", 1).await.is_err());
}

#[tokio::test]
async fn issue2_limits_drop_oldest_rows_and_count_only_unacknowledged_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), |c| c.outbox_max_rows = 10);
    store.register_consumer("slow").await.unwrap();
    for n in 0..25 {
        store.append_event(event(n)).await.unwrap();
    }
    store.ack("slow", 3).await.unwrap();
    store.trim_now().await.unwrap();
    let st = store.stats().await.unwrap();
    assert_eq!(
        st.outbox_dropped, 12,
        "rows 4..=15 were owed to `slow` and dropped"
    );
    assert_eq!(st.outbox_depth, 10);
    let rows = store.outbox_after(0, 100).await.unwrap();
    assert_eq!(
        (rows.first().unwrap().seq, rows.last().unwrap().seq),
        (16, 25)
    );
    store.close().await.unwrap();

    // Counters, cursors and sequence numbers survive a restart; seqs are never reused.
    let store = open(dir.path(), |c| c.outbox_max_rows = 10);
    assert_eq!(store.stats().await.unwrap().outbox_dropped, 12);
    assert_eq!(store.register_consumer("slow").await.unwrap(), 3);
    assert_eq!(store.append_event(event(99)).await.unwrap(), 26);
}

#[tokio::test]
async fn issue2_rows_nobody_is_owed_are_trimmed_without_counting_drops() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), |c| c.outbox_max_rows = 5);
    for n in 0..20 {
        store.append_event(event(n)).await.unwrap();
    }
    store.trim_now().await.unwrap();
    let st = store.stats().await.unwrap();
    assert_eq!((st.outbox_dropped, st.outbox_depth), (0, 5));
}

#[tokio::test]
async fn issue2_age_limit_drops_old_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), |c| c.outbox_max_age = Duration::ZERO);
    store.register_consumer("c").await.unwrap();
    store.append_event(event(1)).await.unwrap();
    store.trim_now().await.unwrap();
    let st = store.stats().await.unwrap();
    assert_eq!((st.outbox_dropped, st.outbox_depth), (1, 0));
}

#[tokio::test]
async fn issue2_finished_job_is_stored_and_in_the_outbox_without_params() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), |_| {});
    let mut rec = JobRecord {
        id: JobId::new(),
        kind: "echo".into(),
        params: Some(serde_json::json!({"community": "[redacted]"}).into()),
        timeout_ms: 1000,
        source: "test".into(),
        state: JobState::Queued,
        created_at: 1,
        started_at: None,
        finished_at: None,
        output: None,
        error: None,
        schedule: None,
    };
    store.insert_job(rec.clone()).await.unwrap();
    assert!(
        store.insert_job(rec.clone()).await.is_err(),
        "duplicate ids are refused"
    );
    rec.state = JobState::Succeeded;
    rec.started_at = Some(2);
    rec.finished_at = Some(3);
    rec.output = Some(serde_json::json!([1, 2, 3]).into());
    let seq = store.finish_job(rec.clone()).await.unwrap();
    assert_eq!(store.job(rec.id).await.unwrap().unwrap(), rec);
    let rows = store.outbox_after(seq - 1, 1).await.unwrap();
    let OutboxItem::Result(r) = &rows[0].item else {
        panic!("not a result")
    };
    assert_eq!(r.output, rec.output);
    assert!(r.params.is_none());
}

#[tokio::test]
async fn issue2_unfinished_jobs_become_interrupted_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), |_| {});
    let rec = JobRecord {
        id: JobId::new(),
        kind: "sleep".into(),
        params: None,
        timeout_ms: 1000,
        source: "test".into(),
        state: JobState::Queued,
        created_at: 1,
        started_at: None,
        finished_at: None,
        output: None,
        error: None,
        schedule: None,
    };
    store.insert_job(rec.clone()).await.unwrap();
    drop(store); // no close: as after a crash
    let (store, interrupted) = Store::open(
        StoreConfig::new(dir.path().join("t.db")),
        CoreMetrics::default(),
    )
    .unwrap();
    assert_eq!(interrupted.len(), 1);
    let got = store.job(rec.id).await.unwrap().unwrap();
    assert_eq!(got.state, JobState::Interrupted);
    let rows = store.outbox_after(0, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
}
