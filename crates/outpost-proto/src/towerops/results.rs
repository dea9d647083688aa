//! Agent → server messages of the Towerops wire: results, errors, the application
//! heartbeat and traps. Maps are `BTreeMap`s so that an encoding is deterministic.

use std::collections::BTreeMap;

use super::jobs::{DiscoveryPhase, JobType};

/// The `heartbeat` event's payload.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AgentHeartbeat {
    #[prost(string, tag = "1")]
    pub version: String,
    #[prost(string, tag = "2")]
    pub hostname: String,
    #[prost(uint64, tag = "3")]
    pub uptime_seconds: u64,
    /// The local address of the WebSocket's TCP socket.
    #[prost(string, tag = "4")]
    pub ip_address: String,
    #[prost(string, tag = "5")]
    pub arch: String,
    /// In a container the server must not push a self-update.
    #[prost(bool, tag = "6")]
    pub container: bool,
    #[prost(string, repeated, tag = "7")]
    pub local_ips: Vec<String>,
    /// Masked networks as CIDR (`10.0.0.0/24`), deduplicated and sorted.
    #[prost(string, repeated, tag = "8")]
    pub interface_subnets: Vec<String>,
    /// The agent keeps recurring jobs and checks and schedules them itself.
    #[prost(bool, tag = "9")]
    pub schedules_jobs: bool,
}

/// The `error` event's payload.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AgentError {
    #[prost(string, tag = "1")]
    pub device_id: String,
    #[prost(string, tag = "2")]
    pub job_id: String,
    #[prost(string, tag = "3")]
    pub message: String,
    /// Unix seconds, as every `timestamp` of this wire.
    #[prost(int64, tag = "4")]
    pub timestamp: i64,
}

/// The `result` event's payload (DISCOVER, POLL), one or several frames per job.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SnmpResult {
    #[prost(string, tag = "1")]
    pub device_id: String,
    #[prost(enumeration = "JobType", tag = "2")]
    pub job_type: i32,
    /// OID (no leading dot) → value text.
    #[prost(btree_map = "string, string", tag = "3")]
    pub oid_values: BTreeMap<String, String>,
    #[prost(int64, tag = "4")]
    pub timestamp: i64,
    #[prost(string, tag = "5")]
    pub job_id: String,
    /// The job ended early: only `completed_roots` are complete.
    #[prost(bool, tag = "6")]
    pub partial: bool,
    #[prost(string, repeated, tag = "7")]
    pub completed_roots: Vec<String>,
    /// 1-based frame number of a split result; 0 for a single frame.
    #[prost(uint32, tag = "8")]
    pub sequence: u32,
    #[prost(bool, tag = "9")]
    pub r#final: bool,
    #[prost(string, repeated, tag = "10")]
    pub truncated_roots: Vec<String>,
    #[prost(enumeration = "DiscoveryPhase", tag = "11")]
    pub discovery_phase: i32,
}

/// The `monitoring_check` event's payload (PING).
#[derive(Clone, PartialEq, prost::Message)]
pub struct MonitoringCheck {
    #[prost(string, tag = "1")]
    pub device_id: String,
    /// `success` or `failure`.
    #[prost(string, tag = "2")]
    pub status: String,
    /// Set on success only.
    #[prost(double, tag = "3")]
    pub response_time_ms: f64,
    #[prost(int64, tag = "4")]
    pub timestamp: i64,
}

/// The `credential_test_result` event's payload (TEST_CREDENTIALS).
#[derive(Clone, PartialEq, prost::Message)]
pub struct CredentialTestResult {
    #[prost(string, tag = "1")]
    pub test_id: String,
    #[prost(bool, tag = "2")]
    pub success: bool,
    #[prost(string, tag = "3")]
    pub error_message: String,
    #[prost(string, tag = "4")]
    pub system_description: String,
    #[prost(int64, tag = "5")]
    pub timestamp: i64,
    #[prost(string, tag = "6")]
    pub sys_object_id: String,
    #[prost(string, tag = "7")]
    pub sys_name: String,
}

/// The `credential_probe_result` event's payload (CREDENTIAL_PROBE).
#[derive(Clone, PartialEq, prost::Message)]
pub struct CredentialProbeResult {
    #[prost(string, tag = "1")]
    pub probe_id: String,
    /// Index of the candidate that answered, -1 when none did.
    #[prost(int32, tag = "2")]
    pub matched_index: i32,
    #[prost(string, tag = "3")]
    pub sys_object_id: String,
    #[prost(string, tag = "4")]
    pub sys_descr: String,
    #[prost(string, tag = "5")]
    pub sys_name: String,
    #[prost(string, tag = "6")]
    pub error_message: String,
    #[prost(int64, tag = "7")]
    pub timestamp: i64,
    #[prost(uint32, tag = "8")]
    pub duration_ms: u32,
}

/// The `mikrotik_result` event's payload.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MikrotikResult {
    #[prost(string, tag = "1")]
    pub device_id: String,
    #[prost(string, tag = "2")]
    pub job_id: String,
    #[prost(message, repeated, tag = "3")]
    pub sentences: Vec<MikrotikSentence>,
    #[prost(string, tag = "4")]
    pub error: String,
    #[prost(int64, tag = "5")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MikrotikSentence {
    #[prost(btree_map = "string, string", tag = "1")]
    pub attributes: BTreeMap<String, String>,
}

/// The `lldp_topology_result` event's payload (older servers).
#[derive(Clone, PartialEq, prost::Message)]
pub struct LldpTopologyResult {
    #[prost(string, tag = "1")]
    pub device_id: String,
    #[prost(string, tag = "2")]
    pub job_id: String,
    #[prost(string, tag = "3")]
    pub local_system_name: String,
    #[prost(message, repeated, tag = "4")]
    pub neighbors: Vec<LldpNeighbor>,
    #[prost(int64, tag = "5")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LldpNeighbor {
    #[prost(string, tag = "1")]
    pub neighbor_name: String,
    #[prost(string, tag = "2")]
    pub local_port: String,
    #[prost(string, tag = "3")]
    pub remote_port: String,
    #[prost(string, tag = "4")]
    pub remote_port_id: String,
    #[prost(string, repeated, tag = "5")]
    pub management_addresses: Vec<String>,
    #[prost(string, tag = "6")]
    pub remote_chassis_id: String,
}

/// In the published schema, never sent upstream (NETWORK_SWEEP is unimplemented there).
#[derive(Clone, PartialEq, prost::Message)]
pub struct NetworkSweepResult {
    #[prost(string, tag = "1")]
    pub device_id: String,
    #[prost(string, tag = "2")]
    pub job_id: String,
    #[prost(message, repeated, tag = "3")]
    pub results: Vec<SweepResult>,
    #[prost(string, tag = "4")]
    pub error: String,
    #[prost(int64, tag = "5")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SweepResult {
    #[prost(string, tag = "1")]
    pub ip: String,
    #[prost(string, tag = "2")]
    pub mac: String,
    #[prost(string, tag = "3")]
    pub sys_name: String,
    #[prost(string, tag = "4")]
    pub sys_object_id: String,
    #[prost(string, tag = "5")]
    pub sys_descr: String,
    #[prost(bool, tag = "6")]
    pub responded_to: bool,
    #[prost(bool, tag = "7")]
    pub community_ok: bool,
}

/// The `trap` event's payload. No job id: the server finds the device by `source_ip`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SnmpTrap {
    #[prost(string, tag = "1")]
    pub source_ip: String,
    /// 1, 2 (v2c), and 3 from Outpost, which also receives v3 notifications.
    #[prost(uint32, tag = "2")]
    pub version: u32,
    /// snmpTrapOID.0; for v1 the RFC 3584 §3.1 mapping.
    #[prost(string, tag = "3")]
    pub trap_oid: String,
    #[prost(string, tag = "4")]
    pub enterprise: String,
    #[prost(uint32, tag = "5")]
    pub generic_trap: u32,
    #[prost(uint32, tag = "6")]
    pub specific_trap: u32,
    #[prost(uint64, tag = "7")]
    pub uptime_ticks: u64,
    #[prost(btree_map = "string, string", tag = "8")]
    pub varbinds: BTreeMap<String, String>,
    #[prost(int64, tag = "9")]
    pub timestamp: i64,
}
