//! Issue 17: recurring Towerops jobs (`interval_seconds > 0`) scheduled locally on the
//! agent's scheduler against a real snmpd: they run every interval, one-shots once; an
//! unchanged entry keeps its timer, a changed one is updated, a frame of recurring jobs
//! replaces the inventory, a frame of one-shots leaves it, an empty list clears it; a new
//! entry's first run is staggered by FNV-1a-64 of its id; an id never overlaps itself; the
//! inventory is stored with its community sealed (nowhere in the data dir in plaintext).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{wait_for, Agent};
use outpost_proto::towerops::{AgentJob, AgentJobList, JobType, QueryType, SnmpDevice, SnmpQuery};
use outpost_test_support::snmpd::Snmpd;
use outpost_test_support::towerops::Server;
use serde_json::Value;

const TOKEN: &str = "tok-issue17-schedule";
/// Accepted by the snmpd below, and must never be stored in plaintext.
const COMMUNITY: &str = "Sekr1t-issue17-inventory";

async fn agent_joined(server: &Server, dir: &std::path::Path) -> Agent {
    let agent = server.joined_agent(server.agent_options(dir)).await;
    agent
}

fn poll(id: &str, port: u16, interval: u32) -> AgentJob {
    AgentJob {
        job_id: id.into(),
        job_type: JobType::Poll as i32,
        device_id: format!("dev-{id}"),
        snmp_device: Some(SnmpDevice {
            ip: "127.0.0.1".into(),
            community: COMMUNITY.into(),
            version: "2c".into(),
            port: u32::from(port),
            ..Default::default()
        }),
        queries: vec![SnmpQuery {
            query_type: QueryType::Get as i32,
            oids: vec!["1.3.6.1.2.1.1.5.0".into()],
        }],
        interval_seconds: interval,
        ..Default::default()
    }
}

/// The agent's schedules made by this adapter, by id.
async fn inventory(agent: &Agent) -> BTreeMap<String, Value> {
    let v = agent.get_json("/v1/schedules").await;
    let list = v
        .get("schedules")
        .and_then(Value::as_array)
        .cloned()
        .or_else(|| v.as_array().cloned())
        .unwrap_or_else(|| panic!("schedules list: {v}"));
    list.into_iter()
        .filter(|s| s["source"] == "adapter:towerops")
        .map(|s| (s["id"].as_str().unwrap().to_owned(), s))
        .collect()
}

fn results_of(server: &Server, id: &str) -> usize {
    server
        .results()
        .iter()
        .filter(|r| r.job_id == id && r.oid_values.contains_key("1.3.6.1.2.1.1.5.0"))
        .count()
}

fn fnv1a64(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in b {
        h ^= u64::from(*x);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Every byte under `dir` (the store, its WAL, anything else the agent wrote).
fn data_dir_holds(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for e in walkdir(dir) {
        let bytes = std::fs::read(&e).unwrap_or_default();
        if bytes.windows(needle.len()).any(|w| w == needle) {
            hits.push(e.display().to_string());
        }
    }
    hits
}

fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        } else if !p.ends_with("outpost.log") && !p.ends_with("stderr") {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn issue17_towerops_recurring_jobs_are_scheduled_locally_and_kept() {
    let snmpd = Snmpd::start_with(&format!("rocommunity {COMMUNITY} 127.0.0.1\n")).await;
    let server = Server::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let agent = agent_joined(&server, dir.path()).await;
    wait_for("a heartbeat", Duration::from_secs(20), || async {
        !server.heartbeats().is_empty()
    })
    .await;
    assert!(
        server.heartbeats()[0].1.schedules_jobs,
        "the heartbeat says jobs are scheduled here"
    );

    // Two recurring jobs every second, one one-shot, and one 60 s job whose first run
    // is staggered by the hash of its id.
    let once = AgentJob {
        interval_seconds: 0,
        ..poll("poll:once", snmpd.port, 0)
    };
    let sent_at = now_ms();
    assert!(server.send_jobs(&AgentJobList {
        jobs: vec![
            poll("poll:a", snmpd.port, 1),
            poll("poll:b", snmpd.port, 1),
            once.clone(),
            poll("poll:slow", snmpd.port, 60),
        ],
    }));
    wait_for(
        "three results of each recurring job",
        Duration::from_secs(30),
        || async { results_of(&server, "poll:a") >= 3 && results_of(&server, "poll:b") >= 3 },
    )
    .await;
    assert_eq!(results_of(&server, "poll:once"), 1, "a one-shot runs once");
    assert!(server.errors().is_empty(), "{:?}", server.errors());

    let inv = inventory(&agent).await;
    assert_eq!(
        inv.keys().cloned().collect::<Vec<_>>(),
        [
            "towerops-job:poll:a",
            "towerops-job:poll:b",
            "towerops-job:poll:slow"
        ]
    );
    assert_eq!(inv["towerops-job:poll:a"]["when"]["every_ms"], 1000);
    assert_eq!(inv["towerops-job:poll:a"]["overlap"], "queue_one");
    // The stagger: the 60 s job's first due time is FNV-1a-64("poll:slow") mod 60 s after
    // the frame arrived (within the time the frame took to arrive and be applied).
    let offset = (fnv1a64(b"poll:slow") % 60_000_000_000 / 1_000_000) as i64;
    let next = inv["towerops-job:poll:slow"]["next_due"].as_i64().unwrap();
    let applied = now_ms();
    assert!(
        next >= sent_at + offset - 1 && next <= applied + offset + 1,
        "first run {} ms after the frame, offset {offset}",
        next - sent_at
    );
    // Stored with the community sealed: a view redacts it, and no file holds it.
    assert!(
        !inv["towerops-job:poll:a"].to_string().contains(COMMUNITY),
        "{}",
        inv["towerops-job:poll:a"]
    );
    let hits = data_dir_holds(dir.path(), COMMUNITY.as_bytes());
    assert!(hits.is_empty(), "the community in plaintext in {hits:?}");

    // The same frame again: every entry keeps its timer (nothing updated). The snapshot is
    // taken while every entry has a due time: the timer hands a due run on before it
    // computes the next one, so the 1 s entry shows none for that moment each second.
    let ids = [
        "towerops-job:poll:a",
        "towerops-job:poll:b",
        "towerops-job:poll:slow",
    ];
    let snapshot = std::sync::Mutex::new(None);
    wait_for("every entry due", Duration::from_secs(20), || async {
        let inv = inventory(&agent).await;
        let due = ids.iter().all(|id| inv[*id]["next_due"].as_i64().is_some());
        if due {
            *snapshot.lock().unwrap() = Some(inv);
        }
        due
    })
    .await;
    let before = snapshot.into_inner().unwrap().unwrap();
    assert!(server.send_jobs(&AgentJobList {
        jobs: vec![
            poll("poll:a", snmpd.port, 1),
            poll("poll:b", snmpd.port, 1),
            poll("poll:slow", snmpd.port, 60),
        ],
    }));
    // Then a frame changing poll:b only; once that change shows, the first frame was
    // applied too (one worker applies frames in order).
    assert!(server.send_jobs(&AgentJobList {
        jobs: vec![
            poll("poll:a", snmpd.port, 1),
            poll("poll:b", snmpd.port, 2),
            poll("poll:slow", snmpd.port, 60),
        ],
    }));
    wait_for("poll:b changed", Duration::from_secs(20), || async {
        inventory(&agent).await["towerops-job:poll:b"]["when"]["every_ms"] == 2000
    })
    .await;
    let after = inventory(&agent).await;
    for id in [ids[0], ids[2]] {
        assert_eq!(
            before[id]["updated_at"], after[id]["updated_at"],
            "{id} kept"
        );
        assert!(before[id]["next_due"].as_i64().is_some(), "{id} is due");
    }
    assert_eq!(
        before["towerops-job:poll:slow"]["next_due"], after["towerops-job:poll:slow"]["next_due"],
        "an unchanged entry keeps its timer"
    );
    assert_ne!(
        before["towerops-job:poll:b"]["updated_at"],
        after["towerops-job:poll:b"]["updated_at"]
    );

    // A frame of one-shots only leaves the inventory alone.
    let n_once = results_of(&server, "poll:once");
    assert!(server.send_jobs(&AgentJobList {
        jobs: vec![once.clone()]
    }));
    wait_for("the second one-shot", Duration::from_secs(20), || async {
        results_of(&server, "poll:once") > n_once
    })
    .await;
    assert_eq!(inventory(&agent).await.len(), 3);

    // A frame of recurring jobs replaces the inventory.
    assert!(server.send_jobs(&AgentJobList {
        jobs: vec![poll("poll:c", snmpd.port, 1)],
    }));
    wait_for(
        "the inventory replaced",
        Duration::from_secs(20),
        || async {
            inventory(&agent).await.keys().cloned().collect::<Vec<_>>() == ["towerops-job:poll:c"]
        },
    )
    .await;
    wait_for("poll:c runs", Duration::from_secs(20), || async {
        results_of(&server, "poll:c") >= 2
    })
    .await;

    // An empty list clears it; the scheduler then holds nothing of ours.
    assert!(server.send_jobs(&AgentJobList { jobs: vec![] }));
    wait_for("the inventory cleared", Duration::from_secs(20), || async {
        inventory(&agent).await.is_empty()
    })
    .await;
    agent
        .wait_metric("no schedules left", "outpost_schedules", |v| v == 0.0)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn issue17_towerops_a_recurring_job_never_overlaps_itself() {
    // A target that never answers: each run takes its timeout three times (2.5 s, the
    // default 2 retries), far more than its 1 s interval.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let server = Server::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let agent = agent_joined(&server, dir.path()).await;
    let mut j = poll("poll:slowpoke", port, 1);
    j.snmp_timeout_ms = 2500;
    assert!(server.send_jobs(&AgentJobList { jobs: vec![j] }));
    let runs = || async {
        let v = agent.get_json("/v1/jobs?limit=1000").await;
        let jobs = v
            .get("jobs")
            .and_then(Value::as_array)
            .cloned()
            .or_else(|| v.as_array().cloned())
            .unwrap_or_default();
        jobs.into_iter()
            .filter(|j| j["schedule"] == "towerops-job:poll:slowpoke")
            .collect::<Vec<_>>()
    };
    wait_for("three finished runs", Duration::from_secs(60), || async {
        runs()
            .await
            .iter()
            .filter(|j| j["finished_at"].as_i64().is_some())
            .count()
            >= 3
    })
    .await;
    let mut spans: Vec<(i64, i64)> = runs()
        .await
        .iter()
        .filter_map(|j| Some((j["started_at"].as_i64()?, j["finished_at"].as_i64()?)))
        .collect();
    spans.sort_unstable();
    assert!(spans.len() >= 3, "{spans:?}");
    for w in spans.windows(2) {
        assert!(w[0].1 <= w[1].0, "runs overlap: {spans:?}");
        assert!(w[0].1 - w[0].0 >= 2000, "a run took its timeout: {spans:?}");
    }
    // Every run failed to reach the target: each answered with an error.
    wait_for("the runs' errors", Duration::from_secs(20), || async {
        server
            .errors()
            .iter()
            .filter(|e| e.job_id == "poll:slowpoke")
            .count()
            >= 3
    })
    .await;
    drop(silent);
}
