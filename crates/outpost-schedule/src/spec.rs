//! A schedule as its owner writes it, and its one JSON decoder.
//!
//! ```json
//! {"id": "core-uptime",
//!  "when": {"cron": "*/5 * * * *", "tz": "Europe/Oslo"} | {"every_ms": 60000},
//!  "job": {"kind": "snmp.get", "params": {...}, "timeout_ms": 10000},
//!  "missed": "skip" | "run_once", "overlap": "skip" | "queue_one" | "allow",
//!  "jitter_ms": 0, "labels": {"site": "north"}}
//! ```
//! Only `when` and `job` are required. Every refusal names its field as a dotted path
//! (`when.cron`, `job.kind`, `labels.site`), so an API can answer 422 naming it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::when::{bounded, Cadence};

/// Longest id: ids appear in URLs, logs and job records.
pub const MAX_ID_LEN: usize = 128;
/// The largest jitter (an hour).
pub const MAX_JITTER_MS: u64 = 3_600_000;
pub const MAX_LABELS: usize = 32;
pub const MAX_LABEL_KEY: usize = 64;
pub const MAX_LABEL_VALUE: usize = 256;
pub const MAX_KIND_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    /// Five fields (minute granularity) or six (seconds first); `tz` an IANA name, UTC if
    /// absent.
    Cron { expr: String, tz: Option<String> },
    /// Every `ms` milliseconds, counted from the schedule's creation.
    Every { ms: u64 },
}

/// The job each due time submits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobTemplate {
    pub kind: String,
    #[serde(default)]
    pub params: serde_json::Value,
    /// The job's deadline; the agent's `jobs.default_timeout_ms` if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// What to do, at start, about due times that passed while the agent was stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Missed {
    /// Forget them; the next due time is the first one in the future.
    #[default]
    Skip,
    /// Run once at start (however many passed), then carry on.
    RunOnce,
}

/// What to do when a schedule is due while its previous job is still running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// Do not run this time.
    #[default]
    Skip,
    /// Run once the running job ends (at most one waits; more due times are skipped).
    QueueOne,
    /// Run anyway.
    Allow,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleSpec {
    /// Chosen by the caller, or generated when `None`.
    pub id: Option<String>,
    pub when: When,
    pub job: JobTemplate,
    pub missed: Missed,
    pub overlap: Overlap,
    pub jitter_ms: u64,
    pub labels: BTreeMap<String, String>,
}

/// A schedule that cannot be accepted. `field` is a dotted path (`when.cron`); empty for
/// the whole document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{reason}", if field.is_empty() { String::new() } else { format!("`{field}`: ") })]
pub struct SpecError {
    pub field: String,
    pub reason: String,
}

impl SpecError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        SpecError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A decode failure: not JSON at all (an API's 400), or JSON that is not a valid schedule
/// (its 422, naming the field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not valid JSON: {0}")]
    Malformed(String),
    #[error(transparent)]
    Invalid(#[from] SpecError),
}

/// The JSON shape, as serde reads and writes it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    when: RawWhen,
    job: JobTemplate,
    #[serde(default)]
    missed: Missed,
    #[serde(default)]
    overlap: Overlap,
    #[serde(default)]
    jitter_ms: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWhen {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cron: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tz: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    every_ms: Option<u64>,
}

impl ScheduleSpec {
    /// Decodes and checks a schedule from JSON bytes. Never panics, whatever the bytes.
    pub fn from_json(bytes: &[u8]) -> Result<ScheduleSpec, DecodeError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        Ok(Self::from_value(value)?)
    }

    /// Decodes and checks a schedule from a JSON value (an uplink job's params).
    pub fn from_value(value: serde_json::Value) -> Result<ScheduleSpec, SpecError> {
        let raw: Raw = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { String::new() } else { path };
            SpecError::new(field, e.into_inner().to_string())
        })?;
        let when = match (raw.when.cron, raw.when.every_ms) {
            (Some(expr), None) => When::Cron {
                expr,
                tz: raw.when.tz,
            },
            (None, Some(ms)) => {
                if raw.when.tz.is_some() {
                    return Err(SpecError::new("when.tz", "only with `cron`"));
                }
                When::Every { ms }
            }
            _ => {
                return Err(SpecError::new(
                    "when",
                    "exactly one of `cron` or `every_ms` is required",
                ))
            }
        };
        let spec = ScheduleSpec {
            id: raw.id,
            when,
            job: raw.job,
            missed: raw.missed,
            overlap: raw.overlap,
            jitter_ms: raw.jitter_ms,
            labels: raw.labels,
        };
        spec.check()?;
        Ok(spec)
    }

    /// Checks what the types cannot say. The cron expression is compiled (and must be due
    /// at least once after now); the job's kind and params are the agent's to check.
    pub fn check(&self) -> Result<(), SpecError> {
        if let Some(id) = &self.id {
            check_id(id).map_err(|r| SpecError::new("id", r))?;
        }
        Cadence::compile(&self.when, 0, crate::now_ms())
            .map_err(|e| SpecError::new(format!("when.{}", e.field), e.reason))?;
        if self.job.kind.is_empty() || self.job.kind.len() > MAX_KIND_LEN {
            return Err(SpecError::new(
                "job.kind",
                format!("must be 1 to {MAX_KIND_LEN} characters"),
            ));
        }
        if self.job.timeout_ms == Some(0) {
            return Err(SpecError::new("job.timeout_ms", "must be at least 1"));
        }
        if self.jitter_ms > MAX_JITTER_MS {
            return Err(SpecError::new(
                "jitter_ms",
                format!("at most {MAX_JITTER_MS}"),
            ));
        }
        if self.labels.len() > MAX_LABELS {
            return Err(SpecError::new(
                "labels",
                format!("at most {MAX_LABELS} labels"),
            ));
        }
        for (k, v) in &self.labels {
            if k.is_empty() || k.len() > MAX_LABEL_KEY {
                return Err(SpecError::new(
                    "labels",
                    format!("a label name must be 1 to {MAX_LABEL_KEY} bytes"),
                ));
            }
            if v.len() > MAX_LABEL_VALUE {
                return Err(SpecError::new(
                    format!("labels.{}", bounded(k)),
                    format!("at most {MAX_LABEL_VALUE} bytes"),
                ));
            }
        }
        Ok(())
    }

    /// The JSON shape [`from_value`](Self::from_value) reads.
    pub fn to_value(&self) -> serde_json::Value {
        let when = match &self.when {
            When::Cron { expr, tz } => RawWhen {
                cron: Some(expr.clone()),
                tz: tz.clone(),
                every_ms: None,
            },
            When::Every { ms } => RawWhen {
                cron: None,
                tz: None,
                every_ms: Some(*ms),
            },
        };
        let raw = Raw {
            id: self.id.clone(),
            when,
            job: self.job.clone(),
            missed: self.missed,
            overlap: self.overlap,
            jitter_ms: self.jitter_ms,
            labels: self.labels.clone(),
        };
        // A struct of strings, numbers and a JSON value always serializes.
        serde_json::to_value(raw).unwrap_or(serde_json::Value::Null)
    }
}

/// Ids are safe in a URL path segment, a log line and a file name: 1 to 128 of
/// `A-Z a-z 0-9 . _ - : @ +`, not starting with a dot.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(format!("must be 1 to {MAX_ID_LEN} characters"));
    }
    if id.starts_with('.') {
        return Err("must not start with a dot".into());
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ".-_:@+".contains(*c)))
    {
        return Err(format!(
            "{c:?} is not allowed (letters, digits and . _ - : @ + only)"
        ));
    }
    Ok(())
}
