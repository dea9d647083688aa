//! The guard rails a recovery step passes before it runs, in this order:
//! 1. at least [`MIN_FAILED_TARGETS`] independent targets are failing;
//! 2. the system has been up longer than `boot_grace`;
//! 3. a reboot step: the last reboot ordered is older than `min_reboot_interval` (the
//!    [`RebootStamp`], kept across reboots);
//! 4. not `dry_run`.
//!
//! A step held back by any of them is skipped, with the reason, never run.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::clock::{unix_secs, Clocks};
use crate::settings::{RecoverySettings, MIN_FAILED_TARGETS};
use crate::stamp::RebootStamp;
use crate::status::GuardsView;

/// Why a step did not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum SkipReason {
    /// Fewer than two independent targets fail: maybe only the probe target is down.
    TooFewTargets { failing: Vec<String> },
    /// The system booted less than `boot_grace` ago (or its uptime is unreadable).
    BootGrace {
        uptime_secs: Option<u64>,
        grace_secs: u64,
    },
    /// A reboot was ordered less than `min_reboot_interval` ago.
    MinRebootInterval {
        last_reboot_unix: u64,
        allowed_from_unix: u64,
    },
    /// The reboot stamp could not be written, so the reboot would not be remembered.
    StampUnwritable { error: String },
    /// `recovery.dry_run`: it would have run.
    DryRun,
}

impl SkipReason {
    pub fn code(&self) -> &'static str {
        match self {
            SkipReason::TooFewTargets { .. } => "too_few_targets",
            SkipReason::BootGrace { .. } => "boot_grace",
            SkipReason::MinRebootInterval { .. } => "min_reboot_interval",
            SkipReason::StampUnwritable { .. } => "stamp_unwritable",
            SkipReason::DryRun => "dry_run",
        }
    }

    /// The config key of the guard rail (for the audit line's `field`).
    pub fn key(&self) -> &'static str {
        match self {
            SkipReason::TooFewTargets { .. } => "connectivity.recovery",
            SkipReason::BootGrace { .. } => "connectivity.recovery.boot_grace_secs",
            SkipReason::MinRebootInterval { .. } | SkipReason::StampUnwritable { .. } => {
                "connectivity.recovery.min_reboot_interval_secs"
            }
            SkipReason::DryRun => "connectivity.recovery.dry_run",
        }
    }

    /// One line for the audit log and the event.
    pub fn describe(&self) -> String {
        match self {
            SkipReason::TooFewTargets { failing } => format!(
                "{} independent target(s) failing ({}), {MIN_FAILED_TARGETS} needed: maybe only the probe target is down",
                failing.len(),
                failing.join(", ")
            ),
            SkipReason::BootGrace {
                uptime_secs: Some(u),
                grace_secs,
            } => format!("up {u} s, within the boot grace of {grace_secs} s"),
            SkipReason::BootGrace {
                uptime_secs: None,
                grace_secs,
            } => format!("uptime unreadable: the boot grace of {grace_secs} s holds"),
            SkipReason::MinRebootInterval {
                last_reboot_unix,
                allowed_from_unix,
            } => format!(
                "last reboot ordered at {last_reboot_unix} (unix); the next is allowed from {allowed_from_unix}"
            ),
            SkipReason::StampUnwritable { error } => {
                format!("the reboot stamp could not be written, so no reboot: {error}")
            }
            SkipReason::DryRun => "dry run: would run".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Run,
    Skip(SkipReason),
}

#[derive(Debug)]
pub struct Guards {
    boot_grace: Duration,
    min_reboot_interval: Duration,
    dry_run: bool,
    reboot_step: Option<String>,
    stamp: RebootStamp,
}

impl Guards {
    pub fn new(r: &RecoverySettings, stamp: RebootStamp) -> Self {
        Guards {
            boot_grace: r.boot_grace,
            min_reboot_interval: r.min_reboot_interval,
            dry_run: r.dry_run,
            reboot_step: r.reboot.clone(),
            stamp,
        }
    }

    pub fn is_reboot(&self, step: &str) -> bool {
        self.reboot_step.as_deref() == Some(step)
    }

    pub fn stamp_mut(&mut self) -> &mut RebootStamp {
        &mut self.stamp
    }

    pub fn check(&self, step: &str, failing: &BTreeSet<String>, clocks: &dyn Clocks) -> Verdict {
        if failing.len() < MIN_FAILED_TARGETS {
            return Verdict::Skip(SkipReason::TooFewTargets {
                failing: failing.iter().cloned().collect(),
            });
        }
        let uptime = clocks.uptime();
        if uptime.is_none_or(|u| u < self.boot_grace) {
            return Verdict::Skip(SkipReason::BootGrace {
                uptime_secs: uptime.map(|u| u.as_secs()),
                grace_secs: self.boot_grace.as_secs(),
            });
        }
        if self.is_reboot(step) {
            if let Some(from) = self.stamp.allowed_from(self.min_reboot_interval) {
                if clocks.wall() < from {
                    return Verdict::Skip(SkipReason::MinRebootInterval {
                        last_reboot_unix: self.stamp.last().map(unix_secs).unwrap_or(0),
                        allowed_from_unix: unix_secs(from),
                    });
                }
            }
        }
        if self.dry_run {
            return Verdict::Skip(SkipReason::DryRun);
        }
        Verdict::Run
    }

    pub fn view(&self, clocks: &dyn Clocks) -> GuardsView {
        let uptime = clocks.uptime();
        GuardsView {
            dry_run: self.dry_run,
            boot_grace_secs: self.boot_grace.as_secs(),
            uptime_secs: uptime.map(|u| u.as_secs()),
            in_boot_grace: uptime.is_none_or(|u| u < self.boot_grace),
            min_reboot_interval_secs: self.min_reboot_interval.as_secs(),
            reboot_step: self.reboot_step.clone(),
            last_reboot_unix: self.stamp.last().map(unix_secs),
            reboot_allowed_from_unix: self
                .stamp
                .allowed_from(self.min_reboot_interval)
                .map(unix_secs),
            stamp_note: self.stamp.loaded().note(),
            min_failed_targets: MIN_FAILED_TARGETS,
        }
    }
}

/// Wall-clock milliseconds, for views.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
