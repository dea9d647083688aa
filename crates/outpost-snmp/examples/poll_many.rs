//! Benchmark poller for bench/snmp: many targets, each polled for a set of
//! GET OIDs plus one table bulkwalk, all concurrently through one engine.
//!
//! `poll_many --ports 20001-21000 [--host 127.0.0.1] [--community public]
//!   [--reps 10] [--get-chunk 10] [--in-flight 512] [--rounds 1]`
//! Prints one JSON line: targets, failures, varbinds, wall seconds, and
//! this process's CPU seconds (from /proc/self/stat).
use std::process::ExitCode;
use std::time::{Duration, Instant};

use outpost_snmp::engine::{Engine, EngineConfig, TargetConfig};
use outpost_snmp::{Oid, Security, WalkMode};

/// 8 system scalars, ifNumber and 11 snmp-group counters: 20 GET OIDs.
const GETS: &[&str] = &[
    ".1.3.6.1.2.1.1.1.0",
    ".1.3.6.1.2.1.1.2.0",
    ".1.3.6.1.2.1.1.3.0",
    ".1.3.6.1.2.1.1.4.0",
    ".1.3.6.1.2.1.1.5.0",
    ".1.3.6.1.2.1.1.6.0",
    ".1.3.6.1.2.1.1.7.0",
    ".1.3.6.1.2.1.1.8.0",
    ".1.3.6.1.2.1.2.1.0",
    ".1.3.6.1.2.1.11.1.0",
    ".1.3.6.1.2.1.11.2.0",
    ".1.3.6.1.2.1.11.3.0",
    ".1.3.6.1.2.1.11.4.0",
    ".1.3.6.1.2.1.11.5.0",
    ".1.3.6.1.2.1.11.6.0",
    ".1.3.6.1.2.1.11.8.0",
    ".1.3.6.1.2.1.11.9.0",
    ".1.3.6.1.2.1.11.10.0",
    ".1.3.6.1.2.1.11.11.0",
    ".1.3.6.1.2.1.11.12.0",
];
const IF_TABLE: &str = ".1.3.6.1.2.1.2.2";

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the ")" of the command name; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let ticks = f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0);
    ticks as f64 / 100.0
}

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let ports = arg(&args, "--ports", "20001-21000");
    let (lo, hi) = ports.split_once('-').unwrap_or((&ports, &ports));
    let (Ok(lo), Ok(hi)) = (lo.parse::<u16>(), hi.parse::<u16>()) else {
        eprintln!("bad --ports");
        return ExitCode::from(2);
    };
    let host = arg(&args, "--host", "127.0.0.1");
    let community = arg(&args, "--community", "public");
    let reps: u32 = arg(&args, "--reps", "10").parse().unwrap_or(10);
    let chunk: usize = arg(&args, "--get-chunk", "10").parse().unwrap_or(10).max(1);
    let in_flight: usize = arg(&args, "--in-flight", "512").parse().unwrap_or(512);
    let rounds: u32 = arg(&args, "--rounds", "1").parse().unwrap_or(1);
    let gets: Vec<Oid> = GETS.iter().filter_map(|s| s.parse().ok()).collect();
    let Ok(table) = IF_TABLE.parse::<Oid>() else {
        return ExitCode::from(2);
    };

    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let Ok(engine) = Engine::new(EngineConfig {
        max_in_flight: in_flight,
        ..EngineConfig::default()
    })
    .await
    else {
        return ExitCode::from(1);
    };
    let mut sessions = Vec::new();
    for port in lo..=hi {
        let Ok(addr) = format!("{host}:{port}").parse() else {
            return ExitCode::from(2);
        };
        let mut cfg = TargetConfig::new(addr, Security::v2c(&community));
        cfg.timeout = Duration::from_secs(2);
        cfg.retries = 2;
        cfg.max_in_flight = 1;
        match engine.session(cfg).await {
            Ok(s) => sessions.push(s),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(1);
            }
        }
    }
    let (mut varbinds, mut failures) = (0usize, 0usize);
    for _ in 0..rounds {
        let mut tasks = tokio::task::JoinSet::new();
        for s in &sessions {
            let s = s.clone();
            let gets = gets.clone();
            let table = table.clone();
            tasks.spawn(async move {
                let mut n = 0usize;
                for c in gets.chunks(chunk) {
                    n += s.get(c).await?.len();
                }
                let w = s.walk_each(&table, WalkMode::Bulk(reps), |_| {}).await?;
                Ok::<usize, outpost_snmp::SnmpError>(n + w.delivered)
            });
        }
        while let Some(r) = tasks.join_next().await {
            match r {
                Ok(Ok(n)) => varbinds += n,
                _ => failures += 1,
            }
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let st = engine.stats();
    println!(
        "{{\"targets\":{},\"rounds\":{rounds},\"failures\":{failures},\"varbinds\":{varbinds},\"wall_s\":{wall:.3},\"cpu_s\":{cpu:.2},\"requests_sent\":{},\"retransmits\":{}}}",
        sessions.len(),
        st.requests_sent,
        st.retransmits
    );
    if failures > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
