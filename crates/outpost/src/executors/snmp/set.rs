//! `snmp.set`: SET of one or more typed varbinds on one target.

use std::sync::Arc;

use outpost_core::{executor::ParamError, ExecError, Executor, JobContext};
use outpost_snmp::{cli::parse_set_value, PduType, TargetParams, VarBind};
use serde::Deserialize;

use super::{
    count_in_range, exec_error, redact, refuse_unknown, Shared, Unknown, VarBindList, VarBindsOut,
};

pub const KIND: &str = "snmp.set";

/// Most varbinds in one SET.
const MAX_VARBINDS: usize = 256;

pub struct SnmpSet(pub Arc<Shared>);

#[derive(Deserialize)]
pub struct Params {
    /// What to set, in order; one PDU, so the agent applies all or none.
    varbinds: Vec<SetVarBind>,
    /// Target and credentials: `target`, `version`, `community`, `user`, ...
    #[serde(flatten)]
    target: TargetParams,
    /// Anything else, refused by `check`.
    #[serde(flatten)]
    unknown: Unknown,
}

/// One `OID TYPE VALUE` triple, as `snmpset` takes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetVarBind {
    /// Numeric or a built-in name.
    oid: String,
    /// net-snmp's type letter: i u g c t a o s x d n U.
    #[serde(rename = "type")]
    ty: String,
    /// The value as `snmpset` would read it; numbers may be JSON numbers.
    value: SetValue,
}

/// A JSON string or number, read as `snmpset` reads its argument.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum SetValue {
    Text(String),
    Signed(i64),
    Unsigned(u64),
}

impl SetValue {
    fn text(&self) -> String {
        match self {
            SetValue::Text(s) => s.clone(),
            SetValue::Signed(n) => n.to_string(),
            SetValue::Unsigned(n) => n.to_string(),
        }
    }
}

impl SnmpSet {
    fn varbinds(&self, p: &Params) -> Result<Vec<VarBind>, ParamError> {
        p.varbinds
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let oid = self.0.parse_oid(&v.oid, &format!("varbinds[{i}].oid"))?;
                let value = parse_set_value(&v.ty, &v.value.text(), self.0.mib()).map_err(|e| {
                    ParamError {
                        field: format!("varbinds[{i}]"),
                        message: e.to_string(),
                    }
                })?;
                Ok(VarBind::new(oid, value))
            })
            .collect()
    }
}

impl Executor for SnmpSet {
    type Params = Params;
    type Output = VarBindsOut;

    fn kind(&self) -> &'static str {
        KIND
    }

    fn check(&self, p: &Params) -> Result<(), ParamError> {
        refuse_unknown(&p.unknown)?;
        count_in_range("varbinds", p.varbinds.len(), MAX_VARBINDS, " varbinds")?;
        let vbs = self.varbinds(p)?;
        self.0
            .check_target(&p.target, PduType::Set, &vbs, "varbinds")
    }

    fn redact(&self, params: &serde_json::Value) -> serde_json::Value {
        redact(params)
    }

    async fn run(&self, p: Params, _cx: JobContext) -> Result<VarBindsOut, ExecError> {
        let vbs = self
            .varbinds(&p)
            .map_err(|e| ExecError::new("invalid_params", e.to_string()))?;
        let session = self.0.session(&p.target).await?;
        let out = session.set(&vbs).await.map_err(exec_error)?;
        Ok(VarBindsOut {
            varbinds: VarBindList::new(out, &self.0),
        })
    }
}
