//! Sealing the secret fields of a JSON document (a job's params).
//!
//! Which fields are secret is not decided here: the caller passes the document and its
//! redacted form (the executor's own `redact`), and every leaf where the two differ is
//! sealed, in place, as `{"$sealed": "<sealed JSON text of the leaf>"}`, bound to the row
//! and the leaf's JSON pointer.

use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use crate::{
    key::Key,
    seal::{open_with, seal_with},
    Keyring, SecretError,
};

/// The one key of an object that stands for a sealed leaf.
pub const SEALED_TAG: &str = "$sealed";

fn pointer_push(base: &str, token: &str) -> String {
    format!("{base}/{}", token.replace('~', "~0").replace('/', "~1"))
}

fn is_sealed_leaf(m: &Map<String, Value>) -> Option<&str> {
    match (m.len(), m.get(SEALED_TAG)) {
        (1, Some(Value::String(s))) => Some(s),
        _ => None,
    }
}

fn reserved(row: &str, field: &str) -> SecretError {
    SecretError::Malformed {
        row: row.to_owned(),
        field: field.to_owned(),
        reason: "the key \"$sealed\" is reserved",
    }
}

pub(crate) fn seal_leaf(key: &Key, row: &str, at: &str, v: &Value) -> Result<Value, SecretError> {
    let text = zeroize::Zeroizing::new(v.to_string());
    let sealed = seal_with(key, row, at, &text)?;
    Ok(Value::Object(Map::from_iter([(
        SEALED_TAG.to_owned(),
        Value::String(sealed),
    )])))
}

fn seal_walk(
    key: &Key,
    row: &str,
    at: &str,
    v: &Value,
    redacted: Option<&Value>,
) -> Result<Value, SecretError> {
    match (v, redacted) {
        (Value::Object(m), Some(Value::Object(r))) => {
            if m.contains_key(SEALED_TAG) {
                return Err(reserved(row, at));
            }
            let mut out = Map::with_capacity(m.len());
            for (k, child) in m {
                let here = pointer_push(at, k);
                out.insert(k.clone(), seal_walk(key, row, &here, child, r.get(k))?);
            }
            Ok(Value::Object(out))
        }
        (Value::Array(a), Some(Value::Array(r))) if a.len() == r.len() => a
            .iter()
            .zip(r)
            .enumerate()
            .map(|(i, (c, rc))| seal_walk(key, row, &pointer_push(at, &i.to_string()), c, Some(rc)))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        (v, Some(r)) if v == r => {
            if contains_tag(v) {
                return Err(reserved(row, at));
            }
            Ok(v.clone())
        }
        // Differs from its redacted form, or the redaction dropped it: a secret.
        (v, _) => seal_leaf(key, row, at, v),
    }
}

fn contains_tag(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.contains_key(SEALED_TAG) || m.values().any(contains_tag),
        Value::Array(a) => a.iter().any(contains_tag),
        _ => false,
    }
}

impl Keyring {
    /// `params` with every leaf that differs from `redacted` sealed to (row, its pointer).
    /// A document that itself uses the reserved key `$sealed` is refused.
    pub fn seal_json(
        &self,
        row: &str,
        params: &Value,
        redacted: &Value,
    ) -> Result<Value, SecretError> {
        seal_walk(&self.current, row, "", params, Some(redacted))
    }

    /// The inverse of [`seal_json`](Self::seal_json): every sealed leaf opened. A wrong
    /// key, or a value moved from another row or position, is an error.
    pub fn open_json(&self, row: &str, sealed: &Value) -> Result<Value, SecretError> {
        map_sealed(
            &|id| self.by_id(id),
            &self.current.id,
            row,
            "",
            sealed,
            &mut |_, v| Ok(v),
        )
    }

    /// Whether `v` holds any sealed leaf.
    pub fn has_sealed(v: &Value) -> bool {
        contains_tag(v)
    }
}

/// Calls `f` on each sealed leaf's opened value and puts back what it returns (the rotation
/// re-seals this way). `f` gets the leaf's pointer.
pub(crate) fn map_sealed<'k>(
    keys: &dyn Fn(&str) -> Option<&'k Key>,
    have: &str,
    row: &str,
    at: &str,
    v: &Value,
    f: &mut dyn FnMut(&str, Value) -> Result<Value, SecretError>,
) -> Result<Value, SecretError> {
    match v {
        Value::Object(m) => {
            if let Some(sealed) = is_sealed_leaf(m) {
                let text = open_with(keys, have, row, at, sealed)?;
                let leaf: Value = serde_json::from_str(text.expose_secret()).map_err(|_| {
                    SecretError::Malformed {
                        row: row.to_owned(),
                        field: at.to_owned(),
                        reason: "the opened value is not JSON",
                    }
                })?;
                return f(at, leaf);
            }
            let mut out = Map::with_capacity(m.len());
            for (k, child) in m {
                let here = pointer_push(at, k);
                out.insert(k.clone(), map_sealed(keys, have, row, &here, child, f)?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, c)| map_sealed(keys, have, row, &pointer_push(at, &i.to_string()), c, f))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}
