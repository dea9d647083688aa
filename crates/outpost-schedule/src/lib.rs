//! Schedules: when a job is due (cron with optional seconds and time zones, or fixed
//! intervals), jitter, the missed-run and overlap policies, and the one timer that sleeps
//! until the next due time. No I/O: the agent stores schedules and submits their jobs
//! (`crates/outpost/src/schedules/`).
//!
//! - `spec.rs`: [`ScheduleSpec`] and its JSON decoder (every refusal names its field).
//! - `when.rs`: [`Cadence`], the compiled `When`; the only file that names croner.
//! - `jitter.rs`: a deterministic offset per (schedule, due time).
//! - `timeline.rs`: [`Timeline`], every schedule's next firing in one ordered set, and
//!   what a due time becomes under the policies.
//! - `driver.rs`: [`Timer`], the task that sleeps until the head fires.

pub mod driver;
pub mod jitter;
pub mod spec;
pub mod timeline;
pub mod when;
pub mod zone;

pub use driver::{Clock, Sink, SystemClock, Timer};
pub use spec::{DecodeError, JobTemplate, Missed, Overlap, ScheduleSpec, SpecError, When};
pub use timeline::{Action, Plan, SkipReason, Timeline};
pub use when::{Cadence, WhenError};

/// Wall-clock Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
