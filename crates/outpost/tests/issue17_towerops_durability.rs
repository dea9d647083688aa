//! Issue 17, "What it must show" → Durability: the Towerops server goes away for a minute
//! while recurring POLL jobs (40 devices every second, on one real snmpd listening on
//! [`ADDRESSES`] loopback addresses, so the one-job-per-device-IP gate lets five devices
//! share an address) keep producing results; the agent is killed with `kill -9` in that
//! time and restarted without the server (it resumes from its persisted inventory); then
//! the server returns. Every result the agent's
//! store says it produced arrives (each frame at least once, compared byte for byte), every
//! job at least once, and at least 1,000 results were produced while the server was away.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use base64::Engine as _;
use common::{metric, wait_for, Agent, Options};
use outpost_proto::towerops::{AgentJob, AgentJobList, JobType, QueryType, SnmpDevice, SnmpQuery};
use outpost_test_support::snmpd::{self, Snmpd};
use outpost_test_support::towerops::Server;

const TOKEN: &str = "tok-issue17-durability";
const DEVICES: usize = 40;
/// Loopback addresses the snmpd serves: device `i` is polled at `127.0.0.(1 + i % 8)`.
const ADDRESSES: usize = 8;
/// How long the server stays away (the issue's minute).
const AWAY_MS: i64 = 60_000;
const SUBMITTED: &str = "outpost_schedule_runs_submitted_total";

fn start(server: &Server, dir: &std::path::Path) -> Agent {
    Agent::start(
        Options::new(dir)
            .env("TOWEROPS_API_URL", &server.api_url())
            .env("TOWEROPS_AGENT_TOKEN", TOKEN)
            .env("TOWEROPS_INSECURE", "true"),
    )
}

fn ip(i: usize) -> String {
    snmpd::loopback(i % ADDRESSES)
}

fn poll(i: usize, port: u16) -> AgentJob {
    AgentJob {
        job_id: format!("poll:dev{i}"),
        job_type: JobType::Poll as i32,
        device_id: format!("dev{i}"),
        snmp_device: Some(SnmpDevice {
            ip: ip(i),
            community: "public".into(),
            version: "2c".into(),
            port: u32::from(port),
            ..Default::default()
        }),
        queries: vec![SnmpQuery {
            query_type: QueryType::Get as i32,
            oids: vec!["1.3.6.1.2.1.1.5.0".into(), "1.3.6.1.2.1.1.3.0".into()],
        }],
        interval_seconds: 1,
        ..Default::default()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn submitted(agent: &Agent) -> f64 {
    metric(&agent.metrics().await, SUBMITTED)
}

/// What the store says the scheduled Towerops jobs produced: each frame (event, protobuf
/// bytes) with how many times it was produced, the job ids that produced one, and how
/// many finished between `from` and `to` (Unix ms).
struct Produced {
    frames: BTreeMap<(String, Vec<u8>), usize>,
    jobs: BTreeSet<String>,
    in_window: usize,
    not_succeeded: usize,
}

fn produced(dir: &std::path::Path, from: i64, to: i64) -> Produced {
    let db = rusqlite::Connection::open(dir.join("outpost.db")).unwrap();
    let mut q = db
        .prepare(
            "SELECT state, finished_at, output, params FROM jobs \
             WHERE kind = 'towerops.snmp' AND schedule LIKE 'towerops-job:%'",
        )
        .unwrap();
    let mut out = Produced {
        frames: BTreeMap::new(),
        jobs: BTreeSet::new(),
        in_window: 0,
        not_succeeded: 0,
    };
    let rows = q
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .unwrap();
    for row in rows {
        let (state, finished, output, params) = row.unwrap();
        if state != "succeeded" {
            out.not_succeeded += 1;
            continue;
        }
        let p: serde_json::Value = serde_json::from_str(&params).unwrap();
        out.jobs.insert(p["job_id"].as_str().unwrap().to_owned());
        if finished.is_some_and(|f| f >= from && f <= to) {
            out.in_window += 1;
        }
        let o: serde_json::Value = serde_json::from_str(&output.unwrap()).unwrap();
        for f in o["frames"].as_array().unwrap() {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(f["binary"].as_str().unwrap())
                .unwrap();
            *out.frames
                .entry((f["event"].as_str().unwrap().to_owned(), bytes))
                .or_default() += 1;
        }
    }
    out
}

/// How many of each frame the server received.
fn received(server: &Server) -> BTreeMap<(String, Vec<u8>), usize> {
    let mut m = BTreeMap::new();
    for p in server
        .pushes("result")
        .into_iter()
        .chain(server.pushes("error"))
    {
        *m.entry((p.event, p.bytes)).or_default() += 1;
    }
    m
}

/// The frames produced more often than received (none when every result arrived).
fn missing(
    want: &BTreeMap<(String, Vec<u8>), usize>,
    got: &BTreeMap<(String, Vec<u8>), usize>,
) -> usize {
    want.iter()
        .map(|(k, n)| n.saturating_sub(got.get(k).copied().unwrap_or(0)))
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn issue17_towerops_server_away_and_kill9_every_result_arrives() {
    let snmpd = Snmpd::start_on_loopbacks(ADDRESSES).await;
    let server = Server::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let mut agent = start(&server, dir.path());
    wait_for("the join", Duration::from_secs(20), || async {
        server.accepted_joins() >= 1
    })
    .await;
    let jobs = (0..DEVICES).map(|i| poll(i, snmpd.port)).collect();
    assert!(server.send_jobs(&AgentJobList { jobs }));
    wait_for(
        "every device polled once",
        Duration::from_secs(30),
        || async {
            let ids: BTreeSet<String> = server.results().into_iter().map(|r| r.job_id).collect();
            ids.len() == DEVICES
        },
    )
    .await;

    // The server goes away; polling goes on, results wait in the outbox.
    server.stop();
    let away_from = now_ms();
    let base = submitted(&agent).await;
    // Half the minute away, and the runs it should hold.
    wait_for(
        "half a minute of runs with the server away",
        Duration::from_secs(60),
        || async { now_ms() - away_from >= AWAY_MS / 2 && submitted(&agent).await >= base + 600.0 },
    )
    .await;

    // Killed mid-stream, restarted while the server is still away: the stored inventory
    // (community sealed) is loaded and polling resumes without any job frame.
    agent.kill9();
    let agent = start(&server, dir.path());
    wait_for(
        "the rest of the minute, polled by the restarted agent",
        Duration::from_secs(60),
        || async { now_ms() - away_from >= AWAY_MS && submitted(&agent).await >= 600.0 },
    )
    .await;
    assert_eq!(server.accepted_joins(), 1, "the server was away throughout");

    // The server returns: the agent joins and sends what waited.
    let away_to = now_ms();
    server.resume().await;
    wait_for(
        "the join after the outage",
        Duration::from_secs(30),
        || async { server.accepted_joins() >= 2 },
    )
    .await;
    // Stop producing (an empty list clears the inventory), and let the last runs end.
    assert!(server.send_jobs(&AgentJobList { jobs: vec![] }));
    agent
        .wait_metric("the inventory cleared", "outpost_schedules", |v| v == 0.0)
        .await;
    wait_for("no run left", Duration::from_secs(30), || async {
        let mut busy = 0;
        for st in ["queued", "running"] {
            let v = agent.get_json(&format!("/v1/jobs?state={st}")).await;
            busy += v["jobs"].as_array().map(Vec::len).unwrap_or(0);
        }
        busy == 0
    })
    .await;

    // What the store says was produced (read with the agent stopped: the store holds an
    // exclusive lock), then the agent again, which sends whatever was not acknowledged.
    let mut agent = agent;
    agent.sigterm();
    assert!(agent.wait_exit(Duration::from_secs(30)).success());
    let want = produced(dir.path(), away_from, away_to);
    assert!(
        want.in_window >= 1000,
        "{} results produced while the server was away",
        want.in_window
    );
    let all: BTreeSet<String> = (0..DEVICES).map(|i| format!("poll:dev{i}")).collect();
    assert_eq!(want.jobs, all, "every job ran");
    let _agent = start(&server, dir.path());
    wait_for(
        "every result the store holds at the server",
        Duration::from_secs(120),
        || async { missing(&want.frames, &received(&server)) == 0 },
    )
    .await;
    let total: usize = want.frames.values().sum();
    let results = server.results();
    let per_job: BTreeSet<String> = results.iter().map(|r| r.job_id.clone()).collect();
    assert_eq!(per_job, all, "each job at least once");
    // Nothing but results, except a run the kill cut short (recorded, never finished:
    // `interrupted` at the next start, and answered as such).
    let errors = server.errors();
    assert!(
        errors.len() <= want.not_succeeded
            && errors
                .iter()
                .all(|e| e.message.starts_with("job interrupted")),
        "{errors:?}"
    );
    eprintln!(
        "produced {total} frames ({} while away, {} runs not succeeded), received {} results",
        want.in_window,
        want.not_succeeded,
        results.len()
    );
}
