//! Server → agent job messages of the Towerops wire (package `towerops.agent`): the job
//! lists of the `jobs`, `discovery_job` and `backup_job` events and what a job carries.
//! Field numbers follow the published schema; the structs are ours.

use std::fmt;

/// What a job asks for. Unknown numbers decode as the raw `i32` in [`AgentJob::job_type`];
/// [`AgentJob::job_type()`] then reads [`JobType::Discover`] (proto3's default), so
/// dispatch must check [`JobType::try_from`] on the raw value first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum JobType {
    Discover = 0,
    Poll = 1,
    Mikrotik = 2,
    TestCredentials = 3,
    Ping = 4,
    LldpTopology = 5,
    NetworkSweep = 6,
    CredentialProbe = 7,
    /// Provisional: not in the published schema (see `backup.rs`).
    ConfigBackup = 8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum QueryType {
    Get = 0,
    Walk = 1,
}

/// The round of a two-phase discovery; echoed back on [`crate::towerops::SnmpResult`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum DiscoveryPhase {
    Unspecified = 0,
    Identify = 1,
    Walk = 2,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AgentJobList {
    #[prost(message, repeated, tag = "1")]
    pub jobs: Vec<AgentJob>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AgentJob {
    #[prost(string, tag = "1")]
    pub job_id: String,
    #[prost(enumeration = "JobType", tag = "2")]
    pub job_type: i32,
    #[prost(string, tag = "3")]
    pub device_id: String,
    #[prost(message, optional, tag = "4")]
    pub snmp_device: Option<SnmpDevice>,
    #[prost(message, repeated, tag = "5")]
    pub queries: Vec<SnmpQuery>,
    #[prost(message, optional, tag = "6")]
    pub mikrotik_device: Option<MikrotikDevice>,
    #[prost(message, repeated, tag = "7")]
    pub mikrotik_commands: Vec<MikrotikCommand>,
    /// 0: a one-shot job; otherwise the job recurs, scheduled by the agent.
    #[prost(uint32, tag = "8")]
    pub interval_seconds: u32,
    /// 0 means the agent's default, as for the three after it.
    #[prost(uint32, tag = "9")]
    pub ping_timeout_ms: u32,
    #[prost(uint32, tag = "10")]
    pub snmp_timeout_ms: u32,
    #[prost(uint32, tag = "11")]
    pub snmp_retries: u32,
    #[prost(uint32, tag = "12")]
    pub deadline_ms: u32,
    /// Bound on one result frame's base64 payload; bigger results are split.
    #[prost(uint32, tag = "13")]
    pub max_result_bytes: u32,
    #[prost(enumeration = "DiscoveryPhase", tag = "14")]
    pub discovery_phase: i32,
    #[prost(message, optional, tag = "15")]
    pub credential_probe: Option<CredentialProbe>,
    /// CONFIG_BACKUP's device and settings. Provisional field number (see `backup.rs`).
    #[prost(message, optional, tag = "16")]
    pub config_backup: Option<super::backup::ConfigBackupJob>,
}

/// One SNMP target with its credentials. Debug leaves the secrets out: jobs get logged.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct SnmpDevice {
    #[prost(string, tag = "1")]
    pub ip: String,
    #[prost(string, tag = "2")]
    pub community: String,
    /// `1`/`v1`, `3`/`v3`, anything else v2c.
    #[prost(string, tag = "3")]
    pub version: String,
    #[prost(uint32, tag = "4")]
    pub port: u32,
    #[prost(string, tag = "5")]
    pub v3_security_level: String,
    #[prost(string, tag = "6")]
    pub v3_username: String,
    #[prost(string, tag = "7")]
    pub v3_auth_protocol: String,
    #[prost(string, tag = "8")]
    pub v3_auth_password: String,
    #[prost(string, tag = "9")]
    pub v3_priv_protocol: String,
    #[prost(string, tag = "10")]
    pub v3_priv_password: String,
    /// `udp` (the default) or `tcp`.
    #[prost(string, tag = "11")]
    pub transport: String,
}

impl fmt::Debug for SnmpDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnmpDevice")
            .field("ip", &self.ip)
            .field("version", &self.version)
            .field("port", &self.port)
            .field("v3_security_level", &self.v3_security_level)
            .field("v3_username", &self.v3_username)
            .field("v3_auth_protocol", &self.v3_auth_protocol)
            .field("v3_priv_protocol", &self.v3_priv_protocol)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SnmpQuery {
    #[prost(enumeration = "QueryType", tag = "1")]
    pub query_type: i32,
    #[prost(string, repeated, tag = "2")]
    pub oids: Vec<String>,
}

/// The candidates of a CREDENTIAL_PROBE job, tried in order against one target.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CredentialProbe {
    #[prost(message, repeated, tag = "1")]
    pub candidates: Vec<SnmpDevice>,
    #[prost(bool, tag = "2")]
    pub stop_on_first_success: bool,
    #[prost(uint32, tag = "3")]
    pub attempt_timeout_ms: u32,
    #[prost(uint32, tag = "4")]
    pub attempt_retries: u32,
    #[prost(uint32, tag = "5")]
    pub inter_attempt_delay_ms: u32,
}

/// A RouterOS API target. Debug leaves the password out.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct MikrotikDevice {
    #[prost(string, tag = "1")]
    pub ip: String,
    #[prost(uint32, tag = "2")]
    pub port: u32,
    #[prost(string, tag = "3")]
    pub username: String,
    #[prost(string, tag = "4")]
    pub password: String,
    #[prost(bool, tag = "5")]
    pub use_ssl: bool,
    #[prost(uint32, tag = "6")]
    pub ssh_port: u32,
}

impl fmt::Debug for MikrotikDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MikrotikDevice")
            .field("ip", &self.ip)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("use_ssl", &self.use_ssl)
            .field("ssh_port", &self.ssh_port)
            .finish_non_exhaustive()
    }
}

/// One RouterOS API command. `words` (ordered) wins over `args` (a map, unordered) when
/// both are present: senders fill both for older agents.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MikrotikCommand {
    #[prost(string, tag = "1")]
    pub command: String,
    // A BTreeMap: deterministic encoding, so the scheduler can compare a job's bytes.
    #[prost(btree_map = "string, string", tag = "2")]
    pub args: std::collections::BTreeMap<String, String>,
    #[prost(string, repeated, tag = "3")]
    pub words: Vec<String>,
}
