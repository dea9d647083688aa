//! Config backups on the Towerops wire: the CONFIG_BACKUP job's settings and its
//! `config_backup_result`.
//!
//! # Provisional numbers
//! The published schema (proto/agent.proto) has no config-backup messages: the server's
//! own `priv/proto/agent.proto` is canonical and unpublished. Every number below is OURS,
//! chosen in this one place, and must be replaced when the server's schema is known:
//!
//! | what | number |
//! |---|---|
//! | `JobType::ConfigBackup` | 8 (the compat doc: "probably 8", the next free value) |
//! | `AgentJob.config_backup` | 16 (the next free field of AgentJob) |
//! | [`ConfigBackupJob`] fields | 1–10, in the order the compat doc lists them |
//! | [`ConfigBackupResult`] fields | 1–14, in the order the compat doc lists them |
//! | [`ConfigBackupErrorCode`] values | 0–13, in the order the compat doc lists them |
//!
//! The two numbers that live outside this file, because prost's attributes need them as
//! literals where the field is declared, are pinned to this table by
//! `issue17_config_backup_provisional_numbers_are_the_documented_ones` below.

use std::fmt;

/// `JobType` value of CONFIG_BACKUP (provisional, see the module docs).
pub const CONFIG_BACKUP_JOB_TYPE: i32 = 8;
/// Field number of `AgentJob.config_backup` (provisional, see the module docs).
pub const AGENT_JOB_CONFIG_BACKUP_FIELD: u32 = 16;

/// What a CONFIG_BACKUP job asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ConfigBackupMode {
    /// Read the configuration (`/export`).
    Backup = 0,
    /// Only read version, identity and the user's policies (a credentials check).
    Probe = 1,
}

/// Why a backup failed; `Ok` when it did not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ConfigBackupErrorCode {
    ConfigBackupOk = 0,
    HostKeyMismatch = 1,
    Unreachable = 2,
    Timeout = 3,
    AuthFailed = 4,
    ConnectionRefused = 5,
    UnsupportedVendor = 6,
    TooLarge = 7,
    ExportEmpty = 8,
    ExportIncomplete = 9,
    ExportFailed = 10,
    PermissionDenied = 11,
    AgentBusy = 12,
    Internal = 13,
}

impl ConfigBackupErrorCode {
    /// The name the compat doc and the server use (`HOST_KEY_MISMATCH`).
    pub fn name(self) -> &'static str {
        match self {
            Self::ConfigBackupOk => "CONFIG_BACKUP_OK",
            Self::HostKeyMismatch => "HOST_KEY_MISMATCH",
            Self::Unreachable => "UNREACHABLE",
            Self::Timeout => "TIMEOUT",
            Self::AuthFailed => "AUTH_FAILED",
            Self::ConnectionRefused => "CONNECTION_REFUSED",
            Self::UnsupportedVendor => "UNSUPPORTED_VENDOR",
            Self::TooLarge => "TOO_LARGE",
            Self::ExportEmpty => "EXPORT_EMPTY",
            Self::ExportIncomplete => "EXPORT_INCOMPLETE",
            Self::ExportFailed => "EXPORT_FAILED",
            Self::PermissionDenied => "PERMISSION_DENIED",
            Self::AgentBusy => "AGENT_BUSY",
            Self::Internal => "INTERNAL",
        }
    }
}

/// `AgentJob.config_backup`: one device to back up over SSH. Debug leaves the password
/// out: jobs get logged. Zero values mean the defaults (port 22, 16 MiB, 120 s).
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct ConfigBackupJob {
    /// Only `mikrotik` is supported.
    #[prost(string, tag = "1")]
    pub vendor: String,
    #[prost(enumeration = "ConfigBackupMode", tag = "2")]
    pub mode: i32,
    #[prost(string, tag = "3")]
    pub host: String,
    #[prost(uint32, tag = "4")]
    pub ssh_port: u32,
    #[prost(string, tag = "5")]
    pub username: String,
    #[prost(string, tag = "6")]
    pub password: String,
    /// Export passwords and keys too (`show-sensitive` on RouterOS 7).
    #[prost(bool, tag = "7")]
    pub include_secrets: bool,
    /// `SHA256:<base64>` or the lowercase hex SHA-256 of the host key; empty: the agent's
    /// host-keys file decides (trust on first use).
    #[prost(string, tag = "8")]
    pub expected_host_key_fingerprint: String,
    #[prost(uint64, tag = "9")]
    pub max_config_bytes: u64,
    #[prost(uint32, tag = "10")]
    pub timeout_ms: u32,
}

impl fmt::Debug for ConfigBackupJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigBackupJob")
            .field("vendor", &self.vendor)
            .field("mode", &self.mode)
            .field("host", &self.host)
            .field("ssh_port", &self.ssh_port)
            .field("username", &self.username)
            .field("include_secrets", &self.include_secrets)
            .field(
                "expected_host_key_fingerprint",
                &self.expected_host_key_fingerprint,
            )
            .field("max_config_bytes", &self.max_config_bytes)
            .field("timeout_ms", &self.timeout_ms)
            .finish_non_exhaustive()
    }
}

/// The `config_backup_result` event's payload.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConfigBackupResult {
    #[prost(string, tag = "1")]
    pub device_id: String,
    #[prost(string, tag = "2")]
    pub job_id: String,
    #[prost(enumeration = "ConfigBackupErrorCode", tag = "3")]
    pub error_code: i32,
    /// The first line of what went wrong, at most 300 bytes, the password scrubbed.
    #[prost(string, tag = "4")]
    pub error_detail: String,
    /// The key the device presented, `SHA256:<base64>` (OpenSSH's form), always set once
    /// the handshake got that far.
    #[prost(string, tag = "5")]
    pub host_key_fingerprint: String,
    #[prost(uint32, tag = "6")]
    pub duration_ms: u32,
    #[prost(int64, tag = "7")]
    pub timestamp: i64,
    /// The export, gzipped.
    #[prost(bytes = "vec", tag = "8")]
    pub config_gzip: Vec<u8>,
    /// The export's size before compression.
    #[prost(uint64, tag = "9")]
    pub config_bytes: u64,
    #[prost(string, tag = "10")]
    pub os_version: String,
    #[prost(string, tag = "11")]
    pub model: String,
    #[prost(string, tag = "12")]
    pub identity: String,
    #[prost(bool, tag = "13")]
    pub includes_secrets: bool,
    /// PROBE only: the policies of the user's group, `!`-denied ones left out.
    #[prost(string, repeated, tag = "14")]
    pub user_policies: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::towerops::{AgentJob, JobType, WireMessage};

    #[test]
    fn issue17_config_backup_provisional_numbers_are_the_documented_ones() {
        assert_eq!(JobType::ConfigBackup as i32, CONFIG_BACKUP_JOB_TYPE);
        let job = AgentJob {
            config_backup: Some(ConfigBackupJob {
                ssh_port: 22,
                ..Default::default()
            }),
            ..Default::default()
        };
        let bytes = job.encode_to_vec();
        // A length-delimited field: key = field << 3 | 2, as a varint (16 << 3 | 2 = 130).
        let key = (AGENT_JOB_CONFIG_BACKUP_FIELD << 3) | 2;
        assert_eq!(bytes[..2], [(key as u8 & 0x7f) | 0x80, (key >> 7) as u8]);
    }

    #[test]
    fn issue17_config_backup_job_debug_leaves_the_password_out() {
        let j = ConfigBackupJob {
            password: "hunter2-secret".into(),
            username: "admin".into(),
            ..Default::default()
        };
        let text = format!("{j:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("admin"), "{text}");
    }
}
