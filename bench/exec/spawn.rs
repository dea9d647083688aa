//! The baseline of bench/exec/run.py: a bare fork-exec of a program, N times, C at a time,
//! nothing else (no sandbox, no store, no audit). Prints one JSON line:
//! {"runs", "wall_s", "per_s", "p50_us", "p99_us"}; latencies are spawn-to-reaped per run.
//!
//! Usage: exec_spawn PROGRAM RUNS CONCURRENCY

use std::{
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Instant,
};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, program, runs, conc] = args.as_slice() else {
        anyhow::bail!("usage: exec_spawn PROGRAM RUNS CONCURRENCY");
    };
    let runs: usize = runs.parse()?;
    let conc: usize = conc.parse()?;
    let next = Arc::new(AtomicUsize::new(0));
    let lat = Arc::new(Mutex::new(Vec::with_capacity(runs)));
    let t0 = Instant::now();
    let threads: Vec<_> = (0..conc)
        .map(|_| {
            let (next, lat, program) = (next.clone(), lat.clone(), program.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mut mine = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < runs {
                    let t = Instant::now();
                    // Output captured, as the agent captures it.
                    let out = Command::new(&program).stdin(Stdio::null()).output()?;
                    anyhow::ensure!(out.status.success(), "{program} failed");
                    mine.push(t.elapsed().as_micros() as u64);
                }
                lat.lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .extend(mine);
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| anyhow::anyhow!("thread panicked"))??;
    }
    let wall = t0.elapsed().as_secs_f64();
    let mut lat = lat.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clone();
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize];
    println!(
        "{}",
        serde_json::json!({"runs": lat.len(), "wall_s": wall, "per_s": lat.len() as f64 / wall,
                           "p50_us": pct(0.5), "p99_us": pct(0.99)})
    );
    Ok(())
}
