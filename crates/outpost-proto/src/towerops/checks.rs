//! Service checks of the Towerops wire: the `check_jobs` event's list and the
//! `check_result` event's payload.

use std::collections::BTreeMap;

#[derive(Clone, PartialEq, prost::Message)]
pub struct CheckList {
    #[prost(message, repeated, tag = "1")]
    pub checks: Vec<Check>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Check {
    #[prost(string, tag = "1")]
    pub id: String,
    /// `http`, `tcp`, `dns` or `ssl`.
    #[prost(string, tag = "2")]
    pub check_type: String,
    #[prost(uint32, tag = "3")]
    pub interval_seconds: u32,
    #[prost(uint32, tag = "4")]
    pub timeout_ms: u32,
    #[prost(oneof = "CheckConfig", tags = "5, 6, 7, 8")]
    pub config: Option<CheckConfig>,
}

/// The type-specific part of a [`Check`].
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum CheckConfig {
    #[prost(message, tag = "5")]
    Http(HttpCheckConfig),
    #[prost(message, tag = "6")]
    Tcp(TcpCheckConfig),
    #[prost(message, tag = "7")]
    Dns(DnsCheckConfig),
    #[prost(message, tag = "8")]
    Ssl(SslCheckConfig),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HttpCheckConfig {
    #[prost(string, tag = "1")]
    pub url: String,
    #[prost(string, tag = "2")]
    pub method: String,
    #[prost(uint32, tag = "3")]
    pub expected_status: u32,
    #[prost(bool, tag = "4")]
    pub verify_ssl: bool,
    #[prost(btree_map = "string, string", tag = "5")]
    pub headers: BTreeMap<String, String>,
    #[prost(string, tag = "6")]
    pub body: String,
    #[prost(string, tag = "7")]
    pub regex: String,
    #[prost(bool, tag = "8")]
    pub follow_redirects: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TcpCheckConfig {
    #[prost(string, tag = "1")]
    pub host: String,
    #[prost(uint32, tag = "2")]
    pub port: u32,
    #[prost(string, tag = "3")]
    pub send: String,
    #[prost(string, tag = "4")]
    pub expect: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DnsCheckConfig {
    #[prost(string, tag = "1")]
    pub hostname: String,
    /// `host` or `host:port`; empty: the system resolver.
    #[prost(string, tag = "2")]
    pub server: String,
    #[prost(string, tag = "3")]
    pub record_type: String,
    #[prost(string, tag = "4")]
    pub expected: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SslCheckConfig {
    #[prost(string, tag = "1")]
    pub host: String,
    #[prost(uint32, tag = "2")]
    pub port: u32,
    #[prost(uint32, tag = "3")]
    pub warning_days: u32,
}

/// Check status codes.
pub mod status {
    pub const OK: u32 = 0;
    pub const WARNING: u32 = 1;
    pub const CRITICAL: u32 = 2;
    pub const UNKNOWN: u32 = 3;
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CheckResult {
    #[prost(string, tag = "1")]
    pub check_id: String,
    /// One of [`status`].
    #[prost(uint32, tag = "2")]
    pub status: u32,
    #[prost(string, tag = "3")]
    pub output: String,
    #[prost(double, tag = "4")]
    pub response_time_ms: f64,
    #[prost(int64, tag = "5")]
    pub timestamp: i64,
}
