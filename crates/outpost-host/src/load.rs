//! Load averages and uptime from /proc/loadavg and /proc/uptime.

use serde::Serialize;

/// Run-queue load and how long the host has been up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Load {
    /// 1-minute load average.
    pub load1: f64,
    /// 5-minute load average.
    pub load5: f64,
    /// 15-minute load average.
    pub load15: f64,
    /// Seconds since boot; operators read reboots from it.
    pub uptime_seconds: f64,
}

/// Parses the three averages at the start of /proc/loadavg.
pub fn parse_loadavg(text: &str) -> Result<(f64, f64, f64), &'static str> {
    let mut it = text.split_ascii_whitespace().map(str::parse::<f64>);
    match (it.next(), it.next(), it.next()) {
        (Some(Ok(a)), Some(Ok(b)), Some(Ok(c))) => Ok((a, b, c)),
        _ => Err("expected three load averages"),
    }
}

/// Parses the first number of /proc/uptime.
pub fn parse_uptime(text: &str) -> Result<f64, &'static str> {
    text.split_ascii_whitespace()
        .next()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or("expected uptime seconds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_loadavg_and_uptime() {
        assert_eq!(
            parse_loadavg("0.52 0.58 0.59 2/345 12345\n").unwrap(),
            (0.52, 0.58, 0.59)
        );
        assert_eq!(parse_uptime("350735.47 234388.90\n").unwrap(), 350735.47);
        assert!(parse_loadavg("0.5").is_err());
        assert!(parse_uptime("-1").is_err());
    }
}
