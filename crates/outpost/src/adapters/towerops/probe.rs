//! CREDENTIAL_PROBE (compat doc §4): which of several candidate credentials a device
//! answers to. Candidates are tried in order, each 1 + min(retries, 10) times with
//! `attempt_timeout_ms` per attempt (10 s by default); consecutive attempts are at least
//! max(inter_attempt_delay_ms, 250 ms) apart, so a probe never hammers a device (or trips
//! its lockout) with a burst of wrong communities. An attempt is a credential test
//! (sysDescr.0, then sysObjectID.0 and sysName.0 best effort). The first success sets
//! `matched_index` and the sys fields; with `stop_on_first_success` the result goes at
//! once, else the rest are still tried and the first match stands. No match: -1 and the
//! last error.
//!
//! The candidates ride in the job's params as flat target params (the `snmp.*` kinds'
//! form), each blanked by the same redaction before anything is stored.

use std::time::{Duration, Instant};

use outpost_proto::towerops::{event, AgentJob, CredentialProbeResult};
use outpost_snmp::TargetParams;
use serde::Deserialize;

use super::job::{frame, target_params, test_attempt, unix_now, OutFrame};
use crate::executors::snmp::{self as snmp_exec, Shared};

const DEFAULT_ATTEMPT_TIMEOUT_MS: u32 = 10_000;
const MAX_RETRIES: u32 = 10;
const MIN_DELAY: Duration = Duration::from_millis(250);

/// What a probe needs beyond the common params.
#[derive(Debug, Default, Deserialize)]
pub struct Settings {
    #[serde(default)]
    pub candidates: Vec<serde_json::Value>,
    #[serde(default)]
    pub stop_on_first_success: bool,
    /// Attempts per candidate (1 + retries).
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub delay_ms: u32,
}

/// Adds the probe's part to the params of `job`, and returns how long the job may run.
pub fn params(job: &AgentJob, out: &mut serde_json::Map<String, serde_json::Value>) -> Duration {
    let probe = job.credential_probe.clone().unwrap_or_default();
    let timeout_ms = if probe.attempt_timeout_ms > 0 {
        probe.attempt_timeout_ms
    } else {
        DEFAULT_ATTEMPT_TIMEOUT_MS
    };
    let attempts = 1 + probe.attempt_retries.min(MAX_RETRIES);
    let delay = MIN_DELAY.max(Duration::from_millis(u64::from(
        probe.inter_attempt_delay_ms,
    )));
    let candidates: Vec<serde_json::Value> = probe
        .candidates
        .iter()
        .map(|d| {
            let mut m = serde_json::Map::new();
            // One attempt is one request: its retries are the probe's attempts, spaced.
            let attempt = AgentJob {
                snmp_timeout_ms: timeout_ms,
                snmp_retries: 0,
                ..Default::default()
            };
            target_params(d, &attempt, &mut m);
            m.insert("retries".into(), 0.into());
            serde_json::Value::Object(m)
        })
        .collect();
    let n = u32::try_from(candidates.len()).unwrap_or(u32::MAX);
    out.insert(
        "probe".into(),
        serde_json::json!({
            "candidates": candidates,
            "stop_on_first_success": probe.stop_on_first_success,
            "attempts": attempts,
            "delay_ms": u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        }),
    );
    // Each attempt: up to three GETs of one timeout each, then the delay.
    let per_attempt = Duration::from_millis(u64::from(timeout_ms)) * 3 + delay;
    per_attempt * n.saturating_mul(attempts).max(1) + Duration::from_secs(5)
}

/// The params with every candidate's secrets blanked.
pub fn redact(params: &mut serde_json::Value) {
    let list = params
        .get_mut("probe")
        .and_then(|p| p.get_mut("candidates"))
        .and_then(|c| c.as_array_mut());
    if let Some(list) = list {
        for c in list.iter_mut() {
            *c = snmp_exec::redact(c);
        }
    }
}

/// Runs the probe and returns its `credential_probe_result` frame.
pub async fn run(shared: &Shared, s: &Settings, job_id: &str) -> OutFrame {
    let started = Instant::now();
    let mut r = CredentialProbeResult {
        probe_id: job_id.to_owned(),
        matched_index: -1,
        ..Default::default()
    };
    let delay = MIN_DELAY.max(Duration::from_millis(u64::from(s.delay_ms)));
    let mut last_error = String::from("no candidates");
    let mut first_attempt = true;
    'candidates: for (i, c) in s.candidates.iter().enumerate() {
        let target = match serde_json::from_value::<TargetParams>(c.clone()) {
            Ok(t) => t,
            Err(e) => {
                last_error = format!("candidate {i}: {e}");
                continue;
            }
        };
        let session = match shared.session(&target).await {
            Ok(s) => s,
            Err(e) => {
                last_error = format!("candidate {i}: {}", e.message);
                continue;
            }
        };
        for _ in 0..s.attempts.max(1) {
            if !first_attempt {
                tokio::time::sleep(delay).await;
            }
            first_attempt = false;
            match test_attempt(&session).await {
                Ok(found) => {
                    if r.matched_index < 0 {
                        r.matched_index = i32::try_from(i).unwrap_or(i32::MAX);
                        r.sys_descr = found.descr;
                        r.sys_object_id = found.object_id;
                        r.sys_name = found.name;
                    }
                    if s.stop_on_first_success {
                        break 'candidates;
                    }
                    continue 'candidates;
                }
                Err(e) => last_error = format!("candidate {i}: {e}"),
            }
        }
    }
    if r.matched_index < 0 {
        r.error_message = last_error;
    }
    r.duration_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
    r.timestamp = unix_now();
    frame(event::CREDENTIAL_PROBE_RESULT, &r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_proto::towerops::{CredentialProbe, JobType, SnmpDevice};

    #[test]
    fn issue17_towerops_probe_params_bound_the_run_and_redact_every_candidate() {
        let job = AgentJob {
            job_id: "probe:1".into(),
            job_type: JobType::CredentialProbe as i32,
            credential_probe: Some(CredentialProbe {
                candidates: vec![
                    SnmpDevice {
                        ip: "192.0.2.1".into(),
                        community: "c0mmunity-secret".into(),
                        ..Default::default()
                    },
                    SnmpDevice {
                        ip: "192.0.2.1".into(),
                        version: "3".into(),
                        v3_username: "u".into(),
                        v3_security_level: "authPriv".into(),
                        v3_auth_password: "auth-secret".into(),
                        v3_priv_password: "priv-secret".into(),
                        ..Default::default()
                    },
                ],
                attempt_retries: 99,
                attempt_timeout_ms: 100,
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut m = serde_json::Map::new();
        let limit = params(&job, &mut m);
        let mut v = serde_json::Value::Object(m);
        // Retries are capped at 10: 2 candidates × 11 attempts × (3 × 100 ms + 250 ms) + 5 s.
        assert_eq!(
            limit,
            Duration::from_millis(2 * 11 * 550) + Duration::from_secs(5)
        );
        assert_eq!(v["probe"]["attempts"], 11);
        assert_eq!(v["probe"]["delay_ms"], 250);
        assert_eq!(v["probe"]["candidates"][0]["retries"], 0);
        redact(&mut v);
        let text = v.to_string();
        for secret in ["c0mmunity-secret", "auth-secret", "priv-secret"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("192.0.2.1"), "{text}");
    }
}
