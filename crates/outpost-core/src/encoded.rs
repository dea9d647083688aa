//! Events an emitter under load writes straight into their outbox text (issue 11): the
//! trap receiver at tens of thousands a second. The bodies go back to back into one
//! buffer, so a batch is two allocations, not several per event, and the store inserts
//! them as written ([`crate::Store::append_encoded`]): no `Event` is built, no payload is
//! re-validated, nothing is serialized a second time.
//!
//! A body is exactly what `serde_json::to_string(&OutboxItem::Event(event))` produces for
//! the same event (tested below), so readers cannot tell the two paths apart.

use std::fmt::Write as _;

use crate::event::{Event, EventIds};

/// A batch of events, each already its outbox body.
#[derive(Debug, Default)]
pub struct EncodedEvents {
    /// The bodies, back to back.
    text: String,
    /// Where each body ends in `text`.
    ends: Vec<usize>,
}

impl EncodedEvents {
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for `events` events of about `bytes_each` bytes.
    pub fn with_capacity(events: usize, bytes_each: usize) -> Self {
        EncodedEvents {
            text: String::with_capacity(events.saturating_mul(bytes_each)),
            ends: Vec::with_capacity(events),
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes of text held.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// Appends one event of `kind`, its id and time from `ids` (stamp it per batch).
    /// `payload` appends the payload's JSON text to the buffer it is given: exactly one
    /// JSON value. The store keeps that text as written, so its author guarantees it.
    pub fn push(&mut self, ids: &mut EventIds, kind: &str, payload: impl FnOnce(&mut String)) {
        let id = ids.next_id();
        let mut uuid = [0u8; uuid::fmt::Hyphenated::LENGTH];
        self.text.push_str("{\"type\":\"event\",\"id\":\"");
        self.text.push_str(id.hyphenated().encode_lower(&mut uuid));
        self.text.push_str("\",\"kind\":");
        if kind.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            self.text.push('"');
            self.text.push_str(kind);
            self.text.push('"');
        } else {
            // Kinds are plain names; anything else still comes out as valid JSON.
            self.text
                .push_str(&serde_json::to_string(kind).unwrap_or_else(|_| "\"\"".into()));
        }
        let _ = write!(self.text, ",\"at\":{},\"payload\":", ids.at());
        payload(&mut self.text);
        self.text.push('}');
        self.ends.push(self.text.len());
    }

    /// Moves `other`'s events to the end of this batch.
    pub fn append(&mut self, other: EncodedEvents) {
        if self.is_empty() {
            *self = other;
            return;
        }
        let base = self.text.len();
        self.text.push_str(&other.text);
        self.ends.extend(other.ends.iter().map(|e| e + base));
    }

    /// Each event's outbox body, in order.
    pub fn bodies(&self) -> impl Iterator<Item = &str> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(s, e)| self.text.get(s..e).unwrap_or_default())
    }

    /// One body read back as the event it holds (for publishing to live readers).
    pub fn event(body: &str) -> Result<Event, serde_json::Error> {
        serde_json::from_str(body)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::store::OutboxItem;

    #[test]
    fn issue11_encoded_bodies_equal_the_serialized_outbox_item() {
        let mut ids = EventIds::new();
        ids.stamp();
        let mut batch = EncodedEvents::new();
        let payloads = [r#"{"a":[1,"x\"y"],"b":null}"#, "3", r#""é\n""#];
        let kinds = ["snmp.trap", "snmp.inform", "odd \"kind\"\n"];
        for (p, k) in payloads.iter().zip(kinds) {
            batch.push(&mut ids, k, |out| out.push_str(p));
        }
        let mut more = EncodedEvents::with_capacity(1, 64);
        more.push(&mut ids, "snmp.trap", |out| out.push_str("{}"));
        batch.append(more);
        assert_eq!(batch.len(), 4);
        let bodies: Vec<&str> = batch.bodies().collect();
        for (i, body) in bodies.iter().enumerate() {
            let event = EncodedEvents::event(body).unwrap();
            let (k, p) = match i {
                3 => ("snmp.trap", "{}"),
                _ => (kinds[i], payloads[i]),
            };
            assert_eq!(event.kind, k);
            assert_eq!(event.payload.get(), p);
            assert_eq!(event.at, ids.at());
            let serialized = serde_json::to_string(&OutboxItem::Event(event.clone())).unwrap();
            assert_eq!(*body, serialized, "body {i}");
            let back: OutboxItem = serde_json::from_str(body).unwrap();
            assert_eq!(back, OutboxItem::Event(event));
        }
        let ids: std::collections::HashSet<_> = bodies
            .iter()
            .map(|b| EncodedEvents::event(b).unwrap().id)
            .collect();
        assert_eq!(ids.len(), 4);
    }
}
