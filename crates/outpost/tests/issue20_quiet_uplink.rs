//! Issue 20, what one agent of a fleet costs per job: at a job now and then, the MQTT uplink
//! no longer writes its delivery cursor once per result (a third of the agent's store
//! transactions). The cursor is written in batches, and at the latest a few seconds after
//! the last acknowledgement, so a `kill -9` after a quiet spell resends nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{metric, mosquitto::Broker, mqtt_peer::Peer, wait_for, Agent, Options};
use serde_json::json;

const ID: &str = "quiet-1";
const COMMITS: &str = "outpost_store_commits_total";
/// Outbox rows past the slowest consumer's stored cursor: the MQTT uplink's, here.
const DEPTH: &str = "outpost_outbox_depth";

fn opts(dir: &std::path::Path, broker: &Broker) -> Options {
    Options::new(dir).mqtt_uplink(&broker.url(), ID)
}

async fn commits(a: &Agent) -> f64 {
    metric(&a.metrics().await, COMMITS)
}

/// The peer's distinct result ids, and how many results it got in all.
fn results(peer: &Peer) -> (HashSet<String>, usize) {
    let all = peer.results();
    let n = all.len();
    (all.into_iter().map(|(id, _, _)| id).collect(), n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue20_a_quiet_uplink_writes_its_cursor_in_batches_and_still_resends_nothing() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let mut a = Agent::start(opts(dir.path(), &broker));
    a.wait_connected("mqtt").await;
    let peer = Peer::connect(broker.port, "cp-quiet", &[&format!("outpost/{ID}/results")]).await;
    // One job at a time, each result in before the next job goes: a fleet agent's pace.
    // The first job's result lets the session's own start-up writes settle.
    let jobs = format!("outpost/{ID}/jobs");
    let first = peer.job(&jobs, "echo", json!(0)).await;
    wait_for("the first result", Duration::from_secs(20), || async {
        results(&peer).0.contains(&first)
    })
    .await;
    // The cursor written for it (within the write deadline): the quiet state.
    wait_for(
        "the first cursor write",
        Duration::from_secs(20),
        || async { metric(&a.metrics().await, DEPTH) == 0.0 },
    )
    .await;
    let before = commits(&a).await;
    const N: usize = 10;
    let started = Instant::now();
    for i in 1..=N {
        let id = peer.job(&jobs, "echo", json!(i)).await;
        wait_for("the job's result", Duration::from_secs(20), || async {
            results(&peer).0.contains(&id)
        })
        .await;
    }
    // Each job is stored when it arrives and again when it finishes (two transactions; the
    // group commit may merge them). Before, each result's acknowledgement wrote the cursor
    // as well: 3 per job.
    // The cursor is also written 5 s after the first acknowledgement not yet written
    // (`WRITE_WITHIN`): on a slow machine the ten jobs may span one or two of those writes.
    // Without batching there would be one per job, whatever the time.
    let took = started.elapsed();
    let due_writes = (took.as_secs_f64() / 5.0).ceil();
    let during = commits(&a).await - before;
    assert!(
        during <= (2 * N) as f64 + 1.0 + due_writes,
        "{during} store transactions for {N} jobs taken one at a time in {took:?}"
    );
    assert!(
        during < (3 * N) as f64,
        "{during} store transactions for {N} jobs: the cursor is written per result again"
    );
    // At the latest a few seconds after the last acknowledgement, the cursor is written.
    wait_for(
        "the deferred cursor write",
        Duration::from_secs(20),
        || async { metric(&a.metrics().await, DEPTH) == 0.0 },
    )
    .await;
    let (ids, n) = results(&peer);
    assert_eq!((ids.len(), n), (N + 1, N + 1), "each result once");

    // Killed now, restarted: nothing acknowledged is sent again.
    a.kill9();
    let a = Agent::start(opts(dir.path(), &broker));
    a.wait_connected("mqtt").await;
    let last = peer.job(&jobs, "echo", json!("after")).await;
    wait_for(
        "the result after the restart",
        Duration::from_secs(20),
        || async { results(&peer).0.contains(&last) },
    )
    .await;
    let (ids, n) = results(&peer);
    assert_eq!(
        (ids.len(), n),
        (N + 2, N + 2),
        "a restart after the cursor was written resends nothing"
    );
}
