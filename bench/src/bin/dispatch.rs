//! Echo jobs through the dispatcher alone (no HTTP), each result persisted to the store
//! and the outbox before it counts. Usage: dispatch [JOBS] [IN_FLIGHT] [RUNS]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use outpost_core::{
    CoreMetrics, Dispatcher, DispatcherConfig, JobSpec, JobState, Store, StoreConfig,
};
use tokio::task::JoinSet;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let jobs = *args.first().unwrap_or(&100_000);
    let in_flight = *args.get(1).unwrap_or(&512) as usize;
    let runs = *args.get(2).unwrap_or(&5);
    let mut rates = vec![];
    for run in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        let metrics = CoreMetrics::default();
        let (store, _) =
            Store::open(StoreConfig::new(dir.path().join("b.db")), metrics.clone()).unwrap();
        let d = Dispatcher::new(
            outpost::executors::registry(Instant::now(), outpost::executors::Host::default()),
            store.clone(),
            metrics.clone(),
            DispatcherConfig {
                queue_capacity: in_flight * 2,
                ..Default::default()
            },
        );
        let t = Instant::now();
        let mut set = JoinSet::new();
        for i in 0..jobs {
            if set.len() >= in_flight {
                set.join_next().await.unwrap().unwrap();
            }
            let d = d.clone();
            set.spawn(async move {
                let s = d
                    .submit(JobSpec {
                        id: None,
                        kind: "echo".into(),
                        params: serde_json::json!({ "i": i }),
                        timeout: Duration::from_secs(30),
                        source: "bench".into(),
                    })
                    .await
                    .unwrap();
                let mut done = s.done;
                let rec = done
                    .wait_for(|r| r.is_some())
                    .await
                    .unwrap()
                    .clone()
                    .unwrap();
                assert_eq!(rec.state, JobState::Succeeded);
            });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
        let secs = t.elapsed().as_secs_f64();
        let stats = store.stats().await.unwrap();
        let rate = jobs as f64 / secs;
        println!(
            "run {run}: {jobs} echo jobs persisted in {secs:.3} s = {rate:.0} jobs/s (commits {}, store {} KiB)",
            metrics.store_commits.get(),
            stats.size_bytes / 1024
        );
        rates.push(rate);
        store.close().await.unwrap();
    }
    println!(
        "median: {:.0} jobs/s through the dispatcher, results persisted",
        outpost_bench::median(rates)
    );
}
