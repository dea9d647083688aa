//! Typed errors. None of them ever carries a secret: communities, passwords
//! and keys are redacted by their types and never formatted here.

use std::net::SocketAddr;

use crate::oid::Oid;

/// Why bytes from the network could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("message truncated")]
    Truncated,
    #[error("indefinite length is not allowed in SNMP")]
    IndefiniteLength,
    #[error("length field too large")]
    LengthTooLarge,
    #[error("unexpected tag 0x{found:02x} (expected 0x{expected:02x})")]
    UnexpectedTag {
        /// The tag the grammar requires here (0 when none fits).
        expected: u8,
        /// The tag on the wire.
        found: u8,
    },
    #[error("malformed integer")]
    BadInteger,
    #[error("malformed object identifier")]
    BadOid,
    #[error("malformed IpAddress (length {0})")]
    BadIpAddress(usize),
    #[error("unknown value type 0x{0:02x}")]
    UnknownValueType(u8),
    #[error("unknown PDU type 0x{0:02x}")]
    UnknownPduType(u8),
    #[error("unsupported SNMP version {0}")]
    UnsupportedVersion(i64),
    #[error("unsupported security model {0}")]
    UnsupportedSecurityModel(i32),
    #[error("trailing bytes after message")]
    TrailingBytes,
    #[error("PDU type not allowed in this version")]
    PduNotAllowed,
}

/// Failures of the user-based security model (RFC 3414).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsmError {
    #[error("message authentication failed (HMAC mismatch)")]
    AuthenticationFailed,
    #[error("authenticated message has wrong-size authentication parameters")]
    BadAuthParams,
    #[error("decryption failed")]
    DecryptionFailed,
    #[error("bad privacy parameters (salt must be 8 octets)")]
    BadPrivParams,
    #[error("encrypted PDU but no privacy key")]
    NoPrivKey,
    #[error("a security level with privacy needs authentication")]
    PrivWithoutAuth,
    #[error("password too short (net-snmp requires at least 8 characters)")]
    PasswordTooShort,
    #[error("message flags ask for a security level we did not configure")]
    UnexpectedSecurityLevel,
}

/// The outcome of an SNMP operation that failed. Each failure an operator
/// can act on has its own variant so the CLI and job results can say what to fix.
#[derive(Debug, thiserror::Error)]
pub enum SnmpError {
    #[error("timeout: no response from {target} after {attempts} attempt(s){hint}")]
    Timeout {
        /// Which target stayed silent.
        target: String,
        /// Sends made, so the operator sees retries were tried.
        attempts: u32,
        /// For v1/v2c an agent silently drops a wrong community, so say so.
        hint: &'static str,
    },
    /// Nothing listens on the target's TCP port. net-snmp fails at once too ("Unknown
    /// host (tcp:...) (Connection refused)"): no retry, no timeout waited.
    #[error("cannot connect to {target} (Connection refused)")]
    ConnectionRefused {
        /// The target as the operator wrote it.
        target: String,
    },
    /// The agent reset the TCP connection before it replied.
    #[error(
        "connection to {target} reset by the agent before it replied (Connection reset by peer)"
    )]
    ConnectionReset {
        /// The target as the operator wrote it.
        target: String,
    },
    /// The agent closed the TCP connection before it replied (net-snmp says "Session
    /// abort failure").
    #[error("connection to {target} closed by the agent before it replied")]
    ConnectionClosed {
        /// The target as the operator wrote it.
        target: String,
    },
    /// No route to the target: the OS refused to send (net-snmp prints the same reason).
    #[error("cannot reach {target} ({reason})")]
    Unreachable {
        /// The target as the operator wrote it.
        target: String,
        /// The OS's words: "Network is unreachable" or "No route to host".
        reason: &'static str,
    },
    /// The encoded request does not fit in one UDP datagram, so no agent could get it.
    #[error("request exceeds the UDP datagram limit: {size} bytes encoded, at most {limit} fit in one datagram to {target} (send fewer or shorter OIDs, shorter credentials, or use a tcp: target)")]
    RequestTooLarge {
        /// The target as the operator wrote it.
        target: String,
        /// The encoded request, in bytes.
        size: usize,
        /// The largest UDP payload for the target's address family.
        limit: usize,
    },
    #[error("unknown user name (agent reported usmStatsUnknownUserNames)")]
    UnknownUser,
    #[error("authentication failure: wrong auth password or protocol (agent reported usmStatsWrongDigests)")]
    WrongDigest,
    #[error("decryption error: wrong privacy password or protocol (agent reported usmStatsDecryptionErrors)")]
    DecryptionError,
    #[error(
        "unsupported security level for this user (agent reported usmStatsUnsupportedSecLevels)"
    )]
    UnsupportedSecLevel,
    #[error(
        "not in time window (agent reported usmStatsNotInTimeWindows) even after resynchronising"
    )]
    NotInTimeWindow,
    #[error("unknown engine ID (agent reported usmStatsUnknownEngineIDs)")]
    UnknownEngineId,
    #[error("agent sent a report: {oid}")]
    Report {
        /// The counter OID in the report, for reports we do not name.
        oid: Oid,
    },
    #[error("agent error: {status}{}", failed.as_ref().map(|o| format!(" (failed object: {o})")).unwrap_or_default())]
    Agent {
        /// The error-status the agent returned.
        status: crate::pdu::ErrorStatus,
        /// 1-based index of the varbind at fault, 0 when none.
        index: u32,
        /// The OID at `index` in our request, when the index is valid.
        failed: Option<Oid>,
    },
    #[error("OID not increasing: {previous} >= {received}")]
    OidNotIncreasing {
        /// Last OID accepted by the walk.
        previous: Oid,
        /// The OID the agent returned, which does not sort after it.
        received: Oid,
    },
    #[error("response could not be decoded: {0}")]
    Decode(#[from] DecodeError),
    #[error("security: {0}")]
    Usm(#[from] UsmError),
    #[error("I/O error talking to {target}: {source}")]
    Io {
        /// Which target the socket operation was for.
        target: String,
        /// The underlying OS error.
        source: std::io::Error,
    },
    #[error("cannot resolve target {0}")]
    Resolve(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("engine is shut down")]
    Closed,
}

impl SnmpError {
    /// An OS error on the way to `target` (its label), typed when the operator can act
    /// on it: refused, reset, closed, unreachable.
    pub(crate) fn from_io(target: &str, source: std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let target = target.to_string();
        match source.kind() {
            K::ConnectionRefused => SnmpError::ConnectionRefused { target },
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => {
                SnmpError::ConnectionReset { target }
            }
            K::UnexpectedEof => SnmpError::ConnectionClosed { target },
            K::NetworkUnreachable => SnmpError::Unreachable {
                target,
                reason: "Network is unreachable",
            },
            K::HostUnreachable => SnmpError::Unreachable {
                target,
                reason: "No route to host",
            },
            _ => SnmpError::Io { target, source },
        }
    }

    pub(crate) fn io(target: &SocketAddr, source: std::io::Error) -> Self {
        SnmpError::Io {
            target: target.to_string(),
            source,
        }
    }
}
