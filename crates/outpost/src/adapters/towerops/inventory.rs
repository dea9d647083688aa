//! Local scheduling of recurring Towerops jobs (`interval_seconds > 0`) and checks: each
//! becomes a schedule of the agent's one scheduler (`crate::schedules`), so it is stored,
//! its credentials sealed with the agent's key like every schedule's, and it keeps running
//! when the server is away or the agent restarts without it (the original forgets its
//! inventory on every disconnect). Their results go to the outbox and wait there.
//!
//! The original's rules: a frame replaces the whole inventory of its family (jobs or
//! checks), an empty one clears it; an entry whose job is unchanged (same protobuf bytes,
//! hence same interval) keeps its timer; a changed one takes effect after its running
//! predecessor (overlap `queue_one`: an id never overlaps itself, and a tick due while it
//! runs waits for it rather than being dropped); a new entry's first run is staggered by
//! a hash of its id ([`super::stagger`]).
//!
//! Schedule ids: `towerops-job:<job id>` / `towerops-check:<check id>` when the id is a
//! valid schedule id, else `towerops-job@<FNV-1a-64 hex>`; the label `towerops.digest`
//! holds the hash of the entry's protobuf, which is what "unchanged" compares.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use outpost_core::JobSpec;
use outpost_schedule::{JobTemplate, Missed, Overlap, ScheduleSpec, When};

use super::stagger;
use crate::schedules::{Schedules, Source};

/// The family of recurring jobs.
pub const JOBS: &str = "towerops-job";
/// The family of checks.
pub const CHECKS: &str = "towerops-check";
/// The label holding the entry's digest.
pub const DIGEST_LABEL: &str = "towerops.digest";
/// The label holding the device id (a PING's answer names only the device).
pub const DEVICE_LABEL: &str = "towerops.device";
/// Longest job timeout a schedule takes (`jobs.max_timeout_ms`'s default).
const MAX_TIMEOUT_MS: u64 = 3_600_000;

/// One entry of an inventory.
pub struct Entry {
    /// The Towerops id (job_id or check id).
    pub id: String,
    /// `interval_seconds` (0: the original's 60 s).
    pub interval_seconds: u32,
    /// FNV-1a-64 of the entry's protobuf, hex.
    pub digest: String,
    /// The job each tick submits.
    pub job: JobSpec,
    /// Put in the schedule's labels (besides the digest).
    pub labels: BTreeMap<String, String>,
}

/// What one replacement did, and the entries that could not be scheduled (their id and
/// why), for the caller to answer with `error`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub added: usize,
    pub changed: usize,
    pub kept: usize,
    pub removed: usize,
    pub failed: Vec<(String, String)>,
}

/// The digest of protobuf bytes `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("{:016x}", stagger::fnv1a64(bytes))
}

/// The schedule id of entry `id` in `family`.
pub fn schedule_id(family: &str, id: &str) -> String {
    let plain = format!("{family}:{id}");
    if outpost_schedule::spec::check_id(&plain).is_ok() {
        plain
    } else {
        format!("{family}@{:016x}", stagger::fnv1a64(id.as_bytes()))
    }
}

/// Whether schedule `schedule` belongs to `family`.
pub fn is_of(family: &str, schedule: &str) -> bool {
    schedule
        .strip_prefix(family)
        .is_some_and(|rest| rest.starts_with(':') || rest.starts_with('@'))
}

fn spec_of(e: &Entry, id: &str) -> ScheduleSpec {
    let mut labels = e.labels.clone();
    labels.insert(DIGEST_LABEL.into(), e.digest.clone());
    let timeout = (e.job.timeout.as_millis() as u64).clamp(1, MAX_TIMEOUT_MS);
    ScheduleSpec {
        id: Some(id.to_owned()),
        when: When::Every {
            ms: stagger::interval(e.interval_seconds).as_millis() as u64,
        },
        job: JobTemplate {
            kind: e.job.kind.clone(),
            params: e.job.params.clone(),
            timeout_ms: Some(timeout),
        },
        missed: Missed::Skip,
        overlap: Overlap::QueueOne,
        jitter_ms: 0,
        labels,
    }
}

/// Makes `family`'s schedules exactly `entries`: unchanged ones untouched, changed ones
/// updated, new ones added with their staggered first run, the rest removed.
pub async fn replace(schedules: &Schedules, family: &str, entries: Vec<Entry>) -> Outcome {
    let source = Source::Adapter(super::NAME.into());
    let mut out = Outcome::default();
    let current: HashMap<String, Option<String>> = match schedules.list().await {
        Ok(list) => list
            .into_iter()
            .filter(|v| is_of(family, &v.id))
            .map(|v| {
                let d = v.labels.get(DIGEST_LABEL).cloned();
                (v.id, d)
            })
            .collect(),
        Err(e) => {
            // Without the current list nothing can be compared: every entry is refused
            // (answered with an error), the stored inventory left as it was.
            let why = format!("local scheduling failed: {e}");
            out.failed = entries.into_iter().map(|e| (e.id, why.clone())).collect();
            return out;
        }
    };
    let mut wanted = HashSet::with_capacity(entries.len());
    for e in entries {
        let sid = schedule_id(family, &e.id);
        if !wanted.insert(sid.clone()) {
            // The same id twice in one frame: the first wins, as a map would keep one.
            continue;
        }
        let spec = spec_of(&e, &sid);
        let res = match current.get(&sid) {
            Some(Some(d)) if *d == e.digest => {
                out.kept += 1;
                continue;
            }
            Some(_) => schedules
                .update(&sid, spec, source.clone())
                .await
                .map(|_| out.changed += 1),
            None => {
                let every = stagger::interval(e.interval_seconds);
                let first = stagger::first_run_offset(&e.id, every);
                schedules
                    .add_phased(spec, source.clone(), Some(first))
                    .await
                    .map(|_| out.added += 1)
            }
        };
        if let Err(err) = res {
            out.failed
                .push((e.id, format!("local scheduling failed: {err}")));
        }
    }
    for sid in current.keys().filter(|s| !wanted.contains(*s)) {
        match schedules.remove(sid).await {
            Ok(_) => out.removed += 1,
            Err(e) => {
                tracing::warn!(schedule = %sid, error = %e, "towerops: removing a schedule failed")
            }
        }
    }
    out
}

/// The labels of schedule `schedule` (empty when it is gone): what a scheduled run's
/// answer needs beyond its output (a PING's device id, a check's id).
pub async fn labels_of(schedules: &Schedules, schedule: &str) -> BTreeMap<String, String> {
    schedules
        .get(schedule)
        .await
        .ok()
        .flatten()
        .map(|v| v.labels)
        .unwrap_or_default()
}

/// The interval a frame's entry asks for, for tests and logs.
pub fn every(interval_seconds: u32) -> Duration {
    stagger::interval(interval_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue17_towerops_inventory_ids() {
        assert_eq!(schedule_id(JOBS, "poll:42"), "towerops-job:poll:42");
        let odd = schedule_id(JOBS, "poll 42/x");
        assert!(odd.starts_with("towerops-job@"), "{odd}");
        assert!(outpost_schedule::spec::check_id(&odd).is_ok());
        let long = "p".repeat(200);
        assert!(outpost_schedule::spec::check_id(&schedule_id(CHECKS, &long)).is_ok());
        assert!(is_of(JOBS, "towerops-job:poll:42"));
        assert!(is_of(JOBS, &odd));
        assert!(!is_of(JOBS, "towerops-check:c1"));
        assert!(!is_of(JOBS, "towerops-jobs:x"));
        assert!(!is_of(CHECKS, "my-schedule"));
        assert_ne!(digest(b"a"), digest(b"b"));
        assert_eq!(every(0), Duration::from_secs(60));
    }
}
