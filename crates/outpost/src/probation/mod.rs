//! Probation after an update, and the rollback when it fails (issue 16 §3).
//!
//! An update that has swapped the binary leaves a marker in the data directory
//! ([`Pending`]: from and to versions, the binary's path and the previous one kept beside
//! it, the probation, how many starts the new binary has had) and restarts into the new
//! binary. From then on, two watchers can bring the previous binary back by themselves:
//!
//! - **The new binary itself** ([`at_start`]): at its start it counts the attempt in the
//!   marker. A second start during probation means the first crashed or was killed: it
//!   rolls back at once. Otherwise it waits for [`Readiness`] (store open, API serving,
//!   every configured uplink connected) until the probation ends; healthy in time, the
//!   update is confirmed (`agent.update` event `updated`, marker removed); not in time, it
//!   rolls back and restarts into the previous binary.
//! - **The supervisor** ([`run_supervised`], `outpost run --supervised`): a small parent
//!   process that runs the agent as its child and outlives every exec. It covers what the
//!   new binary cannot: one that exits at start, or hangs before running any of our code.
//!   Told of an update on a pipe, it arms the probation's deadline; the child's `healthy`
//!   disarms it; a child that exits or misses the deadline while armed (or while a marker
//!   is pending) is replaced by the previous binary and started again.
//!
//! A rollback moves the previous binary back over the new one (one rename, then the
//! directory synced) and writes its reason into the marker; the previous binary, started
//! again, finds the reason, stores the `agent.update` event `rolled_back` and removes the
//! marker. So every outcome reaches the control plane through the outbox, whichever watcher
//! acted.

mod marker;
mod readiness;
mod supervisor;
mod watch;

pub use marker::{remove as remove_marker, Pending, MARKER_FILE};
pub use readiness::Readiness;
pub use supervisor::{
    child_started, notify_settled, notify_update, run_supervised, run_supervised_from_args,
    SUPERVISOR_FD_ENV,
};
pub use watch::{at_start, probation, roll_back, Outcome, StartDecision};

/// The `to` of a checksum-only update, whose build's version is known only once it runs:
/// any version other than `from` is then the new one.
pub const UNKNOWN_VERSION: &str = "unknown";

/// The `agent.update` event kind every outcome is stored under.
pub const EVENT_KIND: &str = "agent.update";

/// After a swap: the marker written, then the supervisor (if any) told. The caller then
/// restarts into `pending.binary`.
pub fn begin(data_dir: &std::path::Path, pending: &Pending) -> std::io::Result<()> {
    marker::write(data_dir, pending)?;
    notify_update(data_dir, pending);
    Ok(())
}

/// Before a restart: an update pending for another version than this one (the swap is
/// done, the restart runs the new binary) arms the supervisor's deadline.
pub fn before_restart(data_dir: &std::path::Path, version: &str) {
    if let Ok(Some(p)) = marker::read(data_dir) {
        if p.rolled_back.is_none() && p.to != version {
            notify_update(data_dir, &p);
        }
    }
}
