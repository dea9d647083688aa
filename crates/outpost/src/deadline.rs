//! Optional deadlines in `select!` loops.

use tokio::time::Instant;

/// Sleeps until `at`; with no deadline, never wakes (guard the `select!` branch with
/// `if at.is_some()`, or let it stay pending).
pub async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
