//! `outpost-snmp`: an SNMP v1/v2c/v3 codec, USM, and an async polling engine.
//!
//! Layers, bottom up: [`ber`] → [`value`]/[`pdu`] → [`message`] (one decoder
//! for every message, shared by the poller and the trap receiver) → [`usm`]
//! and [`security`] → [`engine`] (sockets, demux, retries, limits) → [`walk`]
//! → [`cli`] (net-snmp-style flags and `-On` output).
#![forbid(unsafe_code)]

pub mod ber;
pub mod cli;
pub mod engine;
pub mod error;
pub mod message;
pub mod mib;
pub mod oid;
pub mod pdu;
pub mod rate;
pub mod security;
pub mod stats;
pub mod target;
pub mod usm;
pub mod value;
pub mod walk;

pub use cli::{run_cli, CliError};
pub use engine::{Engine, EngineConfig, Session, TargetConfig};
pub use error::{DecodeError, SnmpError, UsmError};
pub use message::{
    CommunityMessage, Message, ScopedPdu, ScopedPduData, UsmParams, V3Message, Version,
};
pub use oid::Oid;
pub use pdu::{AnyPdu, ErrorStatus, Pdu, PduType, TrapV1Pdu};
pub use security::{Security, UsmUser};
pub use stats::StatsSnapshot;
pub use target::{TargetAddr, Transport};
pub use usm::{AuthProtocol, PrivProtocol};
pub use value::{Value, VarBind};
pub use walk::{WalkMode, WalkSummary};
