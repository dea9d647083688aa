//! The monitor's settings, checked once.

use std::time::Duration;

use crate::assess::Hysteresis;

/// Independent targets that must be failing before any recovery step runs: with one, the
/// agent cannot tell "my uplink is down" from "my probe target is down".
pub const MIN_FAILED_TARGETS: usize = 2;

#[derive(Debug, Clone)]
pub struct Settings {
    /// Between probe rounds while online.
    pub period: Duration,
    /// Between probe rounds while degraded, offline, or settling a changed result.
    pub degraded_period: Duration,
    pub hysteresis: Hysteresis,
    pub recovery: RecoverySettings,
}

#[derive(Debug, Clone)]
pub struct RecoverySettings {
    /// Command names of the allowlist, in the order they are tried.
    pub steps: Vec<String>,
    /// The step that reboots: held to `min_reboot_interval` and stamped before it runs.
    pub reboot: Option<String>,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    pub min_reboot_interval: Duration,
    pub boot_grace: Duration,
    /// The reboot step is not taken before the uplink has been offline this long (the
    /// time restarts with each outage); `None`: no such hold (SocketMan's `reboot`).
    pub reboot_after_offline: Option<Duration>,
    /// Log, audit and emit what would run; run nothing.
    pub dry_run: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            period: Duration::from_secs(30),
            degraded_period: Duration::from_secs(5),
            hysteresis: Hysteresis::default(),
            recovery: RecoverySettings::default(),
        }
    }
}

impl Default for RecoverySettings {
    fn default() -> Self {
        RecoverySettings {
            steps: Vec::new(),
            reboot: Some("reboot".into()),
            initial_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(600),
            min_reboot_interval: Duration::from_secs(3600),
            boot_grace: Duration::from_secs(300),
            reboot_after_offline: None,
            dry_run: false,
        }
    }
}

/// A setting out of range, named by its key under `connectivity.`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SettingsError {
    pub key: &'static str,
    pub message: String,
}

fn err(key: &'static str, message: impl Into<String>) -> SettingsError {
    SettingsError {
        key,
        message: message.into(),
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.period.is_zero() {
            return Err(err("period_ms", "must be at least 1"));
        }
        if self.degraded_period.is_zero() || self.degraded_period > self.period {
            return Err(err(
                "degraded_period_ms",
                "must be between 1 and connectivity.period_ms",
            ));
        }
        if !(1..=100).contains(&self.hysteresis.fall) {
            return Err(err("fall", "must be between 1 and 100"));
        }
        if !(1..=100).contains(&self.hysteresis.rise) {
            return Err(err("rise", "must be between 1 and 100"));
        }
        let r = &self.recovery;
        if r.initial_delay.is_zero() {
            return Err(err("recovery.initial_delay_ms", "must be at least 1"));
        }
        if r.max_delay < r.initial_delay {
            return Err(err(
                "recovery.max_delay_ms",
                "must be at least connectivity.recovery.initial_delay_ms",
            ));
        }
        if r.steps.iter().any(String::is_empty) {
            return Err(err("recovery.steps", "a step has no command name"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_name_their_key() {
        assert_eq!(Settings::default().validate(), Ok(()));
        let s = Settings {
            degraded_period: Duration::from_secs(60),
            ..Settings::default()
        };
        assert_eq!(s.validate().map_err(|e| e.key), Err("degraded_period_ms"));
        let mut s = Settings::default();
        s.recovery.max_delay = Duration::from_secs(1);
        assert_eq!(
            s.validate().map_err(|e| e.key),
            Err("recovery.max_delay_ms")
        );
    }
}
