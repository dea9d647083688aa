//! What other components may use of the connectivity monitor: its status (SocketMan's
//! `device.status` is computed from it), a one-off check with the monitor's own probes
//! (SocketMan's `network` jobs, before and after), and its urgent notice ("the uplink may
//! just have been cut: probe now, and recover at once if so").
//!
//! Shared through the registrar's common state ([`SharedMonitor`]): the connectivity
//! component puts it there in `register`, and the components registered after it (the
//! daemon's list orders connectivity before the adapters) take it.

use std::sync::{Arc, Mutex};

use outpost_connectivity::{Outcome, Probe, ProbeKind, Status};
use tokio::sync::Notify;

#[derive(Clone)]
pub struct Link {
    pub status: Arc<Mutex<Status>>,
    pub urgent: Arc<Notify>,
    /// A second set of the monitor's probes (the same targets), for one-off checks: the
    /// monitor's own set lives on its task.
    pub probes: Arc<Vec<Box<dyn Probe>>>,
}

impl Link {
    /// The monitor's status as of its last round.
    pub fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every probe once, now (each ends within its timeout).
    pub async fn check_now(&self) -> Vec<(ProbeKind, Outcome)> {
        futures_util::future::join_all(
            self.probes
                .iter()
                .map(|p| async move { (p.kind(), p.check().await) }),
        )
        .await
    }

    /// Tells the monitor the uplink may just have been cut.
    pub fn urgent(&self) {
        self.urgent.notify_one();
    }
}

/// The registrar's common slot: `None` while the monitor is off.
#[derive(Clone, Default)]
pub struct SharedMonitor(pub Option<Link>);
