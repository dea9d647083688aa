//! A Towerops SNMP job (DISCOVER, POLL, TEST_CREDENTIALS) as an Outpost job of kind
//! `towerops.snmp`: submitted through the dispatcher, run on the one SNMP engine the
//! `snmp.*` kinds use, stored, and delivered from the outbox like every other result.
//!
//! Its output is the Towerops frames the job answers with, already encoded (`{"frames":
//! [{"event", "binary"}]}`), so the delivery side only pushes them. Its params carry the
//! target flat, as the `snmp.*` kinds' do, so the same redaction blanks the community and
//! the v3 pass phrases before anything is stored.
//!
//! The original's semantics: GETs in chunks of 60 OIDs, a chunk halved on tooBig or
//! noSuchName until a lone bad OID is skipped; each walk root a bulk walk (GETNEXT on v1);
//! timeout 10 s, 2 retries, max-repetitions 25 unless the job says otherwise;
//! `deadline_ms` ends the job early with `partial` and the roots it completed; the result
//! split into frames of at most `max_result_bytes` of base64. Unlike the original, a
//! target that cannot be reached at all is an `error`, never an empty result.

use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_core::{executor::ParamError, ExecError, Executor, JobContext, JobSpec};
use outpost_proto::towerops::{
    event, frame::binary_base64, AgentError, AgentJob, CredentialTestResult, JobType, QueryType,
    SnmpDevice, SnmpResult, WireMessage,
};
use outpost_snmp::{ErrorStatus, Oid, Session, SnmpError, TargetParams, WalkMode};
use serde::{Deserialize, Serialize};

use super::split::split;
use super::values::{oid_key, value_text};
use crate::executors::snmp::{self as snmp_exec, Shared};

pub const KIND: &str = "towerops.snmp";
/// The source of every job this adapter submits: `towerops:<job id>`.
pub const SOURCE_PREFIX: &str = "towerops:";

/// GET chunk size (the original's).
const GET_CHUNK: usize = 60;
const DEFAULT_TIMEOUT_MS: u32 = 10_000;
const DEFAULT_RETRIES: u32 = 2;
const MAX_REPETITIONS: u32 = 25;
/// Default bound on one result frame's base64 payload.
const DEFAULT_MAX_RESULT_BYTES: u32 = 8 << 20;
/// Varbinds kept per job at most: a walk of a huge table is cut here (its root is then
/// named in `truncated_roots`).
const MAX_ROWS: usize = 500_000;
/// The name of the GET bucket in `truncated_roots`.
const GET_BATCH: &str = "<get-batch>";

/// The job run with no deadline of its own gets this long from the dispatcher.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);

pub struct ToweropsSnmp(pub Arc<Shared>, pub Arc<super::gate::Gates>);

#[derive(Deserialize)]
pub struct Params {
    job_id: String,
    #[serde(default)]
    device_id: String,
    job_type: i32,
    #[serde(default)]
    discovery_phase: i32,
    #[serde(default)]
    gets: Vec<String>,
    #[serde(default)]
    walks: Vec<String>,
    #[serde(default)]
    deadline_ms: u32,
    #[serde(default)]
    max_result_bytes: u32,
    /// The device's bare IP: one job at a time per gate (`gate.rs`).
    #[serde(default)]
    gate: String,
    /// CREDENTIAL_PROBE's candidates and pacing (`probe.rs`).
    #[serde(default)]
    probe: Option<super::probe::Settings>,
    #[serde(flatten)]
    target: TargetParams,
}

/// One frame to push: its event and its protobuf as standard base64.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutFrame {
    pub event: String,
    pub binary: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Output {
    pub frames: Vec<OutFrame>,
}

pub(super) fn frame(event: &str, msg: &impl WireMessage) -> OutFrame {
    OutFrame {
        event: event.to_owned(),
        binary: binary_base64(msg),
    }
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// An `error` frame for job `job`.
pub fn agent_error(device_id: &str, job_id: &str, message: String) -> OutFrame {
    frame(
        event::AGENT_ERROR,
        &AgentError {
            device_id: device_id.to_owned(),
            job_id: job_id.to_owned(),
            message,
            timestamp: unix_now(),
        },
    )
}

/// Whether this executor runs jobs of type `t`.
pub fn handles(t: JobType) -> bool {
    matches!(
        t,
        JobType::Discover
            | JobType::Poll
            | JobType::TestCredentials
            | JobType::LldpTopology
            | JobType::CredentialProbe
    )
}

/// net-snmp's spelling of a Towerops v3 protocol name (`SHA-256` → `SHA-256`, `AES-256`
/// → `AES-256`); empty means the original's default.
fn auth_protocol(p: &str) -> &str {
    match p.trim() {
        "" | "SHA-1" => "SHA",
        other => other,
    }
}

fn priv_protocol(p: &str) -> String {
    match p.trim() {
        "" | "AES-128" => "AES".into(),
        other => other.replace('-', ""),
    }
}

/// The target part of the params, flat (as the `snmp.*` kinds take it).
pub(super) fn target_params(
    d: &SnmpDevice,
    job: &AgentJob,
    out: &mut serde_json::Map<String, serde_json::Value>,
) {
    let port = if d.port == 0 { 161 } else { d.port };
    let ip = d.ip.trim();
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_owned()
    };
    let scheme = match (d.transport.eq_ignore_ascii_case("tcp"), ip.contains(':')) {
        (true, false) => "tcp",
        (true, true) => "tcp6",
        (false, false) => "udp",
        (false, true) => "udp6",
    };
    out.insert("target".into(), format!("{scheme}:{host}:{port}").into());
    let version = match d.version.trim() {
        "1" | "v1" => "1",
        "3" | "v3" => "3",
        _ => "2c",
    };
    out.insert("version".into(), version.into());
    if version == "3" {
        out.insert("user".into(), d.v3_username.clone().into());
        let level = d.v3_security_level.trim();
        if level == "authPriv" || level == "authNoPriv" {
            out.insert(
                "auth_protocol".into(),
                auth_protocol(&d.v3_auth_protocol).into(),
            );
            out.insert("auth_password".into(), d.v3_auth_password.clone().into());
        }
        if level == "authPriv" {
            out.insert(
                "priv_protocol".into(),
                priv_protocol(&d.v3_priv_protocol).into(),
            );
            out.insert("priv_password".into(), d.v3_priv_password.clone().into());
        }
    } else {
        out.insert("community".into(), d.community.clone().into());
    }
    let timeout = if job.snmp_timeout_ms > 0 {
        job.snmp_timeout_ms
    } else {
        DEFAULT_TIMEOUT_MS
    };
    let retries = if job.snmp_retries > 0 {
        job.snmp_retries
    } else {
        DEFAULT_RETRIES
    };
    out.insert("timeout_ms".into(), timeout.into());
    out.insert("retries".into(), retries.into());
}

/// The dispatcher job for Towerops job `job`, or the `error` frame that answers it when
/// it has no target.
pub fn spec(job: &AgentJob) -> Result<JobSpec, OutFrame> {
    if job.job_type == JobType::CredentialProbe as i32 {
        let mut p = serde_json::Map::new();
        p.insert("job_id".into(), job.job_id.clone().into());
        p.insert("device_id".into(), job.device_id.clone().into());
        p.insert("job_type".into(), job.job_type.into());
        let ip = job
            .snmp_device
            .as_ref()
            .or_else(|| job.credential_probe.as_ref()?.candidates.first())
            .map(|d| d.ip.trim().to_owned())
            .unwrap_or_default();
        p.insert("gate".into(), ip.into());
        let timeout = super::probe::params(job, &mut p);
        return Ok(JobSpec {
            id: None,
            kind: KIND.into(),
            params: serde_json::Value::Object(p),
            timeout,
            source: format!("{SOURCE_PREFIX}{}", job.job_id),
        });
    }
    let Some(device) = &job.snmp_device else {
        return Err(agent_error(
            &job.device_id,
            &job.job_id,
            "connection failed: the job has no snmp_device".into(),
        ));
    };
    let mut p = serde_json::Map::new();
    p.insert("job_id".into(), job.job_id.clone().into());
    p.insert("device_id".into(), job.device_id.clone().into());
    p.insert("job_type".into(), job.job_type.into());
    p.insert("discovery_phase".into(), job.discovery_phase.into());
    let (mut gets, mut walks) = (Vec::new(), Vec::new());
    for q in &job.queries {
        let list = match QueryType::try_from(q.query_type) {
            Ok(QueryType::Walk) => &mut walks,
            _ => &mut gets,
        };
        list.extend(q.oids.iter().cloned());
    }
    p.insert("gets".into(), gets.into());
    p.insert("walks".into(), walks.into());
    p.insert("deadline_ms".into(), job.deadline_ms.into());
    p.insert("max_result_bytes".into(), job.max_result_bytes.into());
    p.insert("gate".into(), device.ip.trim().into());
    target_params(device, job, &mut p);
    let timeout = if job.deadline_ms > 0 {
        Duration::from_millis(u64::from(job.deadline_ms)) + Duration::from_secs(5)
    } else {
        RUN_TIMEOUT
    };
    Ok(JobSpec {
        id: None,
        kind: KIND.into(),
        params: serde_json::Value::Object(p),
        timeout,
        source: format!("{SOURCE_PREFIX}{}", job.job_id),
    })
}

fn parse_oid(s: &str) -> Option<Oid> {
    s.trim().trim_start_matches('.').parse().ok()
}

impl Executor for ToweropsSnmp {
    type Params = Params;
    type Output = Output;

    fn kind(&self) -> &'static str {
        KIND
    }

    fn concurrency(&self) -> usize {
        // The original's SNMP pool.
        100
    }

    fn check(&self, p: &Params) -> Result<(), ParamError> {
        match JobType::try_from(p.job_type) {
            Ok(t) if handles(t) => Ok(()),
            _ => Err(ParamError {
                field: "job_type".into(),
                message: format!("unsupported job type {}", p.job_type),
            }),
        }
    }

    fn redact(&self, params: &serde_json::Value) -> serde_json::Value {
        let mut v = snmp_exec::redact(params);
        super::probe::redact(&mut v);
        v
    }

    async fn run(&self, p: Params, _cx: JobContext) -> Result<Output, ExecError> {
        let _turn = self.1.enter(&p.gate).await.map_err(|_| {
            ExecError::new(
                "busy",
                format!(
                    "worker pool overloaded; {} jobs already wait for {}",
                    super::gate::MAX_WAITING,
                    p.gate
                ),
            )
        })?;
        if let Some(probe) = &p.probe {
            return Ok(Output {
                frames: vec![super::probe::run(&self.0, probe, &p.job_id).await],
            });
        }
        let session = match self.0.session(&p.target).await {
            Ok(s) => s,
            Err(e) => {
                return Ok(Output {
                    frames: vec![agent_error(
                        &p.device_id,
                        &p.job_id,
                        format!("connection failed: {}", e.message),
                    )],
                })
            }
        };
        let frames = match JobType::try_from(p.job_type) {
            Ok(JobType::TestCredentials) => vec![test_credentials(&session, &p).await],
            Ok(JobType::LldpTopology) => vec![lldp(&session, &p).await],
            _ => poll(&session, &p).await,
        };
        Ok(Output { frames })
    }
}

/// LLDP_TOPOLOGY: the device's LLDP-MIB as LldpTopologyResult, or an AgentError when the
/// device does not answer.
async fn lldp(session: &Session, p: &Params) -> OutFrame {
    match super::lldp::read(session).await {
        Ok(t) => frame(
            event::LLDP_TOPOLOGY_RESULT,
            &super::lldp::result(&p.device_id, &p.job_id, &t, unix_now()),
        ),
        Err(e) => agent_error(&p.device_id, &p.job_id, format!("lldp: {e}")),
    }
}

/// `s` cut to at most `max` bytes on a character boundary.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// The one value of a GET of `oid`, as text; an exception is an error.
async fn get_one(session: &Session, oid: &str) -> Result<String, String> {
    let oid = parse_oid(oid).ok_or_else(|| format!("bad OID {oid}"))?;
    let vbs = session
        .get(std::slice::from_ref(&oid))
        .await
        .map_err(|e| e.to_string())?;
    vbs.first()
        .and_then(|vb| value_text(&vb.oid, &vb.value))
        .ok_or_else(|| "no such object".to_owned())
}

/// What a credential test read, cut to the published bounds.
pub(super) struct Found {
    pub descr: String,
    pub object_id: String,
    pub name: String,
}

/// One credential test: sysDescr.0 alone (on v1 one missing OID fails the whole PDU),
/// then sysObjectID.0 and sysName.0 best effort.
pub(super) async fn test_attempt(session: &Session) -> Result<Found, String> {
    let descr = get_one(session, "1.3.6.1.2.1.1.1.0")
        .await
        .map_err(|e| truncate(format!("SNMP test failed: {e}"), 2048))?;
    let best_effort = |r: Result<String, String>| truncate(r.unwrap_or_default(), 255);
    Ok(Found {
        descr: truncate(descr, 2048),
        object_id: best_effort(get_one(session, "1.3.6.1.2.1.1.2.0").await),
        name: best_effort(get_one(session, "1.3.6.1.2.1.1.5.0").await),
    })
}

async fn test_credentials(session: &Session, p: &Params) -> OutFrame {
    let mut r = CredentialTestResult {
        test_id: p.job_id.clone(),
        timestamp: unix_now(),
        ..Default::default()
    };
    match test_attempt(session).await {
        Ok(found) => {
            r.success = true;
            r.system_description = found.descr;
            r.sys_object_id = found.object_id;
            r.sys_name = found.name;
        }
        Err(e) => r.error_message = e,
    }
    frame(event::CREDENTIAL_TEST_RESULT, &r)
}

/// What a DISCOVER or POLL collected: one bucket for the GETs, one per walk root.
struct Collected {
    buckets: Vec<(String, Vec<(String, String)>)>,
    completed: Vec<String>,
    errors: Vec<String>,
    partial: bool,
    /// Roots cut at [`MAX_ROWS`].
    capped: Vec<String>,
}

fn expired(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// Runs `f` until `deadline` (if any); `None` when the deadline came first.
async fn until<T>(deadline: Option<Instant>, f: impl std::future::Future<Output = T>) -> Option<T> {
    match deadline {
        Some(d) => tokio::time::timeout_at(tokio::time::Instant::from_std(d), f)
            .await
            .ok(),
        None => Some(f.await),
    }
}

fn halves(e: &SnmpError) -> bool {
    matches!(e, SnmpError::Agent { status, .. }
        if *status == ErrorStatus::TOO_BIG || *status == ErrorStatus::NO_SUCH_NAME)
}

async fn collect(session: &Session, p: &Params) -> Collected {
    let deadline = (p.deadline_ms > 0)
        .then(|| Instant::now() + Duration::from_millis(u64::from(p.deadline_ms)));
    let mut c = Collected {
        buckets: Vec::new(),
        completed: Vec::new(),
        errors: Vec::new(),
        partial: false,
        capped: Vec::new(),
    };
    let mut rows = 0usize;
    // GETs: chunks of 60, each halved on tooBig/noSuchName down to a lone OID, skipped.
    let mut oids = Vec::with_capacity(p.gets.len());
    for s in &p.gets {
        match parse_oid(s) {
            Some(o) => oids.push(o),
            None => c.errors.push(format!("{s}: not a numeric OID")),
        }
    }
    let mut got = Vec::new();
    let mut stack: Vec<&[Oid]> = oids.chunks(GET_CHUNK).rev().collect();
    while let Some(chunk) = stack.pop() {
        let Some(r) = until(deadline, session.get(chunk)).await else {
            c.partial = true;
            break;
        };
        match r {
            Ok(vbs) => {
                for vb in vbs {
                    if let Some(v) = value_text(&vb.oid, &vb.value) {
                        got.push((oid_key(&vb.oid), v));
                    }
                }
            }
            Err(e) if halves(&e) && chunk.len() > 1 => {
                let (a, b) = chunk.split_at(chunk.len() / 2);
                stack.push(b);
                stack.push(a);
            }
            Err(e) if halves(&e) => {} // a lone bad OID: skipped
            Err(e) => {
                c.errors.push(format!("{GET_BATCH}: {e}"));
                break;
            }
        }
    }
    rows += got.len();
    if !got.is_empty() {
        c.buckets.push((GET_BATCH.to_owned(), got));
    }
    // Walks: bulk (GETNEXT on v1), one bucket per root.
    let mode = if session.version() == outpost_snmp::message::Version::V1 {
        WalkMode::GetNext
    } else {
        WalkMode::Bulk(MAX_REPETITIONS)
    };
    for s in &p.walks {
        if c.partial || expired(deadline) {
            c.partial = true;
            break;
        }
        let name = s.trim().trim_start_matches('.').to_owned();
        let Some(root) = parse_oid(s) else {
            c.errors.push(format!("{s}: not a numeric OID"));
            continue;
        };
        let mut bucket = Vec::new();
        let mut cut = false;
        let walked = until(
            deadline,
            session.walk_each(&root, mode, |vb| {
                if rows + bucket.len() >= MAX_ROWS {
                    cut = true;
                } else if let Some(v) = value_text(&vb.oid, &vb.value) {
                    bucket.push((oid_key(&vb.oid), v));
                }
            }),
        )
        .await;
        match walked {
            Some(Ok(_)) if !cut => c.completed.push(name.clone()),
            Some(Ok(_)) => c.capped.push(name.clone()),
            Some(Err(e)) => c.errors.push(format!("{name}: {e}")),
            None => c.partial = true,
        }
        rows += bucket.len();
        c.buckets.push((name, bucket));
    }
    c
}

async fn poll(session: &Session, p: &Params) -> Vec<OutFrame> {
    let c = collect(session, p).await;
    let mut frames = Vec::new();
    let rows: usize = c.buckets.iter().map(|(_, b)| b.len()).sum();
    // Nothing read and something failed: the target is unreachable or refused us. That is
    // an `error` (the original sent an empty result).
    if rows > 0 || c.errors.is_empty() {
        let budget = if p.max_result_bytes > 0 {
            p.max_result_bytes
        } else {
            DEFAULT_MAX_RESULT_BYTES
        };
        let template = SnmpResult {
            device_id: p.device_id.clone(),
            job_type: p.job_type,
            timestamp: unix_now(),
            job_id: p.job_id.clone(),
            partial: c.partial,
            completed_roots: c.completed.clone(),
            discovery_phase: p.discovery_phase,
            ..Default::default()
        };
        for r in split(&template, c.buckets, budget as usize, c.capped) {
            frames.push(frame(event::RESULT, &r));
        }
    }
    if !c.errors.is_empty() {
        let msg = format!("SNMP query failed: {}", c.errors.join("; "));
        frames.push(agent_error(
            &p.device_id,
            &p.job_id,
            truncate(msg, 64 << 10),
        ));
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue17_towerops_spec_maps_the_device_and_keeps_secrets_out_of_stored_params() {
        let job = AgentJob {
            job_id: "poll:7".into(),
            job_type: JobType::Poll as i32,
            device_id: "dev".into(),
            snmp_device: Some(SnmpDevice {
                ip: "127.0.0.1".into(),
                community: "s3cret".into(),
                version: "v1".into(),
                port: 1161,
                ..Default::default()
            }),
            queries: vec![
                outpost_proto::towerops::SnmpQuery {
                    query_type: QueryType::Get as i32,
                    oids: vec!["1.3.6.1.2.1.1.1.0".into()],
                },
                outpost_proto::towerops::SnmpQuery {
                    query_type: QueryType::Walk as i32,
                    oids: vec![".1.3.6.1.2.1.2.2".into()],
                },
            ],
            ..Default::default()
        };
        let s = spec(&job).unwrap();
        assert_eq!(s.source, "towerops:poll:7");
        assert_eq!(s.params["target"], "udp:127.0.0.1:1161");
        assert_eq!(s.params["version"], "1");
        assert_eq!(s.params["timeout_ms"], 10_000);
        assert_eq!(s.params["retries"], 2);
        assert_eq!(s.params["gets"][0], "1.3.6.1.2.1.1.1.0");
        assert_eq!(s.params["walks"][0], ".1.3.6.1.2.1.2.2");
        let stored = snmp_exec::redact(&s.params);
        assert!(!stored.to_string().contains("s3cret"));
        let no_target = AgentJob {
            snmp_device: None,
            ..job
        };
        let e = spec(&no_target).unwrap_err();
        assert_eq!(e.event, "error");
    }
}
