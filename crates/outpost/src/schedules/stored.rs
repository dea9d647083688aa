//! A schedule's row: `{"source": "api", "spec": {...}}`, where the job's secret params (the
//! leaves its executor's `redact` changes: SNMP communities, v3 pass phrases) are sealed
//! with the agent's key, the row's id as associated data, so the store file, its WAL and
//! any copy of them hold no credential.

use std::sync::Arc;

use outpost_core::ScheduleRow;
use outpost_secrets::Keyring;
use serde_json::Value;

use super::{ScheduleError, ScheduleSpec, ScheduleView};

/// Seals and opens a schedule's secret params.
#[derive(Clone)]
pub(crate) struct Sealer {
    /// `None`: params are kept as they are (a detached handle, which stores nothing).
    keyring: Option<Arc<Keyring>>,
}

impl Sealer {
    pub(crate) fn new(keyring: Arc<Keyring>) -> Self {
        Sealer {
            keyring: Some(keyring),
        }
    }

    pub(crate) fn plain() -> Self {
        Sealer { keyring: None }
    }
}

pub(crate) struct Stored;

impl Stored {
    /// The row's JSON text. The whole document is sealed to the row (so the pointers of its
    /// sealed leaves are the ones `outpost secrets rotate` walks, from the document's root);
    /// only the params' secret leaves differ from their redacted twin, so only they are
    /// sealed.
    pub(crate) fn encode(
        sealer: &Sealer,
        id: &str,
        spec: &ScheduleSpec,
        redacted: &Value,
        source: &str,
    ) -> Result<String, ScheduleError> {
        let doc = serde_json::json!({"source": source, "spec": spec.to_value()});
        let Some(keyring) = &sealer.keyring else {
            return Ok(doc.to_string());
        };
        let mut twin = doc.clone();
        if let Some(p) = twin.pointer_mut("/spec/job/params") {
            *p = redacted.clone();
        }
        let sealed =
            keyring
                .seal_json(id, &doc, &twin)
                .map_err(|e| ScheduleError::InvalidField {
                    field: "job.params".into(),
                    reason: e.to_string(),
                })?;
        Ok(sealed.to_string())
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
        if let Some(keyring) = &sealer.keyring {
            v = keyring
                .open_json(&row.id, &v)
                .map_err(|e| damaged(e.to_string()))?;
        }
        let source = v
            .get("source")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let spec = v.get_mut("spec").map(Value::take).unwrap_or_default();
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
        Value::Object(o) if o.len() == 1 && o.contains_key(outpost_secrets::SEALED_TAG) => {
            *v = Value::String("[sealed]".into())
        }
        Value::Object(o) => o.values_mut().for_each(hide_sealed),
        Value::Array(a) => a.iter_mut().for_each(hide_sealed),
        _ => {}
    }
}
