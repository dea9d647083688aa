//! `snmp.poll`: one device's poll as one job: a GET of some OIDs and walks of some
//! subtrees, over one session.
//!
//! This is the unit a poller works in: prometheus-snmp-exporter's module (its `get` and
//! `walk` lists) per scrape, and a Towerops POLL job (GETs plus walk roots per device). As
//! one job it costs one request, one stored result and one delivery instead of one per
//! operation, which is most of what polling through the agent costs beyond SNMP itself
//! (issue 11, bench/RESULTS.md).
//!
//! Its varbinds carry the OID and the typed value (`type`, `value`, `hex`); the MIB name and
//! net-snmp's line, which repeat them for people at about half of a result's bytes, only
//! when asked (`names`, `text`): a poll's output is for machines, and every byte of it is
//! stored, written to the WAL and sent.
//!
//! Operations run in order (the GET, then each walk) on the device's session: a device is
//! polled gently, one request in flight, as `snmpget` followed by `snmpbulkwalk`s would.
//! The first failing operation fails the job, naming it; a subtree the device does not have
//! is not a failure (its walk is empty).

use std::sync::Arc;

use outpost_core::{executor::ParamError, ExecError, Executor, JobContext};
use outpost_snmp::{PduType, TargetParams, VarBind, WalkMode};
use serde::{Deserialize, Serialize};

use super::{
    count_in_range, exec_error, get::MAX_OIDS, redact, refuse_unknown, walk, Shared, Shown,
    Unknown, VarBindList,
};

pub const KIND: &str = "snmp.poll";

/// Most subtrees one poll walks.
const MAX_WALKS: usize = 64;

pub struct SnmpPoll(pub Arc<Shared>);

#[derive(Deserialize)]
pub struct Params {
    /// OIDs to GET in one request (split by the engine on tooBig); numeric or built-in names.
    #[serde(default)]
    get: Vec<String>,
    /// Subtrees to walk, in order.
    #[serde(default)]
    walk: Vec<String>,
    /// GETBULK max-repetitions for the walks; default 10.
    #[serde(default)]
    max_repetitions: Option<u32>,
    /// The poll fails with `too_many_varbinds` once its walks pass this many varbinds in
    /// all; default 100,000.
    #[serde(default)]
    max_varbinds: Option<usize>,
    /// Add each varbind's MIB name (`IF-MIB::ifDescr.1`) when the built-in MIBs know it.
    #[serde(default)]
    names: bool,
    /// Add each varbind's `snmpget -On` line (`text`), as `snmp.get` and `snmp.walk` do.
    #[serde(default)]
    text: bool,
    /// Target and credentials: `target`, `version`, `community`, `user`, ...
    #[serde(flatten)]
    target: TargetParams,
    /// Anything else, refused by `check`.
    #[serde(flatten)]
    unknown: Unknown,
}

#[derive(Serialize)]
pub struct Output {
    /// The GET's varbinds, in request order (empty when the poll asked for none).
    get: VarBindList,
    /// One entry per walk, in request order.
    walks: Vec<WalkOut>,
}

#[derive(Serialize)]
struct WalkOut {
    /// The subtree as asked for.
    root: String,
    /// In walk order.
    varbinds: VarBindList,
    /// A v1 agent ended the walk with noSuchName (`snmpwalk` prints "End of MIB").
    end_of_mib: bool,
}

impl Executor for SnmpPoll {
    type Params = Params;
    type Output = Output;

    fn kind(&self) -> &'static str {
        KIND
    }

    fn check(&self, p: &Params) -> Result<(), ParamError> {
        refuse_unknown(&p.unknown)?;
        if p.get.is_empty() && p.walk.is_empty() {
            return Err(ParamError {
                field: "get".into(),
                message: "a poll needs at least one OID in `get` or one subtree in `walk`".into(),
            });
        }
        // Either list may be empty (not both, above), so only the upper bound applies.
        count_in_range("get", p.get.len().max(1), MAX_OIDS, " OIDs")?;
        count_in_range("walk", p.walk.len().max(1), MAX_WALKS, " subtrees")?;
        if let Some(r) = p.max_repetitions {
            count_in_range(
                "max_repetitions",
                r as usize,
                walk::MAX_REPETITIONS as usize,
                "",
            )?;
        }
        if let Some(m) = p.max_varbinds {
            count_in_range("max_varbinds", m, walk::MAX_MAX_VARBINDS, "")?;
        }
        let mut gets = Vec::with_capacity(p.get.len());
        for (i, o) in p.get.iter().enumerate() {
            gets.push(VarBind::null(self.0.parse_oid(o, &format!("get[{i}]"))?));
        }
        let mut roots = Vec::with_capacity(p.walk.len());
        for (i, o) in p.walk.iter().enumerate() {
            roots.push(VarBind::null(self.0.parse_oid(o, &format!("walk[{i}]"))?));
        }
        if !gets.is_empty() {
            self.0.check_target(&p.target, PduType::Get, &gets, "get")?;
        }
        // GETBULK's extra fields are counted at their largest, so this covers GETNEXT too.
        for root in roots {
            self.0
                .check_target(&p.target, PduType::GetBulk, &[root], "walk")?;
        }
        Ok(())
    }

    fn redact(&self, params: &serde_json::Value) -> serde_json::Value {
        redact(params)
    }

    async fn run(&self, p: Params, _cx: JobContext) -> Result<Output, ExecError> {
        let mib = self.0.mib();
        let parse = |o: &String| {
            mib.parse_oid(o)
                .map_err(|e| ExecError::new("invalid_params", e.to_string()))
        };
        let oids = p.get.iter().map(parse).collect::<Result<Vec<_>, _>>()?;
        let roots = p.walk.iter().map(parse).collect::<Result<Vec<_>, _>>()?;
        let session = self.0.session(&p.target).await?;
        let got = if oids.is_empty() {
            Vec::new()
        } else {
            session.get(&oids).await.map_err(|e| {
                let e = exec_error(e);
                ExecError::new(e.code, format!("get: {}", e.message))
            })?
        };
        let limit = p.max_varbinds.unwrap_or(walk::DEFAULT_MAX_VARBINDS);
        let mode = WalkMode::Bulk(p.max_repetitions.unwrap_or(walk::DEFAULT_REPETITIONS));
        let shown = Shown {
            names: p.names,
            text: p.text,
        };
        let mut walks = Vec::with_capacity(roots.len());
        let mut walked = 0;
        for (root, asked) in roots.iter().zip(p.walk) {
            let mut varbinds = Vec::new();
            let summary = walk::walk_into(
                &session,
                root,
                mode,
                limit.saturating_sub(walked),
                &mut varbinds,
            )
            .await
            .map_err(|e| ExecError::new(e.code, format!("walk {asked}: {}", e.message)))?;
            walked += varbinds.len();
            walks.push(WalkOut {
                root: asked,
                varbinds: VarBindList::showing(varbinds, &self.0, shown),
                end_of_mib: summary.end_of_mib,
            });
        }
        Ok(Output {
            get: VarBindList::showing(got, &self.0, shown),
            walks,
        })
    }
}
