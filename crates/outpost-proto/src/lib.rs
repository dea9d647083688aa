//! The uplink protocol's wire format (see `docs/protocol.md`): a versioned JSON envelope,
//! and the Phoenix Channels framing that carries it over WebSocket.
//!
//! Decoders take bytes from the network: they return errors, never panic, and each has a
//! fuzz target in `fuzz/`.
#![forbid(unsafe_code)]

pub mod delivered;
pub mod envelope;
pub mod peek;
pub mod phoenix;
pub mod routeros;

pub use delivered::Delivered;
pub use envelope::{bounded, DecodeError, Message, VERSION};
pub use peek::{peek_id, peek_phoenix_id};
pub mod towerops;
pub mod wamp;
