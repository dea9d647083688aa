//! The result every check returns, in Nagios' terms.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::perfdata::Perfdata;

/// Nagios' service states, with the plugin API's exit codes as their values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl Status {
    /// The plugin API's exit code for this state.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// A plugin's exit code as a state: anything outside 0..=3 (a crash, a signal, a shell's
    /// 127) is UNKNOWN, as Nagios treats it.
    pub fn from_exit_code(code: i32) -> Self {
        match code {
            0 => Status::Ok,
            1 => Status::Warning,
            2 => Status::Critical,
            _ => Status::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }

    /// The worse of two states, for checks made of several tests. UNKNOWN ranks between
    /// WARNING and CRITICAL, as in Nagios' own service-state ordering for worst-of rollups.
    pub fn worst(self, other: Status) -> Status {
        fn rank(s: Status) -> u8 {
            match s {
                Status::Ok => 0,
                Status::Warning => 1,
                Status::Unknown => 2,
                Status::Critical => 3,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check's outcome. Serialized as the `check.*` job kinds' output:
/// `{"status":0,"state":"OK","output":"...","response_time_ms":1.2,"perfdata":[...],
/// "long_output":...,"details":{...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The exit-code form (0..=3), what Nagios-minded consumers compare.
    #[serde(with = "status_code")]
    pub status: Status,
    /// The name form, for people.
    pub state: Status,
    /// The first line of output, without perfdata.
    pub output: String,
    /// The plugin API's further lines (plugins only), without perfdata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_output: Option<String>,
    /// Wall time of the check itself, in milliseconds.
    pub response_time_ms: f64,
    #[serde(default)]
    pub perfdata: Vec<Perfdata>,
    /// What the check found, per check (HTTP status and bytes, certificate dates, DNS
    /// answers...): a JSON object, or null when a check has nothing more to say.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

impl CheckResult {
    pub fn new(status: Status, output: impl Into<String>, elapsed: Duration) -> Self {
        CheckResult {
            status,
            state: status,
            output: output.into(),
            long_output: None,
            response_time_ms: elapsed.as_secs_f64() * 1000.0,
            perfdata: Vec::new(),
            details: serde_json::Value::Null,
        }
    }
}

mod status_code {
    use super::Status;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(s: &Status, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_u8(s.code())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Status, D::Error> {
        let c = u8::deserialize(d)?;
        match c {
            0..=3 => Ok(Status::from_exit_code(i32::from(c))),
            _ => Err(serde::de::Error::custom("status must be 0, 1, 2 or 3")),
        }
    }
}
