//! A job is one unit of requested work; it ends as exactly one result, kept in its record.

use std::{fmt, str::FromStr, time::Duration};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::json::RawJson;

/// A job's identity. UUIDv7, so ids sort by creation time.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(Uuid);

impl JobId {
    pub fn new() -> Self {
        JobId(Uuid::now_v7())
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The id text was not a UUID.
#[derive(Debug, thiserror::Error)]
#[error("not a job id (expected a UUID)")]
pub struct BadJobId;

impl FromStr for JobId {
    type Err = BadJobId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(JobId).map_err(|_| BadJobId)
    }
}

/// What a source asks for, before the dispatcher accepts it.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The id to use, when the sender chose one (uplink jobs carry the control plane's id, so
    /// a redelivered job is recognised instead of run twice). `None`: the dispatcher picks.
    pub id: Option<JobId>,
    /// Which executor runs it, e.g. `echo` or `snmp.get`.
    pub kind: String,
    /// The executor's parameters, validated against its typed params before acceptance.
    pub params: serde_json::Value,
    /// The deadline for the run itself; queueing time does not count against it.
    pub timeout: Duration,
    /// Who asked (`api`, `uplink:ws`, `scheduler`...), for the audit trail.
    pub source: String,
}

/// Where a job is in its life. The last four are terminal; a terminal state never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    TimedOut,
    /// The agent stopped (crash or shutdown) before the job finished. Never re-run on its
    /// own: a job may have side effects, and running it twice is worse than reporting it.
    Interrupted,
}

impl JobState {
    pub const ALL: [JobState; 7] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
        JobState::TimedOut,
        JobState::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::TimedOut => "timed_out",
            JobState::Interrupted => "interrupted",
        }
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }
}

impl FromStr for JobState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = JobState::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown state {s:?}; expected one of {}", names.join(", "))
            })
    }
}

/// Why a job did not succeed, in terms a caller can branch on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobError {
    /// Stable machine word: `timeout`, `cancelled`, `interrupted`, or the executor's own code.
    pub code: String,
    /// Human explanation. Never contains a secret: executors build it from redacted types.
    pub message: String,
}

/// Everything known about one job: what was asked and, once terminal, its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: JobId,
    pub kind: String,
    /// Parameters as the executor chose to keep them: secrets are redacted before storage.
    /// `None` when there are none to show (JSON `null`, or left out of the outbox).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub params: Option<RawJson>,
    pub timeout_ms: u64,
    pub source: String,
    pub state: JobState,
    /// Unix milliseconds at acceptance (a scheduled job is accepted and recorded up to
    /// 500 ms ahead of its due time, and started at it).
    pub created_at: i64,
    /// Unix milliseconds when an executor slot was taken; absent if it never ran.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub started_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub finished_at: Option<i64>,
    /// The executor's typed output, as JSON text made once by the executor. Present only
    /// when the job succeeded.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output: Option<RawJson>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<JobError>,
    /// The schedule that submitted it, if one did (issue 13).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub schedule: Option<String>,
}

impl JobRecord {
    /// Run time, when the job ran at all.
    pub fn duration_ms(&self) -> Option<i64> {
        Some(self.finished_at? - self.started_at?)
    }
}
