//! Issue 13, responsiveness: 100 commands run at once, all complete with their own output,
//! and a timer on the same runtime keeps its ticks (the spawns and audit writes happen on
//! blocking threads, not on the runtime's two workers).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::fixture_with;
use outpost_exec::{ExitOutcome, Request};
use tokio_util::sync::CancellationToken;

const EXTRA: &str = r#"
[slow]
argv = ["sleep 0.2; echo \"$1\"", "{i}"]
shell_script = true
processes = 1024
params.i = { type = "integer", min = 0, max = 1000 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_a_hundred_concurrent_commands_complete_and_a_timer_stays_on_time() {
    let f = fixture_with(EXTRA, |_| {});
    let done = CancellationToken::new();
    let ticker = {
        let done = done.clone();
        tokio::spawn(async move {
            let period = Duration::from_millis(10);
            let mut next = tokio::time::Instant::now() + period;
            let mut worst = Duration::ZERO;
            let mut ticks = 0u32;
            while !done.is_cancelled() {
                tokio::time::sleep_until(next).await;
                worst = worst.max(tokio::time::Instant::now() - next);
                ticks += 1;
                next += period;
            }
            (worst, ticks)
        })
    };
    let t0 = Instant::now();
    let runs: Vec<_> = (0..100)
        .map(|i| {
            let exec = f.exec.clone();
            tokio::spawn(async move {
                exec.run(
                    common::origin(),
                    Request::command("slow").param("i", i),
                    CancellationToken::new(),
                )
                .await
            })
        })
        .collect();
    for (i, r) in runs.into_iter().enumerate() {
        let fin = r
            .await
            .expect("task")
            .unwrap_or_else(|e| panic!("run {i}: {e}"));
        assert_eq!(
            fin.result.exit,
            ExitOutcome::Exited { code: 0 },
            "run {i}: {:?}",
            fin.result.stderr.text()
        );
        assert_eq!(fin.result.stdout.bytes, format!("{i}\n").as_bytes());
    }
    let elapsed = t0.elapsed();
    done.cancel();
    let (worst, ticks) = ticker.await.expect("ticker");
    eprintln!("100 commands in {elapsed:?}; timer: {ticks} ticks, worst lateness {worst:?}");
    assert!(ticks > 10, "the timer ticked during the runs ({ticks})");
    assert!(
        worst < Duration::from_millis(100),
        "worst tick lateness {worst:?}"
    );
    let report = outpost_exec::verify(&f.audit_path).expect("the log verifies");
    assert_eq!(report.lines, 200, "a decision and an outcome line per run");
}
