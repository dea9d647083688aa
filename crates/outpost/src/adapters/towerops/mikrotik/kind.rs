//! The `towerops.mikrotik` job kind: params from an AgentJob, the run, the result frame.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_core::{ExecError, Executor, JobContext, JobSpec};
use outpost_proto::towerops::{event, AgentJob, MikrotikResult, MikrotikSentence};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::client::{ClientError, Session};
use super::tls::Pinning;
use crate::adapters::towerops::host_keys::HostKeys;
use crate::adapters::towerops::job::{
    agent_error, frame, unix_now, OutFrame, Output, SOURCE_PREFIX,
};
use crate::executors::snmp::REDACTED;

pub const KIND: &str = "towerops.mikrotik";
/// The original's MikroTik worker pool.
const CONCURRENCY: usize = 20;
/// The whole job's bound when the job sets no `deadline_ms`.
const DEFAULT_JOB_MS: u32 = 300_000;
/// The dispatcher waits this much longer than the job's own bound, so the job answers
/// with its own error rather than being cut off.
const SLACK: Duration = Duration::from_secs(5);
const API_PORT: u16 = 8728;
const API_SSL_PORT: u16 = 8729;
/// The prefix of the legacy SSH config backup, carried as a MIKROTIK job.
const LEGACY_BACKUP_PREFIX: &str = "backup:";

/// The host-keys file (TLS pins), and the adapter's per-target gates: one MIKROTIK job at a
/// time per router (key `mikrotik:IP`, the original's).
pub struct Mikrotik(pub Arc<HostKeys>, pub Arc<super::super::gate::Gates>);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Command {
    pub command: String,
    #[serde(default)]
    pub args: BTreeMap<String, String>,
    #[serde(default)]
    pub words: Vec<String>,
}

#[derive(Deserialize)]
pub struct Params {
    job_id: String,
    #[serde(default)]
    device_id: String,
    ip: String,
    port: u16,
    #[serde(default)]
    username: String,
    password: SecretString,
    #[serde(default)]
    use_ssl: bool,
    #[serde(default)]
    commands: Vec<Command>,
    #[serde(default)]
    deadline_ms: u32,
}

fn result_frame(
    device_id: &str,
    job_id: &str,
    sentences: Vec<MikrotikSentence>,
    error: String,
) -> OutFrame {
    frame(
        event::MIKROTIK_RESULT,
        &MikrotikResult {
            device_id: device_id.to_owned(),
            job_id: job_id.to_owned(),
            sentences,
            error,
            timestamp: unix_now(),
        },
    )
}

/// The dispatcher job for MIKROTIK job `job`, or the frame that answers it at once.
pub fn spec(job: &AgentJob) -> Result<JobSpec, OutFrame> {
    // The legacy SSH backup (`backup:` ids) is `backup::job`'s, routed there before this
    // for one-shot jobs (`pump::submit_all`); only a recurring one reaches here.
    if job.job_id.starts_with(LEGACY_BACKUP_PREFIX) {
        return Err(agent_error(
            &job.device_id,
            &job.job_id,
            "a legacy backup: job runs once (backup_job), not on a schedule".into(),
        ));
    }
    let Some(d) = &job.mikrotik_device else {
        return Err(result_frame(
            &job.device_id,
            &job.job_id,
            Vec::new(),
            "connection failed: the job has no mikrotik_device".into(),
        ));
    };
    let port = match u16::try_from(d.port) {
        Ok(0) if d.use_ssl => API_SSL_PORT,
        Ok(0) => API_PORT,
        Ok(p) => p,
        Err(_) => {
            return Err(result_frame(
                &job.device_id,
                &job.job_id,
                Vec::new(),
                format!("connection failed: port {} is out of range", d.port),
            ))
        }
    };
    let commands: Vec<Command> = job
        .mikrotik_commands
        .iter()
        .map(|c| Command {
            command: c.command.clone(),
            args: c.args.clone(),
            words: c.words.clone(),
        })
        .collect();
    let bound = if job.deadline_ms > 0 {
        job.deadline_ms
    } else {
        DEFAULT_JOB_MS
    };
    let params = serde_json::json!({
        "job_id": job.job_id,
        "device_id": job.device_id,
        "ip": d.ip.trim(),
        "port": port,
        "username": d.username,
        "password": d.password,
        "use_ssl": d.use_ssl,
        "commands": commands,
        "deadline_ms": bound,
    });
    Ok(JobSpec {
        id: None,
        kind: KIND.into(),
        params,
        timeout: Duration::from_millis(u64::from(bound)) + SLACK,
        source: format!("{SOURCE_PREFIX}{}", job.job_id),
    })
}

/// Whether an attribute key or word names a secret (`/user/set =password=`, `/ppp/secret`).
fn secret_key(k: &str) -> bool {
    let k = k.trim_start_matches(['=', '?', '.']).to_ascii_lowercase();
    k.starts_with("password") || k.starts_with("secret") || k.contains("passphrase")
}

/// The params with the password, and any command argument naming a secret, blanked.
pub fn redact(params: &serde_json::Value) -> serde_json::Value {
    let mut v = params.clone();
    if let Some(p) = v.get_mut("password") {
        *p = REDACTED.into();
    }
    if let Some(cmds) = v.get_mut("commands").and_then(|c| c.as_array_mut()) {
        for c in cmds {
            if let Some(args) = c.get_mut("args").and_then(|a| a.as_object_mut()) {
                for (k, val) in args.iter_mut() {
                    if secret_key(k) {
                        *val = REDACTED.into();
                    }
                }
            }
            if let Some(words) = c.get_mut("words").and_then(|w| w.as_array_mut()) {
                for w in words {
                    let Some(text) = w.as_str() else { continue };
                    let key = text
                        .trim_start_matches(['=', '?'])
                        .split('=')
                        .next()
                        .unwrap_or("");
                    if secret_key(key) {
                        let prefix =
                            &text[..text.len() - text.trim_start_matches(['=', '?']).len()];
                        *w = format!("{prefix}{key}={REDACTED}").into();
                    }
                }
            }
        }
    }
    v
}

impl Executor for Mikrotik {
    type Params = Params;
    type Output = Output;

    fn kind(&self) -> &'static str {
        KIND
    }

    fn concurrency(&self) -> usize {
        CONCURRENCY
    }

    fn redact(&self, params: &serde_json::Value) -> serde_json::Value {
        redact(params)
    }

    async fn run(&self, p: Params, _cx: JobContext) -> Result<Output, ExecError> {
        let key = format!("mikrotik:{}", p.ip.trim());
        let _turn = self.1.enter(&key).await.map_err(|_| {
            ExecError::new(
                "busy",
                format!(
                    "worker pool overloaded; {} jobs already wait for {key}",
                    super::super::gate::MAX_WAITING
                ),
            )
        })?;
        let deadline = Instant::now() + Duration::from_millis(u64::from(p.deadline_ms.max(1)));
        let (sentences, error) = run(&self.0, &p, deadline).await;
        Ok(Output {
            frames: vec![result_frame(&p.device_id, &p.job_id, sentences, error)],
        })
    }
}

/// The rows of every command run, and the error that stopped the job (empty if none).
async fn run(
    host_keys: &Arc<HostKeys>,
    p: &Params,
    deadline: Instant,
) -> (Vec<MikrotikSentence>, String) {
    let pinning = p.use_ssl.then(|| Pinning::new(host_keys.clone()));
    let mut session = match Session::connect(&p.ip, p.port, pinning.as_ref(), deadline).await {
        Ok(s) => s,
        Err(e) => return (Vec::new(), format!("connection failed: {e}")),
    };
    if let Err(e) = session.login(&p.username, &p.password).await {
        session.quit().await;
        return (Vec::new(), format!("connection failed: {e}"));
    }
    let mut sentences = Vec::new();
    let mut error = String::new();
    for c in &p.commands {
        match session.run(&c.command, &c.words, &c.args).await {
            Ok(rows) => sentences.extend(rows.into_iter().map(|r| MikrotikSentence {
                attributes: r.attribute_map(),
            })),
            Err(ClientError::Trap(m)) => {
                error = format!("command '{}' error: {m}", c.command);
                break;
            }
            Err(e) => {
                error = format!("command '{}' failed: {e}", c.command);
                break;
            }
        }
    }
    session.quit().await;
    (sentences, error)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use outpost_proto::towerops::{JobType, MikrotikCommand, MikrotikDevice};

    fn job(id: &str) -> AgentJob {
        AgentJob {
            job_id: id.into(),
            job_type: JobType::Mikrotik as i32,
            device_id: "dev".into(),
            mikrotik_device: Some(MikrotikDevice {
                ip: "192.0.2.7".into(),
                username: "admin".into(),
                password: "hunter2-secret".into(),
                use_ssl: true,
                ..Default::default()
            }),
            mikrotik_commands: vec![MikrotikCommand {
                command: "/user/set".into(),
                args: [("password".to_owned(), "arg-secret".to_owned())].into(),
                words: vec!["=numbers=admin".into(), "=password=word-secret".into()],
            }],
            ..Default::default()
        }
    }

    #[test]
    fn issue17_mikrotik_spec_defaults_the_port_and_redacts_every_secret() {
        let s = spec(&job("mikrotik:1")).unwrap();
        assert_eq!(s.kind, KIND);
        assert_eq!(s.source, "towerops:mikrotik:1");
        assert_eq!(s.params["port"], 8729);
        assert_eq!(s.params["deadline_ms"], DEFAULT_JOB_MS);
        assert_eq!(s.timeout, Duration::from_millis(300_000) + SLACK);
        let stored = redact(&s.params).to_string();
        for secret in ["hunter2-secret", "arg-secret", "word-secret"] {
            assert!(!stored.contains(secret), "{stored}");
        }
        assert!(stored.contains("=numbers=admin"), "{stored}");
        assert!(stored.contains("=password=[redacted]"), "{stored}");
    }

    #[test]
    fn issue17_mikrotik_legacy_backup_is_its_own_branch() {
        let f = spec(&job("backup:9")).unwrap_err();
        assert_eq!(f.event, "error");
        let f = spec(&AgentJob {
            mikrotik_device: None,
            ..job("mikrotik:2")
        })
        .unwrap_err();
        assert_eq!(f.event, "mikrotik_result");
    }
}
