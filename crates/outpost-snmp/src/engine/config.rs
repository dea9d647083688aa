//! The engine's settings, engine-wide and per target, with their defaults in one place so
//! the CLI, the job executors and the benchmarks start from the same values (net-snmp's
//! where net-snmp has one).

use std::time::Duration;

use crate::security::Security;
use crate::size::DEFAULT_MSG_MAX_SIZE;
use crate::target::TargetAddr;

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// UDP sockets per address family; targets are spread over them.
    pub sockets_per_family: usize,
    /// Global cap on requests in flight across all targets.
    pub max_in_flight: usize,
    /// Optional global PDU rate limit (PDUs per second).
    pub global_rate: Option<f64>,
    /// msgMaxSize we advertise in v3 requests.
    pub max_message_size: i32,
    /// Largest TCP message we accept; bigger is dropped as hostile.
    pub max_tcp_message: usize,
    /// SO_RCVBUF for the shared UDP sockets: replies from many targets
    /// arrive in bursts, and a full kernel buffer drops them silently.
    /// The kernel caps it at net.core.rmem_max.
    pub recv_buffer_bytes: Option<usize>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            sockets_per_family: 2,
            max_in_flight: 4096,
            global_rate: None,
            max_message_size: DEFAULT_MSG_MAX_SIZE,
            max_tcp_message: 1 << 20,
            recv_buffer_bytes: Some(4 << 20),
        }
    }
}

/// Per-target settings. Defaults follow net-snmp's tools.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    /// Where the agent is.
    pub addr: TargetAddr,
    /// Version and credentials.
    pub security: Security,
    /// Wait per attempt (net-snmp `-t`, default 1 s).
    pub timeout: Duration,
    /// Retransmissions after the first attempt (net-snmp `-r`, default 5).
    pub retries: u32,
    /// Requests this target may have outstanding at once (fairness cap).
    pub max_in_flight: usize,
    /// Optional per-target PDU rate limit (PDUs per second).
    pub rate_limit: Option<f64>,
}

impl TargetConfig {
    pub fn new(addr: TargetAddr, security: Security) -> Self {
        TargetConfig {
            addr,
            security,
            timeout: Duration::from_secs(1),
            retries: 5,
            max_in_flight: 4,
            rate_limit: None,
        }
    }
}
