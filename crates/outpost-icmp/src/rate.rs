//! The engine-wide packets-per-second cap: every probe of every caller takes the next free
//! slot, so a sweep of a /16 cannot flood a WAN link whatever its callers ask for.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

pub struct Rate {
    gap: Duration,
    next: Mutex<Option<Instant>>,
}

impl Rate {
    pub fn new(per_second: u32) -> Rate {
        Rate {
            gap: Duration::from_secs(1) / per_second.max(1),
            next: Mutex::new(None),
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
            tokio::time::sleep_until(slot).await;
        }
    }
}
