//! `outpost-snmp`: an SNMP v1/v2c/v3 codec, USM, and an async polling engine.
//!
//! Layers, bottom up: [`ber`] → [`value`]/[`pdu`] → [`message`] (one decoder
//! for every message, shared by the poller and the trap receiver) → [`usm`]
//! and [`security`] → [`engine`] (sockets, demux, retries, limits) → [`walk`]
//! → [`cli`] (net-snmp-style flags and `-On` output). See DESIGN.md.
//!
//! # Polling
//!
//! ```no_run
//! use std::sync::Arc;
//! use outpost_snmp::{Engine, EngineConfig, Security, TargetConfig, UsmUser, WalkMode};
//! use outpost_snmp::{AuthProtocol, PrivProtocol};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // One engine per process: a few shared sockets for every target.
//! let engine = Engine::new(EngineConfig::default()).await?;
//!
//! // v2c GET.
//! let cfg = TargetConfig::new("udp6:[::1]:161".parse()?, Security::v2c("public"));
//! let router = engine.session(cfg).await?;
//! for vb in router.get(&[".1.3.6.1.2.1.1.5.0".parse()?]).await? {
//!     println!("{vb}"); // .1.3.6.1.2.1.1.5.0 = STRING: "core1"
//! }
//!
//! // v3 authPriv BULKWALK; share the Arc<UsmUser> across targets so the
//! // password-to-key hashing happens once.
//! let user = Arc::new(UsmUser::new(
//!     "probe",
//!     Some((AuthProtocol::Sha256, "authpass123".to_string().into())),
//!     Some((PrivProtocol::Aes256, "privpass123".to_string().into())),
//! )?);
//! let switch = engine.session(TargetConfig::new("tcp:10.0.0.2:161".parse()?, Security::Usm(user))).await?;
//! let table = switch.bulk_walk(&".1.3.6.1.2.1.2.2".parse()?, 10).await?;
//! // Or stream: switch.walk_each(&root, WalkMode::Bulk(10), |vb| ...).await?
//! # let _ = (table, WalkMode::GetNext);
//! println!("{:?}", engine.stats()); // every dropped reply is counted
//! # Ok(()) }
//! ```
//!
//! # The command runner (`outpost snmp ...`)
//!
//! ```no_run
//! # async fn demo() -> std::process::ExitCode {
//! use outpost_snmp::cli::{run_cli, CliError, USAGE};
//! let args: Vec<String> = ["bulkwalk", "-v2c", "-c", "public", "-Cr20", "127.0.0.1", ".1"]
//!     .iter().map(|s| s.to_string()).collect();
//! let mut out = std::io::stdout().lock();
//! match run_cli(&args, &mut out).await {
//!     Ok(()) => std::process::ExitCode::SUCCESS,
//!     Err(CliError::Usage(m)) => { eprintln!("{m}\n{USAGE}"); std::process::ExitCode::from(2) }
//!     Err(e) => { eprintln!("{e}"); std::process::ExitCode::from(1) }
//! }
//! # }
//! ```
//!
//! # Receiving notifications (for the trap receiver)
//!
//! ```no_run
//! use outpost_snmp::message::{Message, ScopedPdu};
//! use outpost_snmp::pdu::{AnyPdu, PduType};
//! use outpost_snmp::security::{self, EngineParams, SealParams, SecurityLevel, UsmUser};
//! use outpost_snmp::size::DEFAULT_MSG_MAX_SIZE;
//!
//! fn handle(datagram: &[u8], users: &[UsmUser], own: &EngineParams) -> Option<Vec<u8>> {
//!     match Message::decode(datagram).ok()? {
//!         Message::Community(m) => {
//!             match &m.pdu {
//!                 AnyPdu::TrapV1(t) => { let _v2_form = t.to_v2_varbinds(); }
//!                 AnyPdu::Pdu(p) if p.pdu_type == PduType::TrapV2 => {}
//!                 _ => {}
//!             }
//!             // Some(bytes) only for an InformRequest: send it back to the source.
//!             m.inform_response().map(|r| r.encode())
//!         }
//!         Message::V3(head) => {
//!             let user = users.iter().find(|u| u.name.as_bytes() == head.usm.user_name)?;
//!             // Traps: keys localized to the sender's engine ID; informs: to ours.
//!             let keys = user.localize(&head.usm.engine_id).ok()?;
//!             let (msg, scoped) = security::open(datagram, Some(&keys)).ok()?;
//!             let AnyPdu::Pdu(p) = &scoped.pdu else { return None };
//!             if p.pdu_type != PduType::Inform { return None; }
//!             let reply = ScopedPdu { pdu: AnyPdu::Pdu(p.inform_response()), ..scoped.clone() };
//!             security::seal(&SealParams {
//!                 msg_id: msg.msg_id,
//!                 max_size: DEFAULT_MSG_MAX_SIZE,
//!                 level: SecurityLevel::from_flags(msg.flags).ok()?, // the inform's own level
//!                 reportable: false,
//!                 engine: own,
//!                 user_name: &head.usm.user_name,
//!                 scoped: &reply,
//!                 keys: &keys,
//!                 salt: 1,
//!             }).ok()
//!         }
//!     }
//! }
//! ```
#![forbid(unsafe_code)]

pub mod ber;
pub mod cli;
pub mod engine;
pub mod error;
pub mod level;
pub mod message;
pub mod mib;
pub mod oid;
pub mod params;
pub mod pdu;
pub mod rate;
pub mod security;
pub mod size;
pub mod stats;
pub mod target;
pub mod usm;
pub mod value;
pub mod walk;

pub use cli::{run_cli, CliError};
pub use engine::{Engine, EngineConfig, Session, TargetConfig};
pub use error::{DecodeError, SnmpError, UsmError};
pub use level::SecurityLevel;
pub use message::{
    CommunityMessage, Message, ScopedPdu, ScopedPduData, UsmParams, V3Message, Version,
};
pub use oid::Oid;
pub use params::{TargetParams, UserCache};
pub use pdu::{AnyPdu, ErrorStatus, Pdu, PduType, TrapV1Pdu};
pub use security::{SealParams, Security, UsmUser};
pub use stats::StatsSnapshot;
pub use target::{TargetAddr, Transport};
pub use usm::{AuthProtocol, PrivProtocol};
pub use value::{Value, VarBind};
pub use walk::{WalkMode, WalkSummary};
