//! The two tasks keeping the local inventories (`inventory.rs`): each waits on a one-slot
//! `watch` the pump fills with the newest list of its family (recurring jobs, checks),
//! turns each entry into the job its ticks submit, and replaces the family's schedules.
//! Entries that cannot be scheduled are answered through the outbox. Idle: they wait on
//! the channel only, no timer.

use std::collections::BTreeMap;
use std::sync::Arc;

use outpost_core::JobSpec;
use outpost_proto::towerops::{AgentJob, AgentJobList, CheckList, JobType, WireMessage};
use tokio_util::sync::CancellationToken;

#[cfg(feature = "probes")]
use super::checks;
use super::inventory::{self, Entry};
use super::job::{self, agent_error, OutFrame};
use super::pump::{store_frame, Link};

/// A list one inventory family is kept from.
pub trait Family: Send + Sync + 'static {
    /// The schedules' family (`inventory::JOBS`, `inventory::CHECKS`).
    const FAMILY: &'static str;
    /// What the log line calls the entries.
    const WHAT: &'static str;
    /// The entries to schedule, and the frames answering those that cannot be.
    fn entries(&self) -> (Vec<Entry>, Vec<OutFrame>);
    /// The frame answering entry `id`, whose schedule failed for `why`.
    fn failed(&self, id: &str, why: String) -> OutFrame;
}

/// Keeps `F`'s inventory: applies each newest list as it arrives, until `shutdown`. Waits
/// on the channel only (idle: no timer).
pub async fn keep<F: Family>(
    link: Arc<Link>,
    mut newest: tokio::sync::watch::Receiver<Option<Arc<F>>>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            r = newest.changed() => if r.is_err() { return },
            _ = shutdown.cancelled() => return,
        }
        let Some(list) = newest.borrow_and_update().clone() else {
            continue;
        };
        let (entries, refused) = list.entries();
        for f in refused {
            store_frame(&link.store, f).await;
        }
        let out = inventory::replace(&link.schedules, F::FAMILY, entries).await;
        tracing::info!(
            added = out.added,
            changed = out.changed,
            kept = out.kept,
            removed = out.removed,
            failed = out.failed.len(),
            "towerops: {} scheduled locally",
            F::WHAT
        );
        for (id, why) in out.failed {
            store_frame(&link.store, list.failed(&id, why)).await;
        }
    }
}

impl Family for AgentJobList {
    const FAMILY: &'static str = inventory::JOBS;
    const WHAT: &'static str = "recurring jobs";

    fn entries(&self) -> (Vec<Entry>, Vec<OutFrame>) {
        let mut entries = Vec::with_capacity(self.jobs.len());
        let mut refused = Vec::new();
        for j in &self.jobs {
            let spec = match recurring_spec(j) {
                Ok(s) => s,
                Err(f) => {
                    refused.push(f);
                    continue;
                }
            };
            let mut labels = BTreeMap::new();
            if j.job_type == JobType::Ping as i32 && j.device_id.len() <= 256 {
                labels.insert(inventory::DEVICE_LABEL.into(), j.device_id.clone());
            }
            entries.push(Entry {
                id: j.job_id.clone(),
                interval_seconds: j.interval_seconds,
                digest: inventory::digest(&j.encode_to_vec()),
                job: spec,
                labels,
            });
        }
        (entries, refused)
    }

    fn failed(&self, id: &str, why: String) -> OutFrame {
        let device = self
            .jobs
            .iter()
            .find(|j| j.job_id == id)
            .map(|j| j.device_id.as_str())
            .unwrap_or_default();
        agent_error(device, id, why)
    }
}

/// The job a recurring Towerops job submits at each tick, or the `error` answering it.
fn recurring_spec(j: &AgentJob) -> Result<JobSpec, OutFrame> {
    match JobType::try_from(j.job_type) {
        #[cfg(feature = "probes")]
        Ok(JobType::Ping) => super::ping::spec(j),
        Ok(JobType::Mikrotik) => super::mikrotik::spec(j),
        Ok(t) if job::handles(t) => job::spec(j),
        _ => Err(agent_error(
            &j.device_id,
            &j.job_id,
            format!("unsupported job type {}", j.job_type),
        )),
    }
}

/// Without the probes' check kinds every check is answered as one that cannot run.
impl Family for CheckList {
    const FAMILY: &'static str = inventory::CHECKS;
    const WHAT: &'static str = "checks";

    fn entries(&self) -> (Vec<Entry>, Vec<OutFrame>) {
        let mut entries = Vec::with_capacity(self.checks.len());
        let mut refused = Vec::new();
        for c in &self.checks {
            #[cfg(feature = "probes")]
            let spec = checks::spec(c);
            #[cfg(not(feature = "probes"))]
            let spec: Result<JobSpec, OutFrame> = Err(agent_error(
                "",
                &c.id,
                "checks are not in this build (feature probes)".into(),
            ));
            let spec = match spec {
                Ok(s) => s,
                Err(f) => {
                    refused.push(f);
                    continue;
                }
            };
            #[cfg(feature = "probes")]
            let labels = checks::labels(c)
                .into_iter()
                .filter(|(_, v)| v.len() <= 256)
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            #[cfg(not(feature = "probes"))]
            let labels = BTreeMap::new();
            entries.push(Entry {
                id: c.id.clone(),
                interval_seconds: c.interval_seconds,
                digest: inventory::digest(&c.encode_to_vec()),
                job: spec,
                labels,
            });
        }
        (entries, refused)
    }

    fn failed(&self, id: &str, why: String) -> OutFrame {
        // A check that cannot be scheduled is UNKNOWN, as the original answers one it
        // cannot run.
        #[cfg(feature = "probes")]
        return checks::result(id, outpost_proto::towerops::check_status::UNKNOWN, why, 0.0);
        #[cfg(not(feature = "probes"))]
        agent_error("", id, why)
    }
}
