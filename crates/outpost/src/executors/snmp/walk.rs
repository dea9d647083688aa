//! `snmp.walk`: the subtree under one OID, with GETBULK where the version allows (v2c, v3)
//! and GETNEXT for v1, with net-snmp's walk semantics and loop protection.

use std::sync::Arc;

use outpost_core::{executor::ParamError, ExecError, Executor, JobContext};
use outpost_snmp::{Oid, PduType, Session, TargetParams, VarBind, WalkMode, WalkSummary};
use serde::{Deserialize, Serialize};

use super::{count_in_range, exec_error, redact, refuse_unknown, Shared, Unknown, VarBindList};

pub const KIND: &str = "snmp.walk";

/// `snmpwalk`'s default root: mib-2.
const DEFAULT_ROOT: &str = ".1.3.6.1.2.1";
/// `snmpbulkwalk`'s default max-repetitions.
pub(super) const DEFAULT_REPETITIONS: u32 = 10;
/// Largest max-repetitions accepted; more only makes replies that get split on tooBig.
pub(super) const MAX_REPETITIONS: u32 = 1000;
/// Default cap on varbinds in one result: a full tree of a busy host is ~15k.
pub(super) const DEFAULT_MAX_VARBINDS: usize = 100_000;
/// The cap a job may ask for: a result is held in memory and stored whole.
pub(super) const MAX_MAX_VARBINDS: usize = 1_000_000;

pub struct SnmpWalk(pub Arc<Shared>);

#[derive(Deserialize)]
pub struct Params {
    /// Root of the subtree; numeric or a built-in name. Default mib-2, like `snmpwalk`.
    #[serde(default)]
    oid: Option<String>,
    /// GETBULK max-repetitions (`-Cr`); default 10.
    #[serde(default)]
    max_repetitions: Option<u32>,
    /// The walk fails with `too_many_varbinds` past this many; default 100,000.
    #[serde(default)]
    max_varbinds: Option<usize>,
    /// Target and credentials: `target`, `version`, `community`, `user`, ...
    #[serde(flatten)]
    target: TargetParams,
    /// Anything else, refused by `check`.
    #[serde(flatten)]
    unknown: Unknown,
}

#[derive(Serialize)]
pub struct Output {
    /// In walk order.
    varbinds: VarBindList,
    /// A v1 agent ended the walk with noSuchName (`snmpwalk` prints "End of MIB").
    end_of_mib: bool,
}

impl Executor for SnmpWalk {
    type Params = Params;
    type Output = Output;

    fn kind(&self) -> &'static str {
        KIND
    }

    fn check(&self, p: &Params) -> Result<(), ParamError> {
        refuse_unknown(&p.unknown)?;
        let root = self
            .0
            .parse_oid(p.oid.as_deref().unwrap_or(DEFAULT_ROOT), "oid")?;
        if let Some(r) = p.max_repetitions {
            count_in_range("max_repetitions", r as usize, MAX_REPETITIONS as usize, "")?;
        }
        if let Some(m) = p.max_varbinds {
            count_in_range("max_varbinds", m, MAX_MAX_VARBINDS, "")?;
        }
        // GETBULK's extra fields are counted at their largest, so this covers GETNEXT too.
        self.0
            .check_target(&p.target, PduType::GetBulk, &[VarBind::null(root)], "oid")
    }

    fn redact(&self, params: &serde_json::Value) -> serde_json::Value {
        redact(params)
    }

    async fn run(&self, p: Params, _cx: JobContext) -> Result<Output, ExecError> {
        let root = self
            .0
            .mib()
            .parse_oid(p.oid.as_deref().unwrap_or(DEFAULT_ROOT))
            .map_err(|e| ExecError::new("invalid_params", e.to_string()))?;
        let limit = p.max_varbinds.unwrap_or(DEFAULT_MAX_VARBINDS);
        let mode = WalkMode::Bulk(p.max_repetitions.unwrap_or(DEFAULT_REPETITIONS));
        let session = self.0.session(&p.target).await?;
        let mut varbinds = Vec::new();
        let summary = walk_into(&session, &root, mode, limit, &mut varbinds).await?;
        Ok(Output {
            varbinds: VarBindList::new(varbinds, &self.0),
            end_of_mib: summary.end_of_mib,
        })
    }
}

/// Walks `root` into `out`, failing with `too_many_varbinds` once `out` would pass `limit`
/// (which counts what `out` already holds, so several walks can share one cap). Past the
/// cap the walk is dropped mid-flight: no more requests go out.
pub(super) async fn walk_into(
    session: &Session,
    root: &Oid,
    mode: WalkMode,
    limit: usize,
    out: &mut Vec<VarBind>,
) -> Result<WalkSummary, ExecError> {
    let over = tokio::sync::Notify::new();
    let walk = session.walk_each(root, mode, |vb| {
        if out.len() < limit {
            out.push(vb);
        } else {
            over.notify_one();
        }
    });
    tokio::select! {
        r = walk => r.map_err(exec_error),
        () = over.notified() => Err(ExecError::new(
            "too_many_varbinds",
            format!("the walk passed max_varbinds ({limit})"),
        )),
    }
}
