//! An event is something the agent noticed on its own: a trap, a threshold, a link change.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One noticed thing, stored in the outbox on the same durable path as job results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique id, so consumers that see a redelivery can drop the duplicate.
    pub id: Uuid,
    /// What kind of thing happened, e.g. `snmp.trap`.
    pub kind: String,
    /// Unix milliseconds when it was noticed.
    pub at: i64,
    /// The typed payload, as JSON; its shape is owned by whoever emits the kind.
    pub payload: serde_json::Value,
}

impl Event {
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        Event {
            id: Uuid::now_v7(),
            kind: kind.into(),
            at: crate::clock::now_ms(),
            payload,
        }
    }
}
