//! Typed internal events, in the manner of vector's `InternalEvent`: each thing the agent
//! reports about itself is a struct holding what it reports, and its [`InternalEvent::emit`]
//! bumps its counters and writes its log line together, at the level its kind decides. A
//! counter can then never drift from its log line, the log's severity comes from a typed
//! kind (never from searching a message's text), and a caller says *what happened*
//! (`RowsAcked { n }.emit(&reporter)`), not how it is counted.
//!
//! # The pattern (for new collectors)
//!
//! ```ignore
//! /// A row the store could not decode (one struct per event; fields are what it reports).
//! pub struct RowUnreadable<'a> { pub seq: u64, pub error: &'a StoreError }
//!
//! impl InternalEvent<MyReporter> for RowUnreadable<'_> {
//!     fn emit(self, r: &MyReporter) {
//!         r.metrics.unreadable.inc();                       // the counter...
//!         limited!(r.limits.unreadable, WARN,                 // ...and its line, rate-limited
//!             seq = self.seq, error = %self.error, "store: a row could not be read");
//!     }
//! }
//! ```
//!
//! - **Where the counters live.** `emit` takes a context (`emit(self, &cx)`) instead of
//!   reaching for global state: the metric families belong to the registry the daemon
//!   builds and hands down, so two agents (or two tests) in one process never share
//!   counters, and a unit test reads exactly the counters its own events bumped. The
//!   context is whatever the emitter already owns (for the uplinks, their
//!   [`Reporter`](crate::uplink::events::Reporter)); events with no counters use `()`.
//! - **Rate limits.** Every line that can repeat (a failing peer, a bad message per
//!   message) goes through a [`RateLimit`] with [`limited!`]: the first line is written,
//!   then at most one per interval, carrying `suppressed = K` for the lines it stood for.
//!   A limiter is two atomics and no timer task (idle means idle): suppressed lines are
//!   counted when they happen and reported by the next line written. Keep one limiter per
//!   call site and per emitter, either a `static` at the call site or a field of the
//!   emitter's context (the uplinks keep theirs per uplink, so one uplink's failures never
//!   hide the other's).
//! - **Severity from kinds.** When an event's level depends on what went wrong, match on
//!   the error's kind (an enum variant) and write each arm's line with its own level.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        OnceLock,
    },
    time::{Duration, Instant},
};

/// Something the agent reports about itself: counted and logged together by `emit`.
pub trait InternalEvent<Cx: ?Sized = ()> {
    fn emit(self, cx: &Cx);
}

/// A per-call-site log limiter: the first line passes, then at most one per `interval`,
/// and the one that passes says how many were suppressed since the last.
#[derive(Debug)]
pub struct RateLimit {
    interval_ms: u64,
    /// Milliseconds since [`epoch`] (plus one, so 0 means "never") of the last line written.
    last: AtomicU64,
    /// Lines suppressed since the last one written.
    suppressed: AtomicU64,
}

/// The limiter's clock origin: monotonic, shared by every limiter in the process.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// How long between two lines of one call site by default: a failing peer retried every
/// second then fills the log with a line every ten.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

impl RateLimit {
    /// `const`, so a call site can keep its limiter in a `static`.
    pub const fn new(interval: Duration) -> Self {
        RateLimit {
            interval_ms: interval.as_millis() as u64,
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Whether to write a line now: `Some(suppressed since the last line)` or `None`.
    pub fn check(&self) -> Option<u64> {
        let now = epoch().elapsed().as_millis() as u64;
        self.check_at(now)
    }

    /// [`RateLimit::check`] at `now_ms` since the limiter's epoch (tests drive the clock).
    pub fn check_at(&self, now_ms: u64) -> Option<u64> {
        // Stored as now + 1 so that 0 stays "never written".
        let stamp = now_ms.saturating_add(1);
        let last = self.last.load(Ordering::Relaxed);
        let due = last == 0 || stamp.saturating_sub(last) >= self.interval_ms;
        // One writer wins a race for the same slot; the loser counts as suppressed.
        if due
            && self
                .last
                .compare_exchange(last, stamp, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::new(DEFAULT_INTERVAL)
    }
}

/// `limited!(limit, LEVEL, fields..., "message")`: a `tracing` event at `LEVEL` (`ERROR`,
/// `WARN`, `INFO`, `DEBUG`, `TRACE`) written only when `limit` (a [`RateLimit`]) lets it
/// through, with `suppressed = K` added when lines were held back since the last one.
#[macro_export]
macro_rules! limited {
    ($limit:expr, $level:ident, $($rest:tt)+) => {
        if ::tracing::enabled!(::tracing::Level::$level) {
            match $crate::internal_event::RateLimit::check(&$limit) {
                Some(0) => ::tracing::event!(::tracing::Level::$level, $($rest)+),
                Some(suppressed) => {
                    ::tracing::event!(::tracing::Level::$level, suppressed, $($rest)+)
                }
                None => {}
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue12_limiter_passes_the_first_line_then_one_per_interval_with_the_suppressed_count() {
        let l = RateLimit::new(Duration::from_secs(10));
        assert_eq!(l.check_at(5_000), Some(0), "the first line always passes");
        assert_eq!(l.check_at(5_001), None);
        assert_eq!(l.check_at(9_000), None);
        assert_eq!(l.check_at(14_999), None, "just inside the interval");
        assert_eq!(
            l.check_at(15_000),
            Some(3),
            "one interval on: passes, reporting the three held back"
        );
        assert_eq!(l.check_at(15_000), None);
        assert_eq!(
            l.check_at(40_000),
            Some(1),
            "a quiet spell: the next passes"
        );
        assert_eq!(l.check_at(50_000), Some(0), "nothing held back since");
    }

    #[test]
    fn issue12_limiter_at_time_zero_and_with_a_zero_interval() {
        let l = RateLimit::new(Duration::from_secs(1));
        assert_eq!(
            l.check_at(0),
            Some(0),
            "time zero is not mistaken for 'never'"
        );
        assert_eq!(l.check_at(0), None);
        assert_eq!(l.check_at(1_000), Some(1));
        let every = RateLimit::new(Duration::ZERO);
        for t in [0, 0, 1, 1] {
            assert_eq!(
                every.check_at(t),
                Some(0),
                "a zero interval never suppresses"
            );
        }
    }

    #[test]
    fn issue12_limiter_on_the_real_clock_holds_back_a_burst() {
        static L: RateLimit = RateLimit::new(Duration::from_secs(3600));
        let passed = (0..1000).filter(|_| L.check().is_some()).count();
        assert_eq!(
            passed, 1,
            "a burst of 1000 within the interval writes one line"
        );
        assert_eq!(L.suppressed.load(Ordering::Relaxed), 999);
    }
}
