//! PING: one echo to `snmp_device.ip` through the ICMP engine (the `ping` kind, feature
//! `probes`), within `ping_timeout_ms` (5 s by default), answered with a MonitoringCheck
//! (`success` with the round trip, or `failure`). The job's source carries the device id,
//! which is all a MonitoringCheck names (it has no job id).

use std::time::Duration;

use outpost_core::{JobRecord, JobSpec, JobState};
use outpost_proto::towerops::{event, frame::binary_base64, AgentJob, MonitoringCheck};

use super::job::{agent_error, OutFrame};

/// The source of a PING job: `towerops.ping:<device id>`.
pub const SOURCE_PREFIX: &str = "towerops.ping:";
const DEFAULT_TIMEOUT_MS: u32 = 5_000;

/// The `ping` job for Towerops job `job`, or the `error` that answers it.
pub fn spec(job: &AgentJob) -> Result<JobSpec, OutFrame> {
    let ip = job
        .snmp_device
        .as_ref()
        .map(|d| d.ip.trim())
        .filter(|ip| !ip.is_empty());
    let Some(ip) = ip else {
        return Err(agent_error(
            &job.device_id,
            &job.job_id,
            "PING needs snmp_device.ip".into(),
        ));
    };
    let timeout = if job.ping_timeout_ms > 0 {
        job.ping_timeout_ms
    } else {
        DEFAULT_TIMEOUT_MS
    };
    Ok(JobSpec {
        id: None,
        kind: "ping".into(),
        params: serde_json::json!({ "targets": [ip], "count": 1, "timeout_ms": timeout }),
        timeout: Duration::from_millis(u64::from(timeout)) + Duration::from_secs(5),
        source: format!("{SOURCE_PREFIX}{}", job.device_id),
    })
}

/// The MonitoringCheck answering a finished `ping` job whose source is ours.
pub fn answer(rec: &JobRecord) -> Option<OutFrame> {
    let device_id = rec.source.strip_prefix(SOURCE_PREFIX)?;
    Some(answer_as(rec, device_id))
}

/// The MonitoringCheck answering finished `ping` job `rec` for device `device_id` (a
/// scheduled run, whose source names its schedule instead).
pub fn answer_as(rec: &JobRecord, device_id: &str) -> OutFrame {
    let row = (rec.state == JobState::Succeeded)
        .then(|| rec.output.as_ref().map(|o| o.to_value()))
        .flatten()
        .and_then(|o| o["rows"].get(0).cloned());
    let rtt = row
        .filter(|r| r["received"].as_u64().is_some_and(|n| n > 0))
        .and_then(|r| r["rtt_avg_ms"].as_f64());
    let check = MonitoringCheck {
        device_id: device_id.to_owned(),
        status: if rtt.is_some() { "success" } else { "failure" }.into(),
        response_time_ms: rtt.unwrap_or(0.0),
        timestamp: rec.finished_at.unwrap_or(rec.created_at) / 1000,
    };
    OutFrame {
        event: event::MONITORING_CHECK.into(),
        binary: binary_base64(&check),
    }
}
