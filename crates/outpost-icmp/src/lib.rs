//! `outpost-icmp`: an ICMP echo engine for thousands of targets.
//!
//! Layers, bottom up: [`codec`] (echo request/reply, unreachable, time exceeded, the IPv4
//! checksum) → [`socket`] (raw if allowed, else the kernel's unprivileged ping socket, else
//! [`IcmpError::NotPermitted`] naming both fixes) → [`engine`] (one socket per family, one
//! receive task demultiplexing by identifier, source and sequence, payload check, the
//! packets-per-second cap, the drop counters).
//!
//! ```no_run
//! use outpost_icmp::{Engine, EngineConfig, PingSpec};
//! # async fn demo() -> Result<(), outpost_icmp::IcmpError> {
//! let engine = Engine::new(EngineConfig::default())?; // opens nothing yet
//! let mut spec = PingSpec::new("192.0.2.1".parse().unwrap());
//! spec.count = 3;
//! let result = engine.ping(&spec).await?;
//! println!("{}/{} {:?}", result.sent, result.received, result.rtt_avg_ms);
//! println!("{:?}", engine.counters()); // every dropped packet is counted
//! # Ok(()) }
//! ```

pub mod codec;
pub mod engine;
pub mod error;
pub mod payload;
mod rate;
pub mod result;
pub mod socket;

pub use codec::Family;
pub use engine::{Counters, Engine, EngineConfig};
pub use error::IcmpError;
pub use result::{Outcome, PingResult, PingSpec};
pub use socket::{Mode, ModePreference};
