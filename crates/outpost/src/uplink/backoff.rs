//! Reconnect delays: exponential with full jitter, so a fleet that lost its control plane
//! does not come back in lock-step.

use std::time::{Duration, Instant};

/// The three figures of a backoff, by name (`uplink.backoff_*_ms`): three bare durations
/// in a row are too easy to pass in the wrong order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    /// First ceiling (the issue's 1 s).
    pub initial: Duration,
    /// Ceiling cap (60 s).
    pub max: Duration,
    /// A connection that stayed up this long resets the sequence.
    pub reset_after: Duration,
}

/// Backoff state for one uplink.
#[derive(Debug)]
pub struct Backoff {
    /// The figures it was built with.
    config: BackoffConfig,
    /// Failures since the last reset.
    attempt: u32,
}

impl Backoff {
    pub fn new(config: BackoffConfig) -> Self {
        Backoff { config, attempt: 0 }
    }

    /// The ceiling for the next delay: `min(max, initial * 2^attempt)`.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        self.config
            .initial
            .saturating_mul(factor)
            .min(self.config.max)
    }

    /// From now on every delay is drawn under the cap, until a reset: for a peer that keeps
    /// refusing us for a reason a retry soon will not change.
    pub fn exhaust(&mut self) {
        self.attempt = 20;
    }

    /// Call when a connection ends. `up_since` is when it was established, if it was;
    /// `productive` says it carried traffic both ways (the peer acknowledged something we
    /// sent, or sent us something), which proves the peer healthy however short the session
    /// was: a broker restarted several times a few seconds apart must not push the delay up
    /// as a dead one would. Returns how long to wait before the next attempt: uniform in
    /// `[0, ceiling]`.
    pub fn next_delay(&mut self, up_since: Option<Instant>, productive: bool) -> Duration {
        self.next_delay_under(up_since, productive).0
    }

    /// [`Backoff::next_delay`], and the ceiling it was drawn under (for the log).
    pub fn next_delay_under(
        &mut self,
        up_since: Option<Instant>,
        productive: bool,
    ) -> (Duration, Duration) {
        if up_since.is_some_and(|t| productive || t.elapsed() >= self.config.reset_after) {
            self.attempt = 0;
        }
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let mut r = [0u8; 8];
        // Without randomness, wait the full ceiling: slower, never a storm.
        let frac = match getrandom::fill(&mut r) {
            Ok(()) => (u64::from_le_bytes(r) >> 11) as f64 / (1u64 << 53) as f64,
            Err(_) => 1.0,
        };
        (ceiling.mul_f64(frac), ceiling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue5_backoff_grows_to_the_cap_with_full_jitter_and_resets() {
        let mut b = Backoff::new(BackoffConfig {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            reset_after: Duration::from_secs(30),
        });
        let mut ceilings = vec![];
        for _ in 0..10 {
            ceilings.push(b.ceiling().as_secs());
            let d = b.next_delay(None, false);
            assert!(d <= Duration::from_secs(60));
        }
        assert_eq!(ceilings, vec![1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
        b.exhaust();
        assert_eq!(
            b.ceiling(),
            Duration::from_secs(60),
            "exhausted: at the cap"
        );
        for _ in 0..6 {
            b.next_delay(None, false);
        }
        let long_ago = Instant::now().checked_sub(Duration::from_secs(31)).unwrap();
        b.next_delay(Some(long_ago), false);
        assert_eq!(
            b.ceiling(),
            Duration::from_secs(2),
            "reset, then one attempt counted"
        );
        // issue 10: a short session that exchanged traffic resets too; one that did not,
        // does not.
        for _ in 0..5 {
            b.next_delay(None, false);
        }
        b.next_delay(Some(Instant::now()), false);
        assert_eq!(
            b.ceiling(),
            Duration::from_secs(60),
            "a short idle session is no proof"
        );
        b.next_delay(Some(Instant::now()), true);
        assert_eq!(
            b.ceiling(),
            Duration::from_secs(2),
            "a productive session resets"
        );
        // Jitter: delays spread over the whole range, not clustered at the ceiling.
        let mut b = Backoff::new(BackoffConfig {
            initial: Duration::from_secs(8),
            max: Duration::from_secs(8),
            reset_after: Duration::from_secs(30),
        });
        let ds: Vec<_> = (0..200).map(|_| b.next_delay(None, false)).collect();
        assert!(ds.iter().any(|d| *d < Duration::from_secs(2)));
        assert!(ds.iter().any(|d| *d > Duration::from_secs(6)));
    }
}
