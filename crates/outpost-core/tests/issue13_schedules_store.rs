//! Issue 13: the store's `schedules` table (schema 3) and the job's `schedule` tag.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use outpost_core::{
    CoreMetrics, JobId, JobRecord, JobState, ScheduleRow, Store, StoreConfig, StoreError,
};

fn open(path: &std::path::Path) -> Store {
    Store::open(StoreConfig::new(path), CoreMetrics::default())
        .unwrap()
        .0
}

fn row(id: &str, spec: &str) -> ScheduleRow {
    ScheduleRow {
        id: id.into(),
        spec: spec.into(),
        created_at: 1_000,
        updated_at: 1_000,
        handled_through: None,
    }
}

#[tokio::test]
async fn issue13_schedules_rows_survive_a_reopen_and_marks_only_move_forward() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = open(&path);
    store.insert_schedule(row("a", "{\"x\":1}")).await.unwrap();
    store.insert_schedule(row("b", "{}")).await.unwrap();
    assert!(matches!(
        store.insert_schedule(row("a", "{}")).await,
        Err(StoreError::ScheduleExists(id)) if id == "a"
    ));
    // Marks move forward only, and ignore unknown ids.
    let marks = |m: &[(&str, i64)]| m.iter().map(|(i, t)| (i.to_string(), *t)).collect();
    store
        .queue_schedule_marks(marks(&[("a", 5_000), ("gone", 1)]))
        .await
        .unwrap()
        .await
        .unwrap();
    store
        .queue_schedule_marks(marks(&[("a", 4_000)]))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(
        store.schedule("a").await.unwrap().unwrap().handled_through,
        Some(5_000)
    );
    // An update keeps the creation time and counts due times up to it as handled.
    let updated = store
        .update_schedule("b", "{\"y\":2}".into(), 9_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            updated.created_at,
            updated.updated_at,
            updated.handled_through
        ),
        (1_000, 9_000, Some(9_000))
    );
    assert_eq!(
        store.update_schedule("nope", "{}".into(), 1).await.unwrap(),
        None
    );

    // A job tagged with its schedule reads back tagged; others untagged.
    let job = |schedule: Option<&str>| JobRecord {
        id: JobId::new(),
        kind: "echo".into(),
        params: None,
        timeout_ms: 1000,
        source: "schedule".into(),
        state: JobState::Queued,
        created_at: 1,
        started_at: None,
        finished_at: None,
        output: None,
        error: None,
        schedule: schedule.map(Into::into),
    };
    let (tagged, plain) = (job(Some("a")), job(None));
    store.insert_job(tagged.clone()).await.unwrap();
    store.insert_job(plain.clone()).await.unwrap();
    // Its result's outbox row (what the uplinks and /v1/events send) names the schedule.
    let done = JobRecord {
        state: JobState::Succeeded,
        started_at: Some(2),
        finished_at: Some(3),
        ..job(Some("b"))
    };
    store.insert_job(done.clone()).await.unwrap();
    let seq = store.finish_job(done.clone()).await.unwrap();
    let rows = store.outbox_after(seq - 1, 10).await.unwrap();
    match &rows[0].item {
        outpost_core::OutboxItem::Result(r) => assert_eq!(r.schedule.as_deref(), Some("b")),
        other => panic!("{other:?}"),
    }
    store.close().await.unwrap();

    let store = open(&path);
    let all = store.schedules().await.unwrap();
    let ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(all[0].spec, "{\"x\":1}");
    assert_eq!(all[0].handled_through, Some(5_000));
    assert_eq!(all[1].spec, "{\"y\":2}");
    assert!(store.delete_schedule("a").await.unwrap());
    assert!(!store.delete_schedule("a").await.unwrap());
    assert_eq!(store.schedule("a").await.unwrap(), None);
    // The jobs the previous process left queued are interrupted; their tag stays.
    assert_eq!(
        store
            .job(tagged.id)
            .await
            .unwrap()
            .unwrap()
            .schedule
            .as_deref(),
        Some("a")
    );
    assert_eq!(store.job(plain.id).await.unwrap().unwrap().schedule, None);
    store.close().await.unwrap();
}
