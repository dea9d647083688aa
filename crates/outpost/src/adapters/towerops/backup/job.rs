//! A config backup as an Outpost job of kind `towerops.backup`: CONFIG_BACKUP jobs (the
//! `backup_job` lane, or `jobs`) and the legacy MIKROTIK job whose id starts `backup:`.
//! Submitted through the dispatcher, run here, stored, and delivered from the outbox like
//! every Towerops result: the output is the answering frame already encoded
//! (`config_backup_result`, or `mikrotik_result` for the legacy job).
//!
//! The params carry the login flat; the password is a [`SecretString`] while the job
//! runs and `[redacted]` in what is stored. The whole job, connection included, runs
//! under its `timeout_ms` (120 s by default; the legacy job 60 s).

use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_core::{executor::ParamError, ExecError, Executor, JobContext, JobSpec};
use outpost_proto::towerops::{
    event, AgentJob, ConfigBackupErrorCode as Code, ConfigBackupMode, ConfigBackupResult,
    MikrotikResult, MikrotikSentence,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::routeros::{self, detail};
use super::ssh::{self, Failure, Trust};
use crate::adapters::towerops::host_keys::HostKeys;
use crate::adapters::towerops::job::{frame, unix_now, OutFrame, Output, SOURCE_PREFIX};
use crate::executors::snmp::REDACTED;

pub const KIND: &str = "towerops.backup";
/// The id prefix that makes a MIKROTIK job the legacy SSH export.
pub const LEGACY_PREFIX: &str = "backup:";

const DEFAULT_PORT: u32 = 22;
const DEFAULT_MAX_CONFIG: u64 = 16 << 20;
/// Above this a job's own cap is lowered to it: the export is held in memory.
const MAX_CONFIG_CAP: u64 = 64 << 20;
const DEFAULT_TIMEOUT_MS: u32 = 120_000;
const MAX_TIMEOUT_MS: u32 = 3_600_000;
/// The legacy job's fixed bounds (the original's).
const LEGACY_TIMEOUT_MS: u32 = 60_000;
const LEGACY_MAX_CONFIG: u64 = 16 << 20;
/// What the dispatcher allows beyond the job's own bound, so the job reports its TIMEOUT
/// itself rather than being cut off without an answer.
const DISPATCH_MARGIN: Duration = Duration::from_secs(10);
/// The original's backup pool.
const CONCURRENCY: usize = 8;

pub struct ToweropsBackup {
    /// Trust on first use when a job names no expected host key.
    host_keys: Arc<HostKeys>,
    /// One job at a time per device (`gate.rs`): key `config_backup:HOST`, or
    /// `mikrotik:HOST` for the legacy export, which then waits for RouterOS API jobs to the
    /// same router too.
    gates: Arc<super::super::gate::Gates>,
}

impl ToweropsBackup {
    pub fn new(host_keys: Arc<HostKeys>, gates: Arc<super::super::gate::Gates>) -> Self {
        Self { host_keys, gates }
    }
}

#[derive(Deserialize)]
pub struct Params {
    job_id: String,
    #[serde(default)]
    device_id: String,
    /// The legacy `backup:` MIKROTIK job: `/export compact` → `mikrotik_result`.
    #[serde(default)]
    legacy: bool,
    #[serde(default)]
    vendor: String,
    #[serde(default)]
    probe: bool,
    host: String,
    port: u16,
    username: String,
    password: SecretString,
    #[serde(default)]
    include_secrets: bool,
    #[serde(default)]
    expected_fingerprint: String,
    max_config_bytes: u64,
    timeout_ms: u32,
}

/// A `config_backup_result` frame answering a job that never ran.
fn refused(job: &AgentJob, code: Code, why: &str) -> OutFrame {
    frame(
        event::CONFIG_BACKUP_RESULT,
        &ConfigBackupResult {
            device_id: job.device_id.clone(),
            job_id: job.job_id.clone(),
            error_code: code as i32,
            error_detail: routeros::truncate(why.to_owned(), routeros::MAX_DETAIL),
            timestamp: unix_now(),
            ..Default::default()
        },
    )
}

/// The `mikrotik_result` answering a legacy job with an error.
fn legacy_error(device_id: &str, job_id: &str, why: &str) -> OutFrame {
    frame(
        event::MIKROTIK_RESULT,
        &MikrotikResult {
            device_id: device_id.to_owned(),
            job_id: job_id.to_owned(),
            error: format!("SSH backup failed: {why}"),
            timestamp: unix_now(),
            ..Default::default()
        },
    )
}

fn job_spec(job_id: &str, params: serde_json::Value, timeout_ms: u32) -> JobSpec {
    JobSpec {
        id: None,
        kind: KIND.into(),
        params,
        timeout: Duration::from_millis(u64::from(timeout_ms)) + DISPATCH_MARGIN,
        source: format!("{SOURCE_PREFIX}{job_id}"),
    }
}

/// The dispatcher job for CONFIG_BACKUP job `job`, or the `config_backup_result` that
/// answers it when it cannot be one.
pub fn spec(job: &AgentJob) -> Result<JobSpec, OutFrame> {
    let Some(b) = &job.config_backup else {
        return Err(refused(job, Code::Internal, "the job has no config_backup"));
    };
    let port = if b.ssh_port == 0 {
        DEFAULT_PORT
    } else {
        b.ssh_port
    };
    let Ok(port) = u16::try_from(port) else {
        return Err(refused(
            job,
            Code::Unreachable,
            &format!("ssh_port {port} is not a port"),
        ));
    };
    if b.host.trim().is_empty() {
        return Err(refused(job, Code::Unreachable, "the job has no host"));
    }
    let max = match b.max_config_bytes {
        0 => DEFAULT_MAX_CONFIG,
        n => n.min(MAX_CONFIG_CAP),
    };
    let timeout_ms = match b.timeout_ms {
        0 => DEFAULT_TIMEOUT_MS,
        n => n.min(MAX_TIMEOUT_MS),
    };
    let params = serde_json::json!({
        "job_id": job.job_id,
        "device_id": job.device_id,
        "vendor": b.vendor,
        "probe": b.mode == ConfigBackupMode::Probe as i32,
        "host": b.host.trim(),
        "port": port,
        "username": b.username,
        "password": b.password,
        "include_secrets": b.include_secrets,
        "expected_fingerprint": b.expected_host_key_fingerprint,
        "max_config_bytes": max,
        "timeout_ms": timeout_ms,
    });
    Ok(job_spec(&job.job_id, params, timeout_ms))
}

/// Whether MIKROTIK job `job` is the legacy SSH export.
pub fn is_legacy(job: &AgentJob) -> bool {
    job.job_id.starts_with(LEGACY_PREFIX)
}

/// The dispatcher job for legacy `backup:` MIKROTIK job `job`: SSH to the device's
/// `ssh_port`, `/export compact`, 60 s, 16 MiB.
pub fn legacy_spec(job: &AgentJob) -> Result<JobSpec, OutFrame> {
    let Some(d) = &job.mikrotik_device else {
        return Err(legacy_error(
            &job.device_id,
            &job.job_id,
            "the job has no mikrotik_device",
        ));
    };
    let port = if d.ssh_port == 0 {
        DEFAULT_PORT
    } else {
        d.ssh_port
    };
    let Ok(port) = u16::try_from(port) else {
        return Err(legacy_error(
            &job.device_id,
            &job.job_id,
            &format!("ssh_port {port} is not a port"),
        ));
    };
    let params = serde_json::json!({
        "job_id": job.job_id,
        "device_id": job.device_id,
        "legacy": true,
        "host": d.ip.trim(),
        "port": port,
        "username": d.username,
        "password": d.password,
        "max_config_bytes": LEGACY_MAX_CONFIG,
        "timeout_ms": LEGACY_TIMEOUT_MS,
    });
    Ok(job_spec(&job.job_id, params, LEGACY_TIMEOUT_MS))
}

/// The answer to a backup job the dispatcher would not take (its queue is full).
pub fn busy(job: &AgentJob) -> OutFrame {
    if is_legacy(job) {
        legacy_error(&job.device_id, &job.job_id, "the agent is busy; retry")
    } else {
        refused(job, Code::AgentBusy, "the agent is busy; retry")
    }
}

/// The answer to a backup job that ended without answering itself: cut off by the
/// dispatcher (TIMEOUT), cancelled, or interrupted by a restart (INTERNAL). Never re-run:
/// the server decides.
pub fn unfinished(
    device_id: &str,
    job_id: &str,
    legacy: bool,
    state: outpost_core::JobState,
    why: &str,
) -> OutFrame {
    let detail = format!("job {}: {why}", state.as_str());
    if legacy {
        return legacy_error(device_id, job_id, &detail);
    }
    let code = match state {
        outpost_core::JobState::TimedOut => Code::Timeout,
        _ => Code::Internal,
    };
    frame(
        event::CONFIG_BACKUP_RESULT,
        &ConfigBackupResult {
            device_id: device_id.to_owned(),
            job_id: job_id.to_owned(),
            error_code: code as i32,
            error_detail: routeros::truncate(detail, routeros::MAX_DETAIL),
            timestamp: unix_now(),
            ..Default::default()
        },
    )
}

/// What a backup learned, kept as it goes so a timeout still reports what it saw.
#[derive(Default)]
struct Got {
    fingerprint: String,
    version: String,
    identity: String,
    model: String,
    config: Vec<u8>,
    policies: Vec<String>,
}

impl Executor for ToweropsBackup {
    type Params = Params;
    type Output = Output;

    fn kind(&self) -> &'static str {
        KIND
    }

    fn concurrency(&self) -> usize {
        CONCURRENCY
    }

    fn check(&self, p: &Params) -> Result<(), ParamError> {
        if p.host.trim().is_empty() {
            return Err(ParamError {
                field: "host".into(),
                message: "empty".into(),
            });
        }
        Ok(())
    }

    fn redact(&self, params: &serde_json::Value) -> serde_json::Value {
        let mut v = params.clone();
        if let Some(pw) = v.get_mut("password") {
            *pw = REDACTED.into();
        }
        v
    }

    async fn run(&self, p: Params, _cx: JobContext) -> Result<Output, ExecError> {
        let started = Instant::now();
        let key = format!(
            "{}:{}",
            if p.legacy {
                "mikrotik"
            } else {
                "config_backup"
            },
            p.host.trim()
        );
        let Ok(_turn) = self.gates.enter(&key).await else {
            // The original's answer to a device with too many jobs parked: AGENT_BUSY.
            let busy = Err(Failure::new(
                Code::AgentBusy,
                format!(
                    "{} jobs already wait for {key}",
                    super::super::gate::MAX_WAITING
                ),
            ));
            let password = p.password.expose_secret();
            let f = if p.legacy {
                answer_legacy(&p, busy, &Got::default(), password)
            } else {
                answer(&p, busy, Got::default(), password, started)
            };
            return Ok(Output { frames: vec![f] });
        };
        let limit = Duration::from_millis(u64::from(p.timeout_ms));
        let trust = match p.expected_fingerprint.trim() {
            "" => Trust::File(self.host_keys.clone()),
            e => Trust::Expected(e.to_owned()),
        };
        let mut got = Got::default();
        let outcome = match tokio::time::timeout(limit, backup(&p, trust, &mut got)).await {
            Ok(r) => r,
            Err(_) => Err(Failure::new(
                Code::Timeout,
                format!(
                    "no complete answer from {}:{} within {} ms",
                    p.host, p.port, p.timeout_ms
                ),
            )),
        };
        let password = p.password.expose_secret();
        let f = if p.legacy {
            answer_legacy(&p, outcome, &got, password)
        } else {
            answer(&p, outcome, got, password, started)
        };
        Ok(Output { frames: vec![f] })
    }
}

fn answer_legacy(p: &Params, outcome: Result<(), Failure>, got: &Got, password: &str) -> OutFrame {
    match outcome {
        Ok(()) => {
            let mut s = MikrotikSentence::default();
            s.attributes.insert(
                "config".into(),
                String::from_utf8_lossy(&got.config).into_owned(),
            );
            frame(
                event::MIKROTIK_RESULT,
                &MikrotikResult {
                    device_id: p.device_id.clone(),
                    job_id: p.job_id.clone(),
                    sentences: vec![s],
                    timestamp: unix_now(),
                    ..Default::default()
                },
            )
        }
        Err(f) => legacy_error(&p.device_id, &p.job_id, &detail(&f.detail, password)),
    }
}

fn answer(
    p: &Params,
    outcome: Result<(), Failure>,
    got: Got,
    password: &str,
    started: Instant,
) -> OutFrame {
    let mut r = ConfigBackupResult {
        device_id: p.device_id.clone(),
        job_id: p.job_id.clone(),
        host_key_fingerprint: got.fingerprint,
        os_version: got.version,
        model: got.model,
        identity: got.identity,
        user_policies: got.policies,
        ..Default::default()
    };
    match outcome {
        Ok(()) => {
            if !p.probe {
                r.config_bytes = got.config.len() as u64;
                r.config_gzip = gzip(&got.config);
                r.includes_secrets = p.include_secrets;
            }
        }
        Err(f) => {
            r.error_code = f.code as i32;
            r.error_detail = detail(&f.detail, password);
        }
    }
    r.duration_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
    r.timestamp = unix_now();
    frame(event::CONFIG_BACKUP_RESULT, &r)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    enc.write_all(bytes)
        .and_then(|()| enc.finish())
        .unwrap_or_default()
}

/// The failure a command's reply means, if any: the device's own words first, then a
/// non-zero exit with its stderr (RouterOS 6 sends no exit status: tolerated).
fn reply_failure(command: &str, out: &ssh::Exec) -> Option<Failure> {
    let text = String::from_utf8_lossy(&out.stdout);
    if let Some((code, line)) = routeros::refusal(&text) {
        return Some(Failure::new(code, format!("{command}: {line}")));
    }
    match out.exit_status {
        Some(n) if n != 0 => {
            let err = String::from_utf8_lossy(&out.stderr);
            Some(Failure::new(
                Code::ExportFailed,
                format!("{command}: exit status {n}: {}", err.trim()),
            ))
        }
        _ => None,
    }
}

async fn backup(p: &Params, trust: Trust, got: &mut Got) -> Result<(), Failure> {
    let mikrotik = p.vendor.is_empty() || p.vendor.eq_ignore_ascii_case("mikrotik");
    if !p.legacy && !mikrotik {
        return Err(Failure::new(
            Code::UnsupportedVendor,
            format!("vendor {:?} is not supported (only mikrotik)", p.vendor),
        ));
    }
    let target = ssh::Target {
        host: p.host.clone(),
        port: p.port,
        username: p.username.clone(),
        password: p.password.clone(),
    };
    let conn = ssh::connect(&target, trust, &mut got.fingerprint).await?;
    let r = session(p, &conn, got).await;
    conn.close().await;
    r
}

async fn session(p: &Params, conn: &ssh::Connection, got: &mut Got) -> Result<(), Failure> {
    let max = usize::try_from(p.max_config_bytes).unwrap_or(usize::MAX);
    if p.legacy {
        let out = conn.exec(routeros::EXPORT_COMPACT, max).await?;
        if let Some(f) = reply_failure(routeros::EXPORT_COMPACT, &out) {
            return Err(f);
        }
        let text = String::from_utf8_lossy(&out.stdout);
        routeros::judge_export(&text).map_err(|(c, d)| Failure::new(c, d))?;
        got.config = out.stdout;
        return Ok(());
    }
    let out = conn.exec(routeros::VERSION, routeros::MAX_METADATA).await?;
    if let Some(f) = reply_failure(routeros::VERSION, &out) {
        return Err(f);
    }
    got.version = routeros::one_line(&out.stdout);
    if p.probe {
        got.identity = identity(conn).await?;
        if let Some(cmd) = routeros::policy_command(&p.username) {
            let out = conn.exec(&cmd, routeros::MAX_METADATA).await?;
            if let Some(f) = reply_failure(&cmd, &out) {
                return Err(f);
            }
            got.policies = routeros::policies(&String::from_utf8_lossy(&out.stdout));
        }
        return Ok(());
    }
    let command = routeros::export_command(routeros::major(&got.version), p.include_secrets);
    let out = conn.exec(command, max).await?;
    let text = String::from_utf8_lossy(&out.stdout);
    routeros::judge_export(&text).map_err(|(c, d)| Failure::new(c, format!("{command}: {d}")))?;
    if let Some(f) = reply_failure(command, &out) {
        return Err(f);
    }
    got.model = routeros::model(&text);
    got.config = out.stdout;
    got.identity = identity(conn).await?;
    Ok(())
}

async fn identity(conn: &ssh::Connection) -> Result<String, Failure> {
    let out = conn
        .exec(routeros::IDENTITY, routeros::MAX_METADATA)
        .await?;
    if let Some(f) = reply_failure(routeros::IDENTITY, &out) {
        return Err(f);
    }
    Ok(routeros::one_line(&out.stdout))
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_proto::towerops::{ConfigBackupJob, JobType, MikrotikDevice};

    #[test]
    fn issue17_backup_spec_defaults_bounds_and_redaction() {
        let job = AgentJob {
            job_id: "cb:1".into(),
            job_type: JobType::ConfigBackup as i32,
            device_id: "dev".into(),
            config_backup: Some(ConfigBackupJob {
                vendor: "mikrotik".into(),
                host: " 192.0.2.9 ".into(),
                username: "admin".into(),
                password: "pw-s3cret".into(),
                max_config_bytes: u64::MAX,
                ..Default::default()
            }),
            ..Default::default()
        };
        let s = spec(&job).unwrap();
        assert_eq!(s.kind, KIND);
        assert_eq!(s.source, "towerops:cb:1");
        assert_eq!(s.params["port"], 22);
        assert_eq!(s.params["host"], "192.0.2.9");
        assert_eq!(s.params["timeout_ms"], 120_000);
        assert_eq!(s.params["max_config_bytes"], MAX_CONFIG_CAP);
        assert_eq!(s.timeout, Duration::from_secs(130));
        let stored = ToweropsBackup::new(
            Arc::new(HostKeys::open(&tempfile::tempdir().unwrap().path().join("k.json")).unwrap()),
            Default::default(),
        )
        .redact(&s.params);
        assert!(!stored.to_string().contains("pw-s3cret"), "{stored}");
        assert_eq!(stored["password"], REDACTED);

        let bad_port = AgentJob {
            config_backup: Some(ConfigBackupJob {
                host: "h".into(),
                ssh_port: 70_000,
                ..Default::default()
            }),
            ..job.clone()
        };
        assert_eq!(spec(&bad_port).unwrap_err().event, "config_backup_result");

        let legacy = AgentJob {
            job_id: "backup:7".into(),
            job_type: JobType::Mikrotik as i32,
            mikrotik_device: Some(MikrotikDevice {
                ip: "192.0.2.9".into(),
                ssh_port: 2222,
                username: "admin".into(),
                password: "pw".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(is_legacy(&legacy));
        let s = legacy_spec(&legacy).unwrap();
        assert_eq!(s.params["port"], 2222);
        assert_eq!(s.params["legacy"], true);
        assert_eq!(s.params["timeout_ms"], 60_000);
        let none = AgentJob {
            mikrotik_device: None,
            ..legacy
        };
        assert_eq!(legacy_spec(&none).unwrap_err().event, "mikrotik_result");
    }

    #[test]
    fn issue17_backup_unfinished_job_is_answered_in_its_own_shape() {
        use outpost_core::JobState;
        use outpost_proto::towerops::frame::decode_binary;
        let f = unfinished("d", "cb:9", false, JobState::Interrupted, "agent stopped");
        assert_eq!(f.event, "config_backup_result");
        let r: ConfigBackupResult =
            decode_binary(&serde_json::json!({ "binary": f.binary })).unwrap();
        assert_eq!(r.error_code, Code::Internal as i32);
        assert_eq!(r.job_id, "cb:9");
        assert!(r.error_detail.starts_with("job interrupted"), "{r:?}");
        let f = unfinished("d", "cb:9", false, JobState::TimedOut, "x");
        let r: ConfigBackupResult =
            decode_binary(&serde_json::json!({ "binary": f.binary })).unwrap();
        assert_eq!(r.error_code, Code::Timeout as i32);
        let f = unfinished("d", "backup:1", true, JobState::Interrupted, "x");
        let r: MikrotikResult = decode_binary(&serde_json::json!({ "binary": f.binary })).unwrap();
        assert!(
            r.error.starts_with("SSH backup failed: job interrupted"),
            "{r:?}"
        );
    }
}
