//! Local scheduling of recurring Towerops jobs and checks: how long a new entry waits
//! before its first run. The offset is a hash of the id (FNV-1a, 64 bits) modulo
//! min(interval, 60 s), in nanoseconds: a fleet's entries spread over the first minute
//! instead of firing together when a job list arrives, and an id always gets the same
//! offset, so a re-sent list does not shuffle the load.

use std::time::Duration;

/// An interval of 0 means this (the original's default).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// The stagger window never exceeds this.
pub const MAX_WINDOW: Duration = Duration::from_secs(60);

/// FNV-1a, 64-bit.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The interval of an entry (`interval_seconds`, 0 meaning [`DEFAULT_INTERVAL`]).
pub fn interval(seconds: u32) -> Duration {
    if seconds == 0 {
        DEFAULT_INTERVAL
    } else {
        Duration::from_secs(u64::from(seconds))
    }
}

/// The delay before the first run of entry `id` recurring every `interval`.
pub fn first_run_offset(id: &str, interval: Duration) -> Duration {
    let window = interval.min(MAX_WINDOW).as_nanos() as u64;
    if window == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(fnv1a64(id.as_bytes()) % window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue17_towerops_stagger() {
        // The published FNV-1a-64 test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(interval(0), Duration::from_secs(60));
        assert_eq!(interval(300), Duration::from_secs(300));
        let h = fnv1a64(b"poll:42");
        assert_eq!(
            first_run_offset("poll:42", Duration::from_secs(300)),
            Duration::from_nanos(h % 60_000_000_000)
        );
        assert_eq!(
            first_run_offset("poll:42", Duration::from_secs(10)),
            Duration::from_nanos(h % 10_000_000_000)
        );
        assert_eq!(first_run_offset("poll:42", Duration::ZERO), Duration::ZERO);
        // Spread: 1,000 ids over a minute do not bunch into a few seconds.
        let mut secs: Vec<u64> = (0..1000)
            .map(|i| first_run_offset(&format!("poll:{i}"), interval(0)).as_secs())
            .collect();
        secs.sort_unstable();
        secs.dedup();
        assert!(secs.len() >= 55, "only {} distinct seconds", secs.len());
    }
}
