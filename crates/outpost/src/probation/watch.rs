//! The agent's own part: what the marker means at start, the probation's wait for health,
//! and the rollback.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::marker::{self, Pending};
use super::readiness::Readiness;

/// How often probation looks at the uplinks (only while an update is on probation).
const LOOK_EVERY: Duration = Duration::from_millis(250);

/// What the marker found at start asks of the agent.
#[derive(Debug)]
pub enum StartDecision {
    /// No update pending: start as usual.
    Normal,
    /// This is the new version, on probation: start, and prove healthy in time.
    Probation(Pending),
    /// An update ended before this start (rolled back, or never ran): start, and store
    /// the outcome once the store is open.
    Report(Outcome),
    /// The new version started again during its probation, so it crashed or was killed:
    /// the previous binary is back in place; exec it now (`Pending::binary`).
    RolledBack(Pending),
}

/// An update's outcome, as the `agent.update` event carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Updated {
        from: String,
        to: String,
    },
    RolledBack {
        from: String,
        to: String,
        reason: String,
    },
}

/// Reads the marker and decides; `version` is this binary's. Never stops the agent from
/// starting: an unreadable marker is logged and left for an operator.
pub fn at_start(data_dir: &Path, version: &str) -> StartDecision {
    let mut p = match marker::read(data_dir) {
        Ok(Some(p)) => p,
        Ok(None) => return StartDecision::Normal,
        Err(e) => {
            tracing::error!(error = %e, file = %data_dir.join(marker::MARKER_FILE).display(), "update: the pending-update marker is unreadable; no probation");
            return StartDecision::Normal;
        }
    };
    if let Some(reason) = p.rolled_back.clone() {
        return StartDecision::Report(Outcome::RolledBack {
            from: p.from,
            to: p.to,
            reason,
        });
    }
    if p.to == super::UNKNOWN_VERSION && version != p.from {
        p.to = version.to_owned();
    }
    if version == p.to {
        p.attempts = p.attempts.saturating_add(1);
        if p.attempts > 1 {
            let why =
                "the new version started again during its probation: it crashed or was killed";
            return match roll_back(data_dir, &mut p, why) {
                Ok(()) => StartDecision::RolledBack(p),
                Err(e) => {
                    tracing::error!(error = %e, "update: rollback failed; running the new version");
                    StartDecision::Normal
                }
            };
        }
        // The probation runs from the new version's first start: an update applied from
        // the command line may wait for the operator's restart.
        p.started_ms = outpost_core::clock::now_ms();
        if let Err(e) = marker::write(data_dir, &p) {
            tracing::error!(error = %e, "update: cannot count the start in the marker");
        }
        return StartDecision::Probation(p);
    }
    if version == p.from {
        // The swap never completed, or something put the old binary back.
        let reason = "the previous version started before the new one proved healthy";
        return StartDecision::Report(Outcome::RolledBack {
            from: p.from,
            to: p.to,
            reason: reason.into(),
        });
    }
    tracing::warn!(running = version, from = %p.from, to = %p.to, "update: a marker for another version; removed");
    let _ = marker::remove(data_dir);
    StartDecision::Normal
}

/// Puts the previous binary back over the new one (one rename, then the directory synced)
/// and records why in the marker. A previous binary already gone means someone rolled back
/// first: the reason is still recorded.
pub fn roll_back(data_dir: &Path, p: &mut Pending, reason: &str) -> std::io::Result<()> {
    tracing::error!(from = %p.from, to = %p.to, reason, "update: rolling back to the previous version");
    match std::fs::rename(&p.previous, &p.binary) {
        Ok(()) => {
            if let Some(dir) = p.binary.parent() {
                marker::sync_dir(dir)?;
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(previous = %p.previous.display(), "update: the previous binary is already back");
        }
        Err(e) => return Err(e),
    }
    p.rolled_back = Some(reason.to_owned());
    marker::write(data_dir, p)
}

/// The new version's probation: healthy before the deadline confirms the update (the
/// marker goes); otherwise the previous binary comes back. Returns the outcome; on a
/// rollback the caller restarts into `p.binary`.
pub async fn probation(data_dir: &Path, mut p: Pending, readiness: &Readiness) -> Outcome {
    let elapsed =
        u64::try_from(outpost_core::clock::now_ms().saturating_sub(p.started_ms)).unwrap_or(0);
    // Time spent since the first start counts, but never leaves less than a few seconds.
    let left = Duration::from_millis(p.probation_ms.saturating_sub(elapsed).max(5_000));
    let end = tokio::time::Instant::now() + left;
    let missing = loop {
        match readiness.check() {
            Ok(()) => {
                if let Err(e) = marker::remove(data_dir) {
                    tracing::error!(error = %e, "update: cannot remove the marker");
                }
                tracing::info!(from = %p.from, to = %p.to, "update: healthy; the update is confirmed");
                super::notify_settled();
                return Outcome::Updated {
                    from: p.from,
                    to: p.to,
                };
            }
            Err(m) if tokio::time::Instant::now() >= end => break m,
            Err(_) => {}
        }
        tokio::time::sleep(LOOK_EVERY.min(end - tokio::time::Instant::now())).await;
    };
    let reason = format!(
        "not healthy within the probation of {} s: {missing}",
        p.probation_ms / 1000
    );
    if let Err(e) = roll_back(data_dir, &mut p, &reason) {
        tracing::error!(error = %e, "update: rollback failed");
    }
    Outcome::RolledBack {
        from: p.from,
        to: p.to,
        reason,
    }
}
