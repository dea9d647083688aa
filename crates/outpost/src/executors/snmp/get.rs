//! `snmp.get`: GET of one or more OIDs from one target.

use std::sync::Arc;

use outpost_core::{executor::ParamError, ExecError, Executor, JobContext};
use outpost_snmp::{PduType, TargetParams, VarBind};
use serde::Deserialize;

use super::{
    count_in_range, exec_error, redact, refuse_unknown, Shared, Unknown, VarBindList, VarBindsOut,
};

pub const KIND: &str = "snmp.get";

/// Most OIDs in one GET; the engine splits on tooBig, this bounds the request itself.
pub(super) const MAX_OIDS: usize = 1024;

pub struct SnmpGet(pub Arc<Shared>);

#[derive(Deserialize)]
pub struct Params {
    /// Numeric (`.1.3.6.1.2.1.1.1.0`) or built-in names (`sysDescr.0`).
    oids: Vec<String>,
    /// Target and credentials: `target`, `version`, `community`, `user`, ...
    #[serde(flatten)]
    target: TargetParams,
    /// Anything else, refused by `check`.
    #[serde(flatten)]
    unknown: Unknown,
}

impl Executor for SnmpGet {
    type Params = Params;
    type Output = VarBindsOut;

    fn kind(&self) -> &'static str {
        KIND
    }

    fn check(&self, p: &Params) -> Result<(), ParamError> {
        refuse_unknown(&p.unknown)?;
        count_in_range("oids", p.oids.len(), MAX_OIDS, " OIDs")?;
        let mut vbs = Vec::with_capacity(p.oids.len());
        for (i, o) in p.oids.iter().enumerate() {
            vbs.push(VarBind::null(self.0.parse_oid(o, &format!("oids[{i}]"))?));
        }
        self.0.check_target(&p.target, PduType::Get, &vbs, "oids")
    }

    fn redact(&self, params: &serde_json::Value) -> serde_json::Value {
        redact(params)
    }

    async fn run(&self, p: Params, _cx: JobContext) -> Result<VarBindsOut, ExecError> {
        let oids = p
            .oids
            .iter()
            .map(|o| self.0.mib().parse_oid(o))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ExecError::new("invalid_params", e.to_string()))?;
        let session = self.0.session(&p.target).await?;
        let vbs = session.get(&oids).await.map_err(exec_error)?;
        Ok(VarBindsOut {
            varbinds: VarBindList::new(vbs, &self.0),
        })
    }
}
