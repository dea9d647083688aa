//! The engine-wide packets-per-second cap: every probe of every caller takes the next free
//! slot, so a sweep of a /16 cannot flood a WAN link whatever its callers ask for.
//!
//! Timer coalescing: a probe whose slot is in the future waits until the next point of a
//! 5 ms grid at or after its slot, so the probes of several slots leave on one wake-up
//! (5 at 1,000/s) instead of one wake-up per packet. A packet is only ever delayed, never
//! sent before its slot: the cap holds over any window of 5 ms or more.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The wake-up grid (see the module's doc).
const TICK: Duration = Duration::from_millis(5);

pub struct Rate {
    gap: Duration,
    next: Mutex<Option<Instant>>,
    epoch: Instant,
}

impl Rate {
    pub fn new(per_second: u32) -> Rate {
        Rate {
            gap: Duration::from_secs(1) / per_second.max(1),
            next: Mutex::new(None),
            epoch: Instant::now(),
        }
    }

    /// Waits for this caller's slot. Slots are absolute times, so the timer's granularity
    /// makes sends bursty by a millisecond but never faster than the cap on average.
    pub async fn acquire(&self) {
        let now = Instant::now();
        let slot = {
            let mut next = match self.next.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.gap);
            slot
        };
        if slot > now {
            let since = (slot - self.epoch).as_nanos();
            let tick = TICK.as_nanos();
            let up = since.div_ceil(tick) * tick;
            let wake = self.epoch + Duration::from_nanos(u64::try_from(up).unwrap_or(u64::MAX));
            tokio::time::sleep_until(wake).await;
        }
    }
}
