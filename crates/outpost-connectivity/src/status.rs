//! What the monitor shows of itself (`GET /v1/connectivity`, `/metrics`): refreshed by the
//! monitor's loop, read by anyone.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::assess::Health;
use crate::probe::{Outcome, ProbeKind};

/// One probe: its settled state and its latest result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeView {
    pub probe: ProbeKind,
    /// Settled state after hysteresis; `null` until it has one.
    pub up: Option<bool>,
    pub last: Option<Outcome>,
}

/// Where the recovery ladder stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LadderView {
    pub steps: Vec<String>,
    /// The step that runs next (0-based).
    pub position: usize,
    /// Its command name (`null` with no steps).
    pub next_step: Option<String>,
    /// Unix milliseconds when it is due; `null` while the ladder is not armed (not offline).
    pub next_action_at_ms: Option<u64>,
    /// The wait before the action after the next.
    pub delay_ms: u64,
}

/// The guard rails in force.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GuardsView {
    pub dry_run: bool,
    pub boot_grace_secs: u64,
    /// Seconds since boot when last looked at (`null`: unreadable, the grace then holds).
    pub uptime_secs: Option<u64>,
    pub in_boot_grace: bool,
    pub min_reboot_interval_secs: u64,
    /// The step that reboots.
    pub reboot_step: Option<String>,
    /// Unix seconds of the last reboot the monitor ordered (from the stamp file).
    pub last_reboot_unix: Option<u64>,
    /// Unix seconds from which a reboot is allowed again.
    pub reboot_allowed_from_unix: Option<u64>,
    /// What the stamp file held at start, when it was not a plain valid stamp.
    pub stamp_note: Option<String>,
    /// Independent targets that must be failing before any step runs.
    pub min_failed_targets: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub state: Health,
    pub score: u8,
    /// Unix milliseconds of the last state change.
    pub since_ms: Option<u64>,
    /// Unix milliseconds of the last probe round.
    pub last_round_ms: Option<u64>,
    pub probes: Vec<ProbeView>,
    pub failing_targets: Vec<String>,
    pub ladder: LadderView,
    pub guards: GuardsView,
    /// Recovery decisions so far, by `decision` (`ran`, `failed`, `would_run`, `skipped`)
    /// and `reason` (empty, or the guard that skipped it).
    pub actions: BTreeMap<String, u64>,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            state: Health::Unknown,
            score: 0,
            since_ms: None,
            last_round_ms: None,
            probes: Vec::new(),
            failing_targets: Vec::new(),
            ladder: LadderView::default(),
            guards: GuardsView::default(),
            actions: BTreeMap::new(),
        }
    }
}

/// `decision` or `decision:reason`, the key of [`Status::actions`].
pub fn action_key(decision: &str, reason: Option<&str>) -> String {
    match reason {
        Some(r) => format!("{decision}:{r}"),
        None => decision.to_owned(),
    }
}
