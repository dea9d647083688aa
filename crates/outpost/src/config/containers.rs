//! `containers.*`: the container engine (issue 15). On by default and free while unused:
//! the engine's socket is opened by the first container job, not at start.

#[cfg(feature = "containers")]
use std::time::Duration;

use serde::Deserialize;

use super::KeyError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainersSection {
    /// Off: no `container.*` or `image.*` job kind is served.
    pub enabled: bool,
    /// The engine's Unix socket; unset: `DOCKER_HOST` (`unix://...`), else
    /// /var/run/docker.sock.
    pub socket: Option<String>,
    pub allow_privileged: bool,
    pub call_timeout_ms: u64,
    /// Lines a `container.logs` history returns at most.
    pub logs_max_lines: u64,
    /// Lines per second a followed log sends as events at most; the rest are counted.
    pub logs_max_lines_per_sec: u64,
    /// A directory of Compose files declaring apps, read at start.
    pub apps_dir: Option<String>,
    /// The first restart delay of a declared app's service; it doubles from there.
    pub restart_backoff_ms: u64,
    // Container figures on /metrics (issue 15 §5).
    /// Collect on scrape even before a container job connected the engine.
    pub metrics: bool,
    /// Running containers shown at most; the rest counted as dropped.
    pub metrics_max_containers: u64,
    /// A scrape's budget for the engine.
    pub metrics_timeout_ms: u64,
    // The disk guard (issue 15 §4).
    /// Percent free on the engine's data root below which pulls are refused; 0: off.
    pub disk_guard_pct: u64,
    /// How often the guard looks while the engine is connected.
    pub disk_guard_interval_secs: u64,
}

impl ContainersSection {
    pub fn check(&self) -> Result<(), KeyError> {
        if !(100..=3_600_000).contains(&self.call_timeout_ms) {
            return Err(KeyError::new(
                "containers.call_timeout_ms",
                "must be between 100 and 3600000",
            ));
        }
        if !(1..=1_000_000).contains(&self.logs_max_lines) {
            return Err(KeyError::new(
                "containers.logs_max_lines",
                "must be between 1 and 1000000",
            ));
        }
        if !(1..=100_000).contains(&self.logs_max_lines_per_sec) {
            return Err(KeyError::new(
                "containers.logs_max_lines_per_sec",
                "must be between 1 and 100000",
            ));
        }
        if !(10..=3_600_000).contains(&self.restart_backoff_ms) {
            return Err(KeyError::new(
                "containers.restart_backoff_ms",
                "must be between 10 and 3600000",
            ));
        }
        if !(1..=10_000).contains(&self.metrics_max_containers) {
            return Err(KeyError::new(
                "containers.metrics_max_containers",
                "must be between 1 and 10000",
            ));
        }
        if !(50..=60_000).contains(&self.metrics_timeout_ms) {
            return Err(KeyError::new(
                "containers.metrics_timeout_ms",
                "must be between 50 and 60000",
            ));
        }
        if self.disk_guard_pct > 100 {
            return Err(KeyError::new(
                "containers.disk_guard_pct",
                "must be between 0 (off) and 100",
            ));
        }
        if !(10..=86_400).contains(&self.disk_guard_interval_secs) {
            return Err(KeyError::new(
                "containers.disk_guard_interval_secs",
                "must be between 10 and 86400",
            ));
        }
        if self
            .socket
            .as_deref()
            .is_some_and(|s| s.starts_with("tcp://") || s.starts_with("http"))
        {
            return Err(KeyError::new(
                "containers.socket",
                "a Unix socket path (or unix://PATH); TCP engines are not supported",
            ));
        }
        Ok(())
    }

    /// The engine settings: the configured socket, else `DOCKER_HOST`, else the default.
    #[cfg(feature = "containers")]
    pub fn engine_settings(&self) -> outpost_containers::EngineSettings {
        let docker_host = std::env::var("DOCKER_HOST").ok();
        outpost_containers::EngineSettings {
            socket: outpost_containers::EngineSettings::socket_from(
                self.socket.as_deref(),
                docker_host.as_deref(),
            ),
            call_timeout: Duration::from_millis(self.call_timeout_ms),
            allow_privileged: self.allow_privileged,
        }
    }
}

#[cfg(feature = "containers")]
impl ContainersSection {
    /// Declared apps' restart backoff, scaled from `restart_backoff_ms` as the defaults are
    /// from 10 s: doubling up to 30 times it (5 min), a run of 60 times it (10 min) is
    /// stable, and 5 deaths within 60 times it are a crash loop.
    pub fn backoff(&self) -> outpost_containers::apps::BackoffConfig {
        let first = Duration::from_millis(self.restart_backoff_ms);
        outpost_containers::apps::BackoffConfig {
            initial: first,
            max: first * 30,
            reset_after: first * 60,
            crash_loop_window: first * 60,
            ..Default::default()
        }
    }
}
