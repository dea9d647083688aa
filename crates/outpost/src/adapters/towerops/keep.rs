//! The two tasks keeping the local inventories (`inventory.rs`): each waits on a one-slot
//! `watch` the pump fills with the newest list of its family (recurring jobs, checks),
//! turns each entry into the job its ticks submit, and replaces the family's schedules.
//! Entries that cannot be scheduled are answered through the outbox. Idle: they wait on
//! the channel only, no timer.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use outpost_core::JobSpec;
use outpost_proto::towerops::{AgentJob, AgentJobList, CheckList, JobType, WireMessage};
use tokio_util::sync::CancellationToken;

#[cfg(feature = "probes")]
use super::checks;
use super::inventory::{self, Entry};
use super::job::{self, agent_error, OutFrame};
use super::pump::{store_frame, Link};

/// Keeps the recurring-job inventory: applies each newest list as it arrives, until
/// `shutdown`. Waits on the channel only (idle: no timer).
pub async fn keep_inventory(
    link: Arc<Link>,
    mut newest: tokio::sync::watch::Receiver<Option<Arc<AgentJobList>>>,
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
        let mut entries = Vec::with_capacity(list.jobs.len());
        let mut devices = HashMap::new();
        for j in &list.jobs {
            let spec = match recurring_spec(j) {
                Ok(s) => s,
                Err(f) => {
                    store_frame(&link.store, f).await;
                    continue;
                }
            };
            let mut labels = BTreeMap::new();
            if j.job_type == JobType::Ping as i32 && j.device_id.len() <= 256 {
                labels.insert(inventory::DEVICE_LABEL.into(), j.device_id.clone());
            }
            devices.insert(j.job_id.clone(), j.device_id.clone());
            entries.push(Entry {
                id: j.job_id.clone(),
                interval_seconds: j.interval_seconds,
                digest: inventory::digest(&j.encode_to_vec()),
                job: spec,
                labels,
            });
        }
        let out = inventory::replace(&link.schedules, inventory::JOBS, entries).await;
        tracing::info!(
            added = out.added,
            changed = out.changed,
            kept = out.kept,
            removed = out.removed,
            failed = out.failed.len(),
            "towerops: recurring jobs scheduled locally"
        );
        for (id, why) in out.failed {
            let device = devices.get(&id).cloned().unwrap_or_default();
            store_frame(&link.store, agent_error(&device, &id, why)).await;
        }
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

/// Keeps the check inventory as [`keep_inventory`] keeps the jobs'. Without the probes'
/// check kinds every check is answered UNKNOWN.
pub async fn keep_checks(
    link: Arc<Link>,
    mut newest: tokio::sync::watch::Receiver<Option<Arc<CheckList>>>,
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
        let mut entries = Vec::with_capacity(list.checks.len());
        for c in &list.checks {
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
                    store_frame(&link.store, f).await;
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
        let out = inventory::replace(&link.schedules, inventory::CHECKS, entries).await;
        tracing::info!(
            added = out.added,
            changed = out.changed,
            kept = out.kept,
            removed = out.removed,
            failed = out.failed.len(),
            "towerops: checks scheduled locally"
        );
        for (id, why) in out.failed {
            // A check that cannot be scheduled is UNKNOWN, as the original answers one it
            // cannot run.
            #[cfg(feature = "probes")]
            let f = checks::result(
                &id,
                outpost_proto::towerops::check_status::UNKNOWN,
                why,
                0.0,
            );
            #[cfg(not(feature = "probes"))]
            let f = agent_error("", &id, why);
            store_frame(&link.store, f).await;
        }
    }
}
