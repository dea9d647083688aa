//! An event is something the agent noticed on its own: a trap, a threshold, a link change.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

/// One noticed thing, stored in the outbox on the same durable path as job results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// Unique id, so consumers that see a redelivery can drop the duplicate.
    pub id: Uuid,
    /// What kind of thing happened, e.g. `snmp.trap`.
    pub kind: String,
    /// Unix milliseconds when it was noticed.
    pub at: i64,
    /// The typed payload as compact JSON text; its shape is owned by whoever emits the kind.
    /// Kept as text, not as a tree, so an emitter under load serializes it once and the
    /// store and every consumer copy it instead of rebuilding it.
    pub payload: Box<RawValue>,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.kind == other.kind
            && self.at == other.at
            && self.payload.get() == other.payload.get()
    }
}

impl Event {
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        // Serializing a Value cannot fail (its keys are strings); null keeps this total.
        let payload =
            serde_json::value::to_raw_value(&payload).unwrap_or_else(|_| RawValue::NULL.to_owned());
        Event {
            id: Uuid::now_v7(),
            kind: kind.into(),
            at: crate::clock::now_ms(),
            payload,
        }
    }

    /// An event whose payload the emitter already serialized, with an id from `ids`.
    pub fn encoded(ids: &mut EventIds, kind: impl Into<String>, payload: Box<RawValue>) -> Self {
        Event {
            id: ids.next_id(),
            kind: kind.into(),
            at: ids.at(),
            payload,
        }
    }

    /// The payload as a JSON tree, for code that inspects it.
    pub fn payload_value(&self) -> serde_json::Value {
        serde_json::from_str(self.payload.get()).unwrap_or(serde_json::Value::Null)
    }
}

/// Ids and timestamps for events that an emitter notices in batches. UUIDv7s from one
/// draw of randomness at creation, counted up from it: `Uuid::now_v7` asks the kernel for
/// random bytes per id, a syscall per event that a trap flood cannot afford. The owner
/// reads the clock once per batch with [`EventIds::stamp`]. Ids from one generator are
/// strictly increasing and never repeat; ids from two generators do not collide unless
/// two 72-bit random draws land within a few billion of each other.
#[derive(Debug)]
pub struct EventIds {
    /// Unix milliseconds of the current batch: the ids' timestamp and the events' `at`.
    at: i64,
    /// The 74 bits after the version nibble (rand_a and rand_b without the variant), for
    /// the next id. Starts with its top two bits clear, so counting cannot overflow it
    /// before 2^72 ids.
    next: u128,
}

impl EventIds {
    const FIELD: u128 = (1 << 74) - 1;

    pub fn new() -> Self {
        // One v7 id's random bits: the only draw of randomness this generator makes.
        let seed = Uuid::now_v7().as_u128();
        let rand_a = (seed >> 64) & 0xfff;
        let rand_b = seed & ((1 << 62) - 1);
        EventIds {
            at: crate::clock::now_ms(),
            next: ((rand_a << 62) | rand_b) & (Self::FIELD >> 2),
        }
    }

    /// Reads the clock for a new batch (never going back) and returns it.
    pub fn stamp(&mut self) -> i64 {
        self.at = crate::clock::now_ms().max(self.at);
        self.at
    }

    /// Unix milliseconds of the current batch.
    pub fn at(&self) -> i64 {
        self.at
    }

    pub fn next_id(&mut self) -> Uuid {
        let field = self.next & Self::FIELD;
        self.next = self.next.wrapping_add(1);
        let ms = (self.at.max(0) as u128) & ((1 << 48) - 1);
        let rand_a = field >> 62;
        let rand_b = field & ((1 << 62) - 1);
        Uuid::from_u128((ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b)
    }
}

impl Default for EventIds {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn issue4_batch_ids_are_v7_increasing_and_unique() {
        let mut ids = EventIds::new();
        let mut a: Vec<Uuid> = (0..500).map(|_| ids.next_id()).collect();
        let before = ids.at();
        assert!(ids.stamp() >= before);
        a.extend((0..500).map(|_| ids.next_id()));
        let mut other = EventIds::new();
        let b: Vec<Uuid> = (0..1000).map(|_| other.next_id()).collect();
        for w in a.windows(2) {
            assert!(w[0] < w[1]);
        }
        let all: std::collections::HashSet<Uuid> = a.iter().chain(&b).copied().collect();
        assert_eq!(all.len(), 2000);
        for id in &a {
            assert_eq!(id.get_version_num(), 7);
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
            let (secs, nanos) = id.get_timestamp().unwrap().to_unix();
            let ms = secs as i64 * 1000 + nanos as i64 / 1_000_000;
            assert!(ms >= before && ms <= ids.at());
        }
    }

    #[test]
    fn issue4_encoded_payload_round_trips_verbatim() {
        let raw = serde_json::value::to_raw_value(&serde_json::json!({"a": [1, "x"]})).unwrap();
        let e = Event::encoded(&mut EventIds::new(), "snmp.trap", raw);
        let text = serde_json::to_string(&e).unwrap();
        assert!(text.contains(r#""payload":{"a":[1,"x"]}"#), "{text}");
        let back: Event = serde_json::from_str(&text).unwrap();
        assert_eq!(back, e);
        let via_tree: Event = serde_json::from_value(serde_json::to_value(&e).unwrap()).unwrap();
        assert_eq!(via_tree.payload_value(), e.payload_value());
    }
}
