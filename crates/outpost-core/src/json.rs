//! JSON kept as its text: serialized once where it is made, then shared and copied verbatim.
//!
//! A job's output is built by its executor and then read by the store (one column), the
//! outbox (one row), the API reply and every uplink. Held as a `serde_json::Value` tree it
//! was cloned and re-serialized at each of those steps, and a profile of polling through
//! the agent put most of its time there (issue 11). As text behind an `Arc`, a clone is a
//! reference count and writing it out is a copy.

use std::{fmt, sync::Arc};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A valid JSON value, as compact text. Cheap to clone; serializes verbatim.
///
/// `Arc<Box<..>>`, not `Arc<RawValue>`: moving a boxed text into an `Arc` of the unsized
/// value would copy it once more, and results are kilobytes.
#[derive(Clone)]
pub struct RawJson(Arc<Box<RawValue>>);

impl RawJson {
    /// Serializes `value` straight to text: no tree in between.
    pub fn to_raw<T: Serialize + ?Sized>(value: &T) -> Result<RawJson, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(|b| RawJson(Arc::new(b)))
    }

    /// From a tree. Total: a `Value`'s keys are strings, so it always serializes.
    pub fn from_value(value: &serde_json::Value) -> RawJson {
        Self::to_raw(value).unwrap_or_else(|_| RawJson::null())
    }

    /// Checks that `text` is JSON and keeps it as it is (whitespace included).
    pub fn from_text(text: String) -> Result<RawJson, serde_json::Error> {
        RawValue::from_string(text).map(|b| RawJson(Arc::new(b)))
    }

    pub fn null() -> RawJson {
        RawJson(Arc::new(RawValue::NULL.to_owned()))
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    pub fn is_null(&self) -> bool {
        self.get() == "null"
    }

    /// The value as a tree, for code that inspects it (tests, a field lookup).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(self.get()).unwrap_or(serde_json::Value::Null)
    }
}

impl PartialEq for RawJson {
    /// Same text. Two texts of one value that differ in spacing or key order compare
    /// unequal; everything here writes compact text, so equal values have equal texts.
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.get())
    }
}

impl fmt::Display for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.get())
    }
}

impl From<serde_json::Value> for RawJson {
    fn from(v: serde_json::Value) -> Self {
        RawJson::from_value(&v)
    }
}

impl Serialize for RawJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // serde_json writes a RawValue's text as it is; other formats see a string.
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(d).map(|b| RawJson(Arc::new(b)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn issue11_raw_json_is_written_verbatim_and_read_back_from_text_or_tree() {
        let raw = RawJson::to_raw(&serde_json::json!({"b": [1, "x\n"], "a": null})).unwrap();
        assert_eq!(raw.get(), r#"{"a":null,"b":[1,"x\n"]}"#);
        #[derive(Serialize, Deserialize)]
        struct Holder {
            out: RawJson,
        }
        let text = serde_json::to_string(&Holder { out: raw.clone() }).unwrap();
        assert_eq!(text, r#"{"out":{"a":null,"b":[1,"x\n"]}}"#);
        let back: Holder = serde_json::from_str(&text).unwrap();
        assert_eq!(back.out, raw);
        let via_tree: Holder =
            serde_json::from_value(serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(via_tree.out.to_value(), raw.to_value());
        assert!(RawJson::from_text("{not json".into()).is_err());
        assert!(RawJson::null().is_null());
    }
}
