//! The Towerops agent wire (Phoenix Channels v1 JSON frames carrying protobuf messages of
//! package `towerops.agent` as base64): our own message definitions, with the field
//! numbers of the published schema, and the frame codec. Every Towerops wire shape lives
//! here; the agent's adapter (`outpost::adapters::towerops`) maps them onto Outpost.

/// The trait every message here implements, so users need no `prost` dependency of their own.
pub use prost::Message as WireMessage;

pub mod backup;
mod checks;
pub mod frame;
mod jobs;
mod results;

pub use backup::{ConfigBackupErrorCode, ConfigBackupJob, ConfigBackupMode, ConfigBackupResult};
pub use checks::{
    status as check_status, Check, CheckConfig, CheckList, CheckResult, DnsCheckConfig,
    HttpCheckConfig, SslCheckConfig, TcpCheckConfig,
};
pub use frame::{
    decode_binary, encode_binary, event, Frame, FrameError, PayloadError, Reply, UpdateRequest,
};
pub use jobs::{
    AgentJob, AgentJobList, CredentialProbe, DiscoveryPhase, JobType, MikrotikCommand,
    MikrotikDevice, QueryType, SnmpDevice, SnmpQuery,
};
pub use results::{
    AgentError, AgentHeartbeat, CredentialProbeResult, CredentialTestResult, LldpNeighbor,
    LldpTopologyResult, MikrotikResult, MikrotikSentence, MonitoringCheck, NetworkSweepResult,
    SnmpResult, SnmpTrap, SweepResult,
};
