//! `snmp.get`, `snmp.walk`, `snmp.set` and `snmp.poll` (a GET and walks of one device in one
//! job): SNMP polling as jobs, on `outpost-snmp`'s engine.
//!
//! One [`Shared`] per registry: one [`Engine`] (a few UDP sockets for every target), created
//! on the first SNMP job so an agent that polls nothing binds nothing; one [`UserCache`], so
//! the 1 MiB password-to-key hashing runs once per v3 user; and a bounded cache of sessions,
//! so a v3 target is discovered once, not once per job.
//!
//! The target and its credentials travel in the params, flat beside the operation's own
//! fields (the snmp crate's [`TargetParams`]). [`redact`] blanks the community and the v3
//! pass phrases before params are stored, so they never reach the store, the outbox or a log.

mod get;
mod poll;
mod set;
mod walk;

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use outpost_core::{executor::ParamError, ExecError};
use outpost_snmp::mib::Mib;
use outpost_snmp::params::ParamsError;
use outpost_snmp::{
    Engine, EngineConfig, Oid, PduType, Security, Session, SnmpError, TargetParams, UserCache,
    VarBind,
};
use secrecy::ExposeSecret;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use get::SnmpGet;
pub use poll::SnmpPoll;
pub use set::SnmpSet;
pub use walk::SnmpWalk;

/// Param keys whose values are secrets: blanked by [`redact`].
pub const SECRET_KEYS: &[&str] = &["community", "auth_password", "priv_password"];

/// What a redacted secret reads as in stored params.
pub const REDACTED: &str = "[redacted]";

/// Sessions kept for reuse; past this the cache starts over (each session is small, but
/// the set of targets is the operator's, so it is bounded here).
const MAX_SESSIONS: usize = 4096;

/// What the three SNMP executors share.
pub struct Shared {
    /// The polling engine, bound on the first SNMP job.
    engine: tokio::sync::OnceCell<Engine>,
    /// v3 users by credentials digest, so keys are derived once per user.
    users: UserCache,
    /// Sessions by target-and-credentials digest: v3 discovery and the TCP connection are
    /// per session, so reusing it saves a round trip per poll.
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    /// Built-in MIB names, so params may say `sysDescr.0` or `IF-MIB::ifDescr`. Built by the
    /// first SNMP job (about 150 KiB of tables an agent without SNMP work should not hold).
    mib: std::sync::OnceLock<Mib>,
    /// The engine-wide PDU rate, read once when the engine is bound.
    rate: Mutex<RateChoice>,
}

/// Who set the engine-wide rate: the operator's `snmp.max_pdus_per_second` always wins over
/// an adapter's default, whichever component registers first.
#[derive(Debug, Default, Clone, Copy)]
struct RateChoice {
    configured: Option<u32>,
    adapter_default: Option<u32>,
}

impl RateChoice {
    /// PDUs per second, `None` for no limit (0 configured means none).
    fn per_second(self) -> Option<f64> {
        match self.configured.or(self.adapter_default) {
            Some(0) | None => None,
            Some(n) => Some(f64::from(n)),
        }
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("snmp::Shared")
            .field("engine_started", &self.engine.initialized())
            .finish_non_exhaustive()
    }
}

/// The engine's counters on `/metrics`, read at scrape time, so every reply the engine
/// dropped is visible (invariant 3). All zero until the first SNMP job starts the engine.
impl prometheus_client::collector::Collector for Shared {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        use outpost_host::prom::{counter, counters, gauge};
        gauge(
            &mut encoder,
            "outpost_snmp_max_pdus_per_second",
            "The engine-wide SNMP rate limit in datagrams per second (0: none)",
            self.rate().unwrap_or(0.0),
        )?;
        let s = self.engine.get().map(Engine::stats).unwrap_or_default();
        for (name, help, v) in [
            (
                "outpost_snmp_requests_sent",
                "SNMP requests sent, retransmissions included",
                s.requests_sent,
            ),
            (
                "outpost_snmp_retransmits",
                "SNMP requests sent again after a timeout",
                s.retransmits,
            ),
            (
                "outpost_snmp_datagrams_received",
                "Datagrams read from the SNMP engine's sockets",
                s.datagrams_received,
            ),
            (
                "outpost_snmp_responses_accepted",
                "SNMP replies credited to their request",
                s.responses_accepted,
            ),
            (
                "outpost_snmp_timeouts",
                "SNMP requests that ran out of retries",
                s.timeouts,
            ),
        ] {
            counter(&mut encoder, name, help, v)?;
        }
        counters(
            &mut encoder,
            "outpost_snmp_replies_dropped",
            "SNMP replies read but not credited, by reason",
            [
                ("malformed", s.malformed),
                ("unknown_request_id", s.unknown_request_id),
                ("wrong_source", s.wrong_source),
                ("rejected", s.rejected),
                ("queue_full", s.queue_full),
            ]
            .map(|(reason, v)| ([("reason", reason)], v)),
        )
    }
}

impl Shared {
    pub fn new() -> Arc<Shared> {
        Arc::new(Shared {
            engine: tokio::sync::OnceCell::new(),
            users: UserCache::default(),
            sessions: Mutex::new(HashMap::new()),
            mib: std::sync::OnceLock::new(),
            rate: Mutex::new(RateChoice::default()),
        })
    }

    /// The operator's `snmp.max_pdus_per_second` (0: no limit). Takes effect when the
    /// engine is bound, on the first SNMP job.
    pub fn configure_rate(&self, per_second: Option<u32>) {
        self.lock_rate().configured = per_second;
    }

    /// An adapter's default rate (Towerops: 200/s), used unless the operator set one.
    pub fn default_rate(&self, per_second: u32) {
        self.lock_rate().adapter_default = Some(per_second);
    }

    /// The engine-wide rate the engine is (or will be) bound with: PDUs per second, `None`
    /// for no limit.
    pub fn rate(&self) -> Option<f64> {
        self.lock_rate().per_second()
    }

    fn lock_rate(&self) -> std::sync::MutexGuard<'_, RateChoice> {
        self.rate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The built-in MIB, built on first use.
    fn mib(&self) -> &Mib {
        self.mib.get_or_init(Mib::builtin)
    }

    /// Validates the target part of the params (no network, no key derivation), and that
    /// the request (`pdu_type` with `varbinds`) fits in one UDP datagram when the target is
    /// UDP; `varbinds_field` is the param blamed when the varbinds are what is too big.
    fn check_target(
        &self,
        t: &TargetParams,
        pdu_type: PduType,
        varbinds: &[VarBind],
        varbinds_field: &'static str,
    ) -> Result<(), ParamError> {
        let cfg = t.to_config(&self.users).map_err(param_error)?;
        t.check_request_size(&cfg, pdu_type, varbinds, varbinds_field)
            .map_err(param_error)
    }

    /// The session for these params, reused when the same target and credentials come again.
    pub(crate) async fn session(&self, t: &TargetParams) -> Result<Session, ExecError> {
        let cfg = t
            .to_config(&self.users)
            .map_err(|e| ExecError::new("invalid_params", e.to_string()))?;
        let mut h = Sha256::new();
        let mut part = |b: &[u8]| {
            h.update((b.len() as u64).to_be_bytes());
            h.update(b);
        };
        part(cfg.addr.to_string().as_bytes());
        part(
            format!(
                "{:?}/{:?}/{}",
                cfg.security.version(),
                cfg.timeout,
                cfg.retries
            )
            .as_bytes(),
        );
        match &cfg.security {
            Security::Community { community, .. } => part(community.expose_secret().as_bytes()),
            // The cache hands out one Arc per distinct user, and never drops it.
            Security::Usm(u) => part(&(Arc::as_ptr(u) as usize).to_be_bytes()),
        }
        let key: [u8; 32] = h.finalize().into();
        if let Some(s) = self.lock_sessions().get(&key) {
            return Ok(s.clone());
        }
        let engine = self
            .engine
            .get_or_try_init(|| {
                Engine::new(EngineConfig {
                    global_rate: self.rate(),
                    ..EngineConfig::default()
                })
            })
            .await
            .map_err(exec_error)?;
        let session = engine.session(cfg).await.map_err(exec_error)?;
        let mut sessions = self.lock_sessions();
        if sessions.len() >= MAX_SESSIONS {
            sessions.clear();
        }
        Ok(sessions.entry(key).or_insert(session).clone())
    }

    fn lock_sessions(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn parse_oid(&self, s: &str, field: &str) -> Result<Oid, ParamError> {
        self.mib().parse_oid(s).map_err(|e| ParamError {
            field: field.to_owned(),
            message: e.to_string(),
        })
    }
}

/// Keys a client sent that no SNMP executor knows: refused, so a misspelt `comunity` is
/// an error at submission rather than a silent timeout later.
pub type Unknown = BTreeMap<String, serde_json::Value>;

fn refuse_unknown(unknown: &Unknown) -> Result<(), ParamError> {
    match unknown.keys().next() {
        Some(k) => Err(ParamError {
            field: k.clone(),
            message: "unknown field".into(),
        }),
        None => Ok(()),
    }
}

/// `n` must lie in 1..=`max`; `unit` ends the message (" OIDs", or empty).
fn count_in_range(field: &str, n: usize, max: usize, unit: &str) -> Result<(), ParamError> {
    if (1..=max).contains(&n) {
        return Ok(());
    }
    Err(ParamError {
        field: field.into(),
        message: format!("between 1 and {max}{unit}"),
    })
}

/// Params as they may be stored: every secret blanked.
/// Adds the `snmp.*` kinds over one shared engine, and returns it: its counters belong on
/// `/metrics` (it is a collector).
pub fn register(reg: &mut outpost_core::Registry) -> Arc<Shared> {
    let shared = Shared::new();
    register_with(reg, shared.clone());
    shared
}

/// [`register`] over an engine made elsewhere (the one the Towerops adapter shares).
pub fn register_with(reg: &mut outpost_core::Registry, shared: Arc<Shared>) {
    reg.register(SnmpGet(shared.clone()))
        .register(SnmpWalk(shared.clone()))
        .register(SnmpPoll(shared.clone()))
        .register(SnmpSet(shared));
}

pub fn redact(params: &serde_json::Value) -> serde_json::Value {
    let mut v = params.clone();
    if let Some(obj) = v.as_object_mut() {
        for k in SECRET_KEYS {
            if let Some(s) = obj.get_mut(*k) {
                *s = serde_json::Value::String(REDACTED.into());
            }
        }
    }
    v
}

fn param_error(e: ParamsError) -> ParamError {
    ParamError {
        field: e.field().to_owned(),
        message: e.to_string(),
    }
}

/// A stable code per failure an operator can act on; the message is the engine's, which
/// never carries a secret.
pub fn exec_error(e: SnmpError) -> ExecError {
    let code = match &e {
        SnmpError::Timeout { .. } => "timeout",
        SnmpError::ConnectionRefused { .. } => "connection_refused",
        SnmpError::ConnectionReset { .. } => "connection_reset",
        SnmpError::ConnectionClosed { .. } => "connection_closed",
        SnmpError::Unreachable { .. } => "unreachable",
        SnmpError::RequestTooLarge { .. } => "request_too_large",
        SnmpError::UnknownUser => "unknown_user",
        SnmpError::WrongDigest => "wrong_digest",
        SnmpError::DecryptionError => "decryption_error",
        SnmpError::UnsupportedSecLevel => "unsupported_sec_level",
        SnmpError::NotInTimeWindow => "not_in_time_window",
        SnmpError::UnknownEngineId => "unknown_engine_id",
        SnmpError::Report { .. } => "report",
        SnmpError::Agent { .. } => "agent_error",
        SnmpError::OidNotIncreasing { .. } => "oid_not_increasing",
        SnmpError::Decode(_) => "decode",
        SnmpError::Usm(_) => "security",
        SnmpError::Io { .. } => "io",
        SnmpError::Resolve(_) => "resolve",
        SnmpError::InvalidRequest(_) => "invalid_request",
        SnmpError::Closed => "closed",
    };
    ExecError::new(code, e.to_string())
}

/// Varbinds as a job result. Each is an object: the numeric OID, its name when the
/// built-in MIBs know it, the typed value (`type`, `value`, and `hex` for octet strings),
/// and `snmpget -On`'s line for it, so a result diffs against net-snmp. Serialized field by
/// field straight into the result's text: no string or map is built per varbind (issue 11).
pub struct VarBindList {
    list: Vec<VarBind>,
    shared: Arc<Shared>,
    shown: Shown,
}

/// Which of a varbind's derived fields a result carries. The OID and the typed value are
/// always there; the name and the net-snmp line repeat them for people, at about half of a
/// result's bytes, so a bulk poll may leave them out.
#[derive(Debug, Clone, Copy)]
pub struct Shown {
    pub names: bool,
    pub text: bool,
}

impl Shown {
    pub const ALL: Shown = Shown {
        names: true,
        text: true,
    };
}

impl VarBindList {
    fn new(list: Vec<VarBind>, shared: &Arc<Shared>) -> Self {
        Self::showing(list, shared, Shown::ALL)
    }

    fn showing(list: Vec<VarBind>, shared: &Arc<Shared>, shown: Shown) -> Self {
        VarBindList {
            list,
            shared: Arc::clone(shared),
            shown,
        }
    }
}

impl Serialize for VarBindList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mib = self.shared.mib();
        // One buffer for the whole list: each displayed field (OID, name, text) is formatted
        // into it and handed to the serializer as one string. Displaying straight into the
        // serializer escapes every fragment separately, which was most of a result's cost.
        let scratch = Cell::new(String::with_capacity(256));
        s.collect_seq(self.list.iter().map(|vb| Row {
            vb,
            mib,
            shown: self.shown,
            scratch: &scratch,
        }))
    }
}

/// One varbind of a [`VarBindList`].
struct Row<'a> {
    vb: &'a VarBind,
    mib: &'a Mib,
    shown: Shown,
    scratch: &'a Cell<String>,
}

impl Serialize for Row<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut buf = self.scratch.take();
        let mut entry = |m: &mut S::SerializeMap, key: &'static str, fill: &dyn Fn(&mut String)| {
            buf.clear();
            fill(&mut buf);
            m.serialize_entry(key, buf.as_str())
        };
        let mut m = s.serialize_map(None)?;
        entry(&mut m, "oid", &|b| self.vb.oid.push_to(b))?;
        if self.shown.names {
            let named = self.mib.named(&self.vb.oid);
            if named.is_known() {
                entry(&mut m, "name", &|b| named.push_to(b))?;
            }
        }
        self.vb.value.serialize_fields(&mut m)?;
        if self.shown.text {
            entry(&mut m, "text", &|b| self.vb.push_to(b))?;
        }
        self.scratch.set(buf);
        m.end()
    }
}

/// What `snmp.get` and `snmp.set` return.
#[derive(Serialize)]
pub struct VarBindsOut {
    /// In request order.
    varbinds: VarBindList,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn redact_blanks_every_secret_and_nothing_else() {
        let p = serde_json::json!({"target": "h", "community": "c", "auth_password": "a",
            "priv_password": "p", "user": "u"});
        let r = redact(&p);
        assert_eq!(r["community"], REDACTED);
        assert_eq!(r["auth_password"], REDACTED);
        assert_eq!(r["priv_password"], REDACTED);
        assert_eq!(r["user"], "u");
        assert_eq!(r["target"], "h");
    }
}
