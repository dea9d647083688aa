//! The wall clock and the time since boot, injectable: the reboot stamp is wall-clock time
//! (monotonic clocks restart at boot), the boot grace is measured from boot.

use std::time::{Duration, SystemTime};

pub trait Clocks: Send + Sync {
    fn wall(&self) -> SystemTime;
    /// Time since the system booted (CLOCK_BOOTTIME: suspend included). `None` when it
    /// cannot be read; the boot grace then holds (the safe reading).
    fn uptime(&self) -> Option<Duration>;
}

/// The system's clocks: `SystemTime::now()` and `/proc/uptime`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClocks;

impl Clocks for SystemClocks {
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }

    fn uptime(&self) -> Option<Duration> {
        let text = std::fs::read_to_string("/proc/uptime").ok()?;
        parse_uptime(&text)
    }
}

/// `/proc/uptime`'s first field: seconds since boot, CLOCK_BOOTTIME.
pub fn parse_uptime(text: &str) -> Option<Duration> {
    let secs: f64 = text.split_whitespace().next()?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// Unix seconds of `t` (0 before the epoch).
pub fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn uptime_is_read_from_procs_format() {
        assert_eq!(
            parse_uptime("12345.67 54321.00\n"),
            Some(Duration::from_secs_f64(12345.67))
        );
        assert_eq!(parse_uptime(""), None);
        assert_eq!(parse_uptime("-1 2"), None);
        assert_eq!(parse_uptime("x 2"), None);
        assert!(SystemClocks.uptime().unwrap() > Duration::ZERO);
    }
}
