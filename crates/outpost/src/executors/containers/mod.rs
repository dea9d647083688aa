//! `container.*` and `image.*`: the container engine's job kinds (issue 15) over
//! `outpost-containers`. Params are typed (unknown fields refused, a bad value named by its
//! field); an engine failure is the job's error with the engine's stable code
//! (`engine_unavailable`, `not_found`, `conflict`, `refused`, `engine_error`).
//!
//! - `container`: list, inspect, run, start, stop, restart, remove, stats;
//! - `logs`: history, and follow (lines as `container.log` events, paced and counted);
//! - `image`: list, pull (progress as `image.pull` events), remove, prune, load;
//! - `exec`: a command of the exec allowlist inside a running container, audited.

pub mod apps;
mod container;
mod exec;
mod image;
mod logs;

use std::time::{Duration, Instant};

use outpost_containers::{Engine, EngineError};
use outpost_core::{executor::ParamError, ExecError, Registry, Store};
use prometheus_client::metrics::counter::Counter;

/// Time kept between the work's own end and the job's deadline, so a job that streams
/// (logs follow, a pull) stops itself and reports before the dispatcher gives up on it.
const DEADLINE_MARGIN: Duration = Duration::from_millis(250);

/// What every container job kind shares.
#[derive(Clone)]
pub struct Containers {
    pub engine: Engine,
    pub store: Store,
    /// The agent's allowlist and audit log; `None` while exec is off (container.exec then
    /// refuses everything).
    pub exec: Option<outpost_exec::Exec>,
    pub logs_max_lines: usize,
    pub logs_max_lines_per_sec: u32,
    pub metrics: ContainerMetrics,
    /// The disk guard (`containers.disk_guard_pct`); `None` when off.
    pub disk: Option<crate::components::containers_disk::DiskWatch>,
}

/// The kinds' own figures on `/metrics`.
#[derive(Clone, Default)]
pub struct ContainerMetrics {
    /// Followed log lines sent as events.
    pub log_lines_sent: Counter,
    /// Followed log lines dropped by the lines-per-second cap.
    pub log_lines_dropped: Counter,
}

impl ContainerMetrics {
    pub fn register(&self, reg: &mut prometheus_client::registry::Registry) {
        reg.register(
            "outpost_container_log_lines_sent",
            "Followed container log lines stored as container.log events",
            self.log_lines_sent.clone(),
        );
        reg.register(
            "outpost_container_log_lines_dropped",
            "Followed container log lines dropped by containers.logs_max_lines_per_sec",
            self.log_lines_dropped.clone(),
        );
    }
}

pub(crate) fn job_error(e: EngineError) -> ExecError {
    ExecError::new(e.code(), e.to_string())
}

/// The deadline a streaming job stops itself at.
pub(crate) fn stop_at(deadline: Instant) -> Instant {
    deadline.checked_sub(DEADLINE_MARGIN).unwrap_or(deadline)
}

/// A container or image reference must be non-empty, printable and short.
pub(crate) fn check_ref(field: &str, v: &str) -> Result<(), ParamError> {
    if v.is_empty() || v.len() > 512 || v.chars().any(|c| c.is_control() || c == ' ') {
        return Err(ParamError {
            field: field.into(),
            message: "must be 1 to 512 printable characters without spaces".into(),
        });
    }
    Ok(())
}

/// Registers every container and image kind.
pub fn register(reg: &mut Registry, c: Containers) {
    container::register(reg, &c);
    logs::register(reg, &c);
    image::register(reg, &c);
    exec::register(reg, &c);
}

/// Paces events: at most `rate` per second, with a burst of one second's worth.
pub(crate) struct Pace {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl Pace {
    pub(crate) fn new(rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        Pace {
            rate,
            tokens: rate,
            last: Instant::now(),
        }
    }

    /// Whether one more may go now.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue15_pace_allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut p = Pace::new(10);
        let burst = (0..100).filter(|_| p.take(t0)).count();
        assert_eq!(burst, 10);
        let later = (0..100)
            .filter(|_| p.take(t0 + Duration::from_millis(500)))
            .count();
        assert_eq!(later, 5);
    }
}
