//! Waiting on a condition with a deadline: the only synchronization tests use (never a
//! bare sleep). The pause between checks only spaces the polls; correctness comes from the
//! condition.

use std::time::{Duration, Instant};

/// Polls `cond` until it holds or `deadline` passes; panics naming `what` on timeout.
pub fn wait_until(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    let mut pause = Duration::from_millis(2);
    loop {
        if cond() {
            return;
        }
        assert!(
            Instant::now() < end,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::park_timeout(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// [`wait_until`] for an async condition.
pub async fn wait_for<F, Fut>(what: &str, deadline: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = Instant::now() + deadline;
    let mut pause = Duration::from_millis(2);
    while Instant::now() < end {
        if cond().await {
            return;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
    panic!("timed out after {deadline:?} waiting for {what}");
}
