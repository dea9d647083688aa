//! When a schedule is due: cron expressions (croner, seconds optional, IANA time zones from
//! `zone.rs`) or fixed intervals. Times are Unix milliseconds throughout.
//!
//! croner is pinned (`=2.2.0` in Cargo.toml) and named nowhere else in Outpost: it is young
//! (its 3.0 changed the parsing API and the meaning of some patterns), so an upgrade is a
//! decision taken here, with this module's tests, never a side effect of `cargo update`.
//! Every call into it is wrapped in `catch_unwind`: a pattern it mishandles must be a
//! refused schedule or a schedule that is never due, never a dead timer task.

use std::panic::{catch_unwind, AssertUnwindSafe};

use chrono::{DateTime, TimeZone, Utc};
use croner::Cron;

use crate::spec::When;
use crate::zone::Zone;

/// The longest cron expression accepted: real ones are a few dozen characters.
pub const MAX_CRON_LEN: usize = 256;
/// The shortest interval: cron's own granularity is one second.
pub const MIN_EVERY_MS: u64 = 1_000;
/// The longest interval (a year): longer is a mistake.
pub const MAX_EVERY_MS: u64 = 366 * 24 * 3600 * 1000;

/// Why a `When` cannot be used, with the field to blame (`cron`, `tz` or `every_ms`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct WhenError {
    pub field: &'static str,
    pub reason: String,
}

impl WhenError {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        WhenError {
            field,
            reason: reason.into(),
        }
    }
}

/// A compiled `When`: answers "the first due time strictly after t".
#[derive(Debug, Clone)]
pub enum Cadence {
    /// `expr` as written: schedules that share an expression and a zone share their due
    /// times, so the timeline computes them once per firing (`Timeline::reschedule_some`).
    Cron {
        cron: Box<Cron>,
        tz: Zone,
        expr: std::sync::Arc<str>,
    },
    /// Due at `anchor + k * ms`, k >= 1.
    Every { ms: i64, anchor: i64 },
}

impl Cadence {
    /// Compiles `when`; `anchor` is where an interval counts from (the schedule's creation).
    /// A cron expression that can never be due is refused here, naming `cron`.
    pub fn compile(when: &When, anchor: i64, now: i64) -> Result<Cadence, WhenError> {
        let cadence = match when {
            When::Cron { expr, tz } => {
                if expr.len() > MAX_CRON_LEN {
                    return Err(WhenError::new(
                        "cron",
                        format!("longer than {MAX_CRON_LEN} characters"),
                    ));
                }
                let tz = match tz {
                    None => Zone::utc(),
                    Some(name) => Zone::named(name).ok_or_else(|| {
                        WhenError::new(
                            "tz",
                            format!(
                                "unknown time zone {:?} (an IANA name such as \"Europe/Oslo\")",
                                bounded(name)
                            ),
                        )
                    })?,
                };
                let parsed = catch_unwind(AssertUnwindSafe(|| {
                    Cron::new(expr).with_seconds_optional().parse()
                }))
                .map_err(|_| WhenError::new("cron", "not a cron expression the parser accepts"))?
                .map_err(|e| WhenError::new("cron", format!("invalid cron expression: {e}")))?;
                Cadence::Cron {
                    cron: Box::new(parsed),
                    tz,
                    expr: expr.as_str().into(),
                }
            }
            When::Every { ms } => {
                if !(MIN_EVERY_MS..=MAX_EVERY_MS).contains(ms) {
                    return Err(WhenError::new(
                        "every_ms",
                        format!("must be between {MIN_EVERY_MS} and {MAX_EVERY_MS}"),
                    ));
                }
                Cadence::Every {
                    ms: *ms as i64,
                    anchor,
                }
            }
        };
        if cadence.next_after(now).is_none() {
            return Err(WhenError::new("cron", "never due (no matching date)"));
        }
        Ok(cadence)
    }

    /// The first due time strictly after `t`, or `None` if there is none (a cron date that
    /// never comes, or past the year 5000).
    pub fn next_after(&self, t: i64) -> Option<i64> {
        match self {
            Cadence::Every { ms, anchor } => {
                if t < *anchor {
                    return Some(anchor + ms);
                }
                let k = (t - anchor) / ms + 1;
                anchor.checked_add(k.checked_mul(*ms)?)
            }
            Cadence::Cron { cron, tz, .. } => {
                // Whole seconds: croner steps from the given time by one second and keeps
                // its sub-second part, so a due time would inherit the caller's milliseconds.
                let secs = t.div_euclid(1000);
                let start: DateTime<Zone> = Utc.timestamp_opt(secs, 0).single()?.with_timezone(tz);
                let next = catch_unwind(AssertUnwindSafe(|| {
                    cron.find_next_occurrence(&start, false)
                }))
                .ok()?
                .ok()?;
                let ms = next.timestamp_millis();
                (ms > t).then_some(ms)
            }
        }
    }
}

/// At most 64 characters of outside text in an error message.
pub(crate) fn bounded(s: &str) -> String {
    s.chars().take(64).collect()
}
