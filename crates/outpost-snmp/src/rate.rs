//! A PDU rate limit: requests are spaced at least `1/rate` apart.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Spaces requests evenly; callers wait their turn instead of bursting.
#[derive(Debug)]
pub struct RateLimiter {
    /// Minimum gap between two PDUs.
    interval: Duration,
    /// When the next PDU may leave.
    next: Mutex<Instant>,
}

impl RateLimiter {
    /// `per_second` must be positive; non-positive means no limit (None).
    pub fn new(per_second: f64) -> Option<RateLimiter> {
        if per_second.is_nan() || per_second <= 0.0 {
            return None;
        }
        Some(RateLimiter {
            interval: Duration::from_secs_f64(1.0 / per_second),
            next: Mutex::new(Instant::now()),
        })
    }

    pub async fn acquire(&self) {
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let at = (*next).max(now);
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_requests() {
        let r = RateLimiter::new(10.0).unwrap();
        let start = Instant::now();
        for _ in 0..11 {
            r.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }
}
