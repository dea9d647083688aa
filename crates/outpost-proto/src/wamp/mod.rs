//! WAMP v2 (basic profile, `wamp.2.json` serializer): our own message types and codec for
//! the Reagent adapter (`outpost::adapters::reagent`), and the WAMP-CRA signature.
//!
//! Each WebSocket text frame is one JSON array `[type, ...]`. Decoding takes bytes from
//! the router: it returns a typed [`WampError`], never panics, and has a fuzz target
//! (`fuzz/fuzz_targets/wamp_message.rs`).

mod cra;
mod error;
mod message;

pub use cra::{derive_key, sign_challenge, CraChallenge, CraError, MAX_ITERATIONS, MAX_KEYLEN};
pub use error::WampError;
pub use message::{hello_details, kind, Dict, Message, Payload};

/// The WebSocket subprotocol a client offers for this codec.
pub const SUBPROTOCOL: &str = "wamp.2.json";

/// The largest frame we decode: the same 1 MiB bound as every uplink frame.
pub const MAX_FRAME_BYTES: usize = crate::envelope::MAX_MESSAGE_BYTES;

/// IDs are integers in `[0, 2^53]` (the spec's range, so JavaScript peers read them exactly;
/// 0 appears only where the spec allows it, e.g. a router-initiated UNREGISTERED).
pub const MAX_ID: u64 = 1 << 53;

/// The error URI Reagent answers every failed invocation with, args `[{"error": msg}]`.
pub const ERROR_CANCELED: &str = "wamp.error.canceled";
