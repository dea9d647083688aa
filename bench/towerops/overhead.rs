//! Issue 17's overhead benchmark: 1,000 devices polled through the Towerops adapter (the
//! test server sends one AgentJobList of 1,000 POLL jobs and waits for every SnmpResult)
//! against the same polling by the agent on its own (`snmp.poll` jobs through
//! `POST /v1/jobs?wait=30`, 32 in flight, each result stored before it is answered). Both
//! sides are `outpost run` on the same binary and the same snmpd, alternated A B A B; each
//! round starts a fresh agent on a fresh data dir. The figures are the agent's CPU time
//! (utime + stime from /proc, the bench's own work not counted) and the wall time from the
//! first job sent to the last result received, per result.
//!
//! The devices: one snmpd answering on 1,000 loopback addresses (127.0.1.1 ... 127.0.4.250),
//! so the adapter's one-job-per-device-IP gate sees 1,000 devices, as in a real network.
//! Each poll: 20 GETs and an ifTable walk (max-repetitions 25, Towerops' default), the work of
//! bench/snmp. The SNMP rate limit is off on both sides (Towerops' 200/s would measure the
//! limit, not the adapter).
//!
//! Usage: towerops_overhead PATH_TO_OUTPOST [ROUNDS] [DEVICES]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{stream, StreamExt};
use outpost_bench::{cpu_ticks, median};
use outpost_proto::towerops::{AgentJob, AgentJobList, JobType, QueryType, SnmpDevice, SnmpQuery};
use outpost_test_support::peer;
use outpost_test_support::ports::{free_tcp_port, free_udp_port};
use outpost_test_support::snmpd;
use outpost_test_support::towerops::Server;
use outpost_test_support::wait::wait_until;

const TOKEN: &str = "bench-towerops-token";
const API_TOKEN: &str = "bench-api-token-0123456789abcdef";
const GETS: [&str; 20] = [
    "1.3.6.1.2.1.1.1.0",
    "1.3.6.1.2.1.1.2.0",
    "1.3.6.1.2.1.1.3.0",
    "1.3.6.1.2.1.1.4.0",
    "1.3.6.1.2.1.1.5.0",
    "1.3.6.1.2.1.1.6.0",
    "1.3.6.1.2.1.1.7.0",
    "1.3.6.1.2.1.1.8.0",
    "1.3.6.1.2.1.2.1.0",
    "1.3.6.1.2.1.11.1.0",
    "1.3.6.1.2.1.11.2.0",
    "1.3.6.1.2.1.11.3.0",
    "1.3.6.1.2.1.11.4.0",
    "1.3.6.1.2.1.11.5.0",
    "1.3.6.1.2.1.11.6.0",
    "1.3.6.1.2.1.11.8.0",
    "1.3.6.1.2.1.11.9.0",
    "1.3.6.1.2.1.11.10.0",
    "1.3.6.1.2.1.11.11.0",
    "1.3.6.1.2.1.11.12.0",
];
const WALK: &str = "1.3.6.1.2.1.2.2";

fn device_ip(i: usize) -> String {
    format!("127.0.{}.{}", 1 + i / 250, 1 + i % 250)
}

/// snmpd listening on every device address; the list goes on the command line, as
/// bench/snmp does (snmpd's config parser cuts a long `agentAddress` line short).
struct SnmpdProc {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl SnmpdProc {
    async fn start(devices: usize) -> SnmpdProc {
        let dir = tempfile::tempdir().unwrap();
        let port = free_udp_port();
        let conf = dir.path().join("snmpd.conf");
        std::fs::write(
            &conf,
            "rocommunity public 127.0.0.0/8 .1\nsysLocation \"Bench lab\"\n",
        )
        .unwrap();
        let addrs: Vec<String> = (0..devices)
            .map(|i| format!("udp:{}:{port}", device_ip(i)))
            .collect();
        let child = Command::new(peer::binary("snmpd", snmpd::INSTALL))
            .args(["-f", "-C", "-c"])
            .arg(&conf)
            .arg("-Lf")
            .arg(dir.path().join("log"))
            .arg(addrs.join(","))
            .env("MIBS", "")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let last = format!("{}:{port}", device_ip(devices - 1));
        let (_engine, session) =
            snmpd::v2c_session(&last, "public", Duration::from_millis(200), 0).await;
        let oid: outpost_snmp::Oid = "1.3.6.1.2.1.1.5.0".parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while session.get(std::slice::from_ref(&oid)).await.is_err() {
            assert!(Instant::now() < deadline, "snmpd does not answer on {last}");
        }
        SnmpdProc {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for SnmpdProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct AgentProc {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl AgentProc {
    fn start(bin: &str, towerops: Option<&Server>) -> AgentProc {
        let dir = tempfile::tempdir().unwrap();
        let port = free_tcp_port();
        let mut cmd = Command::new(bin);
        cmd.args(["run", "--data-dir"])
            .arg(dir.path())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("OUTPOST_API_TOKEN", API_TOKEN)
            .env("LOG_LEVEL", "warn")
            .env("OUTPOST_JOBS_QUEUE_CAPACITY", "4096")
            .env("OUTPOST_SNMP_MAX_PDUS_PER_SECOND", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(s) = towerops {
            cmd.env("TOWEROPS_API_URL", s.api_url())
                .env("TOWEROPS_AGENT_TOKEN", TOKEN)
                .env("TOWEROPS_INSECURE", "true");
        }
        let child = cmd.spawn().unwrap();
        wait_until("the agent's API", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        AgentProc {
            child,
            port,
            _dir: dir,
        }
    }

    fn cpu(&self) -> u64 {
        cpu_ticks(self.child.id()).unwrap()
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Sample {
    cpu_ms: f64,
    wall_ms: f64,
    results: usize,
    failed: usize,
}

fn ticks_ms(t: u64) -> f64 {
    let hz = rustix::param::clock_ticks_per_second() as f64;
    t as f64 * 1000.0 / hz
}

async fn towerops_round(bin: &str, snmp_port: u16, devices: usize, round: usize) -> Sample {
    let server = Server::start(TOKEN).await;
    let agent = AgentProc::start(bin, Some(&server));
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.accepted_joins() == 0 {
        assert!(Instant::now() < deadline, "no join");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let jobs = (0..devices)
        .map(|i| AgentJob {
            job_id: format!("poll:r{round}:d{i}"),
            job_type: JobType::Poll as i32,
            device_id: format!("d{i}"),
            snmp_device: Some(SnmpDevice {
                ip: device_ip(i),
                port: u32::from(snmp_port),
                version: "2c".into(),
                community: "public".into(),
                ..Default::default()
            }),
            queries: vec![
                SnmpQuery {
                    query_type: QueryType::Get as i32,
                    oids: GETS.iter().map(|s| (*s).to_owned()).collect(),
                },
                SnmpQuery {
                    query_type: QueryType::Walk as i32,
                    oids: vec![WALK.into()],
                },
            ],
            snmp_timeout_ms: 2000,
            snmp_retries: 2,
            ..Default::default()
        })
        .collect();
    let cpu0 = agent.cpu();
    let t0 = Instant::now();
    assert!(server.send_jobs(&AgentJobList { jobs }));
    let deadline = Instant::now() + Duration::from_secs(300);
    // A job ends with one SnmpResult (these are far below the split size) or an AgentError.
    // Counted under the lock without copying, so the bench's polling costs next to nothing;
    // decoded once at the end.
    loop {
        let n = {
            let st = server.state.lock().unwrap();
            st.pushes
                .iter()
                .filter(|p| p.event == "result" || p.event == "error")
                .count()
        };
        if n >= devices {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{n} of {devices} results or errors"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let wall = t0.elapsed();
    let cpu = agent.cpu() - cpu0;
    let done = server
        .results()
        .into_iter()
        .filter(|r| r.r#final)
        .map(|r| r.job_id)
        .collect::<HashSet<String>>()
        .len();
    let failed = server.errors().len();
    Sample {
        cpu_ms: ticks_ms(cpu),
        wall_ms: wall.as_secs_f64() * 1000.0,
        results: done,
        failed,
    }
}

async fn api_round(bin: &str, snmp_port: u16, devices: usize) -> Sample {
    let agent = AgentProc::start(bin, None);
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{}/v1/jobs?wait=30", agent.port);
    let cpu0 = agent.cpu();
    let t0 = Instant::now();
    let done = stream::iter(0..devices)
        .map(|i| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let body = serde_json::json!({"kind": "snmp.poll", "params": {
                    "target": format!("{}:{snmp_port}", device_ip(i)),
                    "community": "public", "get": GETS, "walk": [WALK],
                    "max_repetitions": 25, "retries": 2, "timeout_ms": 2000}});
                let r = http
                    .post(&url)
                    .bearer_auth(API_TOKEN)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let v: serde_json::Value = r.json().await.unwrap();
                v["state"] == "succeeded"
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<bool>>()
        .await;
    let ok = done.iter().filter(|ok| **ok).count();
    let wall = t0.elapsed();
    let cpu = agent.cpu() - cpu0;
    Sample {
        cpu_ms: ticks_ms(cpu),
        wall_ms: wall.as_secs_f64() * 1000.0,
        results: ok,
        failed: devices - ok,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bin = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "target/release/outpost".into());
    let rounds: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(3);
    let devices: usize = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(1000);
    assert!(
        devices <= 1000,
        "at most 1,000 devices (loopback addresses)"
    );
    let snmpd = SnmpdProc::start(devices).await;
    let (mut tw, mut api) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // A B, then B A: neither side always runs on a warmer machine.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for side in order {
            let s = if side == 0 {
                towerops_round(&bin, snmpd.port, devices, round).await
            } else {
                api_round(&bin, snmpd.port, devices).await
            };
            let name = if side == 0 { "towerops" } else { "api" };
            println!(
                "round {round} {name:8}: {} results, {} failed, agent CPU {:.0} ms ({:.3} ms/result), wall {:.0} ms",
                s.results,
                s.failed,
                s.cpu_ms,
                s.cpu_ms / s.results as f64,
                s.wall_ms
            );
            if side == 0 {
                tw.push(s);
            } else {
                api.push(s);
            }
        }
    }
    let per = |v: &[Sample], f: fn(&Sample) -> f64| median(v.iter().map(f).collect());
    let (tc, ac) = (
        per(&tw, |s| s.cpu_ms / s.results as f64),
        per(&api, |s| s.cpu_ms / s.results as f64),
    );
    let (twall, awall) = (per(&tw, |s| s.wall_ms), per(&api, |s| s.wall_ms));
    println!();
    println!("| {devices} devices, medians of {rounds} | Towerops adapter | agent alone (API) | overhead |");
    println!("|---|---|---|---|");
    println!(
        "| agent CPU per result | {tc:.3} ms | {ac:.3} ms | {:+.1}% |",
        (tc / ac - 1.0) * 100.0
    );
    println!(
        "| wall, all results | {twall:.0} ms | {awall:.0} ms | {:+.1}% |",
        (twall / awall - 1.0) * 100.0
    );
}
