//! Issue 2: the dispatcher's bounds and deadlines, with the real store underneath.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use outpost_core::{
    CoreMetrics, Dispatcher, DispatcherConfig, ExecError, Executor, JobContext, JobSpec, JobState,
    Registry, Store, StoreConfig, SubmitError,
};
use serde::Deserialize;

/// Waits `ms`, recording how many run at once.
struct Nap {
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

#[derive(Deserialize)]
struct NapParams {
    ms: u64,
}

impl Executor for Nap {
    type Params = NapParams;
    type Output = u64;
    fn kind(&self) -> &'static str {
        "nap"
    }
    fn concurrency(&self) -> usize {
        2
    }
    async fn run(&self, p: NapParams, _cx: JobContext) -> Result<u64, ExecError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(p.ms)).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        Ok(p.ms)
    }
}

fn setup(dir: &std::path::Path, capacity: usize) -> (Dispatcher, Arc<AtomicUsize>) {
    let peak = Arc::new(AtomicUsize::new(0));
    let mut reg = Registry::new();
    reg.register(Nap {
        running: Arc::default(),
        peak: Arc::clone(&peak),
    });
    let metrics = CoreMetrics::default();
    let (store, _) = Store::open(StoreConfig::new(dir.join("d.db")), metrics.clone()).unwrap();
    let d = Dispatcher::new(
        reg,
        store,
        metrics,
        DispatcherConfig {
            queue_capacity: capacity,
            max_timeout: Duration::from_secs(60),
        },
    );
    (d, peak)
}

fn nap(ms: u64, timeout_ms: u64) -> JobSpec {
    JobSpec {
        id: None,
        kind: "nap".into(),
        params: serde_json::json!({ "ms": ms }),
        timeout: Duration::from_millis(timeout_ms),
        source: "test".into(),
    }
}

#[tokio::test]
async fn issue2_deadline_ends_a_job_as_timed_out() {
    let dir = tempfile::tempdir().unwrap();
    let (d, _) = setup(dir.path(), 8);
    let s = d.submit(nap(60_000, 50)).await.unwrap();
    let rec = d
        .wait(s.id, Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.state, JobState::TimedOut);
    assert_eq!(rec.error.unwrap().code, "timeout");
    assert_eq!(
        d.store().job(s.id).await.unwrap().unwrap().state,
        JobState::TimedOut
    );
}

#[tokio::test]
async fn issue2_per_kind_concurrency_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (d, peak) = setup(dir.path(), 64);
    let mut ids = vec![];
    for _ in 0..10 {
        ids.push(d.submit(nap(20, 5_000)).await.unwrap().id);
    }
    for id in ids {
        let rec = d.wait(id, Duration::from_secs(10)).await.unwrap().unwrap();
        assert_eq!(rec.state, JobState::Succeeded);
    }
    assert_eq!(peak.load(Ordering::SeqCst), 2);
    assert_eq!(d.pending(), 0);
}

#[tokio::test]
async fn issue2_queue_is_bounded_and_refusals_say_busy() {
    let dir = tempfile::tempdir().unwrap();
    let (d, _) = setup(dir.path(), 3);
    for _ in 0..3 {
        d.submit(nap(60_000, 60_000)).await.unwrap();
    }
    assert!(matches!(
        d.submit(nap(1, 1000)).await,
        Err(SubmitError::Busy { capacity: 3 })
    ));
    assert_eq!(d.pending(), 3);
    let drained = d.drain(Duration::from_millis(50)).await;
    assert_eq!(drained.interrupted, 3);
    assert!(matches!(
        d.submit(nap(1, 1000)).await,
        Err(SubmitError::ShuttingDown)
    ));
    let interrupted = d
        .store()
        .jobs(Some(JobState::Interrupted), 10)
        .await
        .unwrap();
    assert_eq!(interrupted.len(), 3, "every job has its one result");
}

#[tokio::test]
async fn issue2_bad_params_and_kinds_are_refused_before_queueing() {
    let dir = tempfile::tempdir().unwrap();
    let (d, _) = setup(dir.path(), 3);
    let mut spec = nap(1, 1000);
    spec.params = serde_json::json!({"ms": "soon"});
    match d.submit(spec).await {
        Err(SubmitError::BadParams(p)) => assert_eq!(p.field, "ms"),
        other => panic!("{other:?}"),
    }
    let mut spec = nap(1, 1000);
    spec.kind = "nope".into();
    assert!(matches!(
        d.submit(spec).await,
        Err(SubmitError::UnknownKind { .. })
    ));
    assert!(matches!(
        d.submit(nap(1, 0)).await,
        Err(SubmitError::BadTimeout { .. })
    ));
    assert!(matches!(
        d.submit(nap(1, 61_000)).await,
        Err(SubmitError::BadTimeout { .. })
    ));
    assert_eq!(d.store().jobs(None, 10).await.unwrap().len(), 0);
}

/// Issue 13: one schedule firing's runs are accepted together: each is checked on its own
/// (a bad one is refused, the others accepted), all take their `created_at` before any of
/// them runs, the queue bound holds, and every accepted one runs to a stored result.
#[tokio::test]
async fn issue13_a_firing_is_accepted_in_one_pass_within_the_queue_bound() {
    let dir = tempfile::tempdir().unwrap();
    let (d, _) = setup(dir.path(), 3);
    let mut bad = nap(1, 1_000);
    bad.kind = "nope".into();
    let jobs = vec![
        (nap(50, 5_000), "a".to_string()),
        (bad, "b".to_string()),
        (nap(50, 5_000), "c".to_string()),
        (nap(50, 5_000), "d".to_string()),
        // The fourth good one finds the queue (capacity 3) full.
        (nap(50, 5_000), "e".to_string()),
    ];
    let results = d.accept_scheduled(jobs).commit().await;
    let codes: Vec<&str> = results
        .iter()
        .map(|r| r.as_ref().err().map_or("ok", SubmitError::code))
        .collect();
    assert_eq!(codes, ["ok", "unknown_kind", "ok", "ok", "busy"]);
    let mut created = Vec::new();
    for r in results.into_iter().flatten() {
        let mut done = r.done;
        let rec = done
            .wait_for(|d| d.is_some())
            .await
            .unwrap()
            .clone()
            .unwrap();
        assert_eq!(rec.state, JobState::Succeeded);
        // Every one was accepted before the first (a 50 ms nap) could have finished.
        assert!(rec.started_at.unwrap() >= rec.created_at);
        created.push((
            rec.created_at,
            rec.finished_at.unwrap(),
            rec.schedule.clone(),
        ));
    }
    let last_created = created.iter().map(|c| c.0).max().unwrap();
    let first_finished = created.iter().map(|c| c.1).min().unwrap();
    assert!(last_created <= first_finished, "{created:?}");
    let tags: Vec<_> = created.iter().map(|c| c.2.clone().unwrap()).collect();
    assert_eq!(tags, ["a", "c", "d"]);
    // And the records are in the store, tagged.
    let stored = d.store().jobs(None, 10).await.unwrap();
    assert_eq!(stored.len(), 3);
    assert!(stored.iter().all(|j| j.schedule.is_some()));
}
