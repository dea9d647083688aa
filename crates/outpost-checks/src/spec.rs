//! What every check's spec shares: the timeout and the response-time thresholds, the typed
//! error a bad spec is, and the `time=` perfdata item the monitoring plugins print.

use std::future::Future;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::perfdata::Perfdata;
use crate::result::{CheckResult, Status};

/// check_http's and check_tcp's default (`-t 10`).
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Longest timeout a spec may ask for: a check that hangs for longer is a stuck worker.
pub const MAX_TIMEOUT_MS: u64 = 300_000;

/// A spec that cannot be run, naming its field (`url`, `headers.x-y`, ...) so the API can
/// answer 4xx with it. A check that runs and fails is a [`crate::CheckResult`], never this.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    pub field: String,
    pub message: String,
}

impl SpecError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The timing part of every spec: how long to wait in all, and the response times (ms)
/// past which the check is WARNING and CRITICAL (check_http's `-w`/`-c`, in ms here).
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
pub struct Timing {
    pub timeout_ms: Option<u64>,
    pub warn_ms: Option<f64>,
    pub crit_ms: Option<f64>,
}

impl Timing {
    pub fn validate(&self) -> Result<(), SpecError> {
        if let Some(t) = self.timeout_ms {
            if t == 0 || t > MAX_TIMEOUT_MS {
                return Err(SpecError::new(
                    "timeout_ms",
                    format!("1 to {MAX_TIMEOUT_MS} ms"),
                ));
            }
        }
        for (name, v) in [("warn_ms", self.warn_ms), ("crit_ms", self.crit_ms)] {
            if let Some(v) = v {
                if !v.is_finite() || v < 0.0 {
                    return Err(SpecError::new(name, "a number of milliseconds >= 0"));
                }
            }
        }
        if let (Some(w), Some(c)) = (self.warn_ms, self.crit_ms) {
            if w > c {
                return Err(SpecError::new("warn_ms", "must not exceed crit_ms"));
            }
        }
        Ok(())
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS))
    }

    /// The state the response time alone gives.
    pub fn judge(&self, elapsed: Duration) -> Status {
        let ms = elapsed.as_secs_f64() * 1000.0;
        if self.crit_ms.is_some_and(|c| ms > c) {
            Status::Critical
        } else if self.warn_ms.is_some_and(|w| ms > w) {
            Status::Warning
        } else {
            Status::Ok
        }
    }

    /// Runs a check's `body` under the timeout. A timeout is CRITICAL, with the output and
    /// details `on_timeout` gives for the timeout in seconds; either way the `time=` item is
    /// added. Every check ends here, so a check cannot outlive its timeout or forget its
    /// perfdata.
    pub async fn bounded(
        &self,
        start: Instant,
        body: impl Future<Output = CheckResult>,
        on_timeout: impl FnOnce(f64) -> (String, serde_json::Value),
    ) -> CheckResult {
        let mut r = match tokio::time::timeout(self.timeout(), body).await {
            Ok(r) => r,
            Err(_) => {
                let (output, details) = on_timeout(self.timeout().as_secs_f64());
                let mut r = CheckResult::new(Status::Critical, output, start.elapsed());
                r.details = details;
                r
            }
        };
        self.add_time(&mut r);
        r
    }

    /// Puts the `time=` item first in `r`'s perfdata, from the response time `r` reports
    /// (so the two never disagree).
    pub fn add_time(&self, r: &mut CheckResult) {
        let elapsed = Duration::from_secs_f64(r.response_time_ms.max(0.0) / 1000.0);
        r.perfdata.insert(0, self.perfdata(elapsed));
    }

    /// `time=0.002103s;W;C;0;TIMEOUT` in seconds, as check_http and check_tcp print it.
    pub fn perfdata(&self, elapsed: Duration) -> Perfdata {
        let mut p = Perfdata::new("time", round6(elapsed.as_secs_f64()), "s");
        p.warn = self.warn_ms.map(|w| secs(w / 1000.0));
        p.crit = self.crit_ms.map(|c| secs(c / 1000.0));
        p.min = Some(0.0);
        p.max = Some(self.timeout().as_secs_f64());
        p
    }
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

fn secs(v: f64) -> String {
    format!("{:.6}", v)
}

/// Milliseconds with microsecond precision, for `details`.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// `N.NNN second(s)` as the plugins word it.
pub fn seconds_text(elapsed: Duration) -> String {
    format!("{:.3} second response time", elapsed.as_secs_f64())
}

/// check_tcp's `--refuse` / `--mismatch` states, named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StateName {
    Ok,
    Warning,
    Critical,
}

impl From<StateName> for Status {
    fn from(s: StateName) -> Status {
        match s {
            StateName::Ok => Status::Ok,
            StateName::Warning => Status::Warning,
            StateName::Critical => Status::Critical,
        }
    }
}

/// A host or address as a spec gives it: non-empty, no spaces, DNS-name length.
pub fn validate_host(field: &str, host: &str) -> Result<(), SpecError> {
    if host.is_empty()
        || host.len() > 253
        || host.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(SpecError::new(field, "an IP address or a host name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_judge_and_print_like_check_http() {
        let t = Timing {
            timeout_ms: None,
            warn_ms: Some(100.0),
            crit_ms: Some(500.0),
        };
        assert!(t.validate().is_ok());
        assert_eq!(t.judge(Duration::from_millis(50)), Status::Ok);
        assert_eq!(t.judge(Duration::from_millis(150)), Status::Warning);
        assert_eq!(t.judge(Duration::from_millis(501)), Status::Critical);
        assert_eq!(
            t.perfdata(Duration::from_micros(2103)).to_string(),
            "time=0.002103s;0.100000;0.500000;0;10"
        );
        let bad = Timing {
            warn_ms: Some(10.0),
            crit_ms: Some(5.0),
            ..Timing::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "warn_ms");
        let bad = Timing {
            timeout_ms: Some(0),
            ..Timing::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "timeout_ms");
    }

    proptest::proptest! {
        /// The `time=` item a check prints reads back as the same item, its thresholds as
        /// ranges the guidelines accept, and the state agrees with the thresholds read back.
        #[test]
        fn time_perfdata_round_trips(
            warn in proptest::option::of(0.0f64..100_000.0),
            extra in 0.0f64..100_000.0,
            timeout in 1u64..=MAX_TIMEOUT_MS,
            elapsed_us in 0u64..200_000_000,
        ) {
            let t = Timing {
                timeout_ms: Some(timeout),
                warn_ms: warn,
                crit_ms: warn.map(|w| w + extra),
            };
            proptest::prop_assert!(t.validate().is_ok());
            let elapsed = Duration::from_micros(elapsed_us);
            let item = t.perfdata(elapsed);
            let (back, errors) = crate::perfdata::parse(&item.to_string());
            proptest::prop_assert!(errors.is_empty(), "{:?}", errors);
            proptest::prop_assert_eq!(&back, &vec![item.clone()]);
            let secs = elapsed.as_secs_f64();
            let over = |r: &Option<String>| {
                r.as_deref().map(|v| v.parse::<f64>().unwrap_or(f64::MAX))
                    .is_some_and(|v| secs > v + 1e-6)
            };
            let judged = t.judge(elapsed);
            if over(&item.crit) {
                proptest::prop_assert_eq!(judged, Status::Critical);
            } else if judged == Status::Ok {
                proptest::prop_assert!(!over(&item.warn));
            }
        }
    }
}
