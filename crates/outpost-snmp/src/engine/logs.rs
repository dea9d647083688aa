//! The engine's log lines: one debug line per request sent, per retry, per reply and per
//! failure, and at trace the OIDs (never the values) of each PDU. Nothing here ever sees
//! a community, a pass phrase or a key: the lines carry the target as written, the
//! request-id, counts and error texts, which carry no secret either.

use tokio::time::Instant;

use super::Session;
use crate::error::SnmpError;
use crate::pdu::{Pdu, PduType};

/// What a request is, for its log lines: never its credentials or its values.
#[derive(Clone, Copy, Debug)]
pub(super) struct ReqInfo {
    /// `get`, `getnext`, `getbulk`, `set`, or `discovery` for a v3 engine probe.
    pub(super) op: &'static str,
    /// request-id (msgID for v3), to match the lines of one request.
    pub(super) id: i32,
    /// Varbinds in the request.
    pub(super) varbinds: usize,
}

impl ReqInfo {
    pub(super) fn new(pdu: &Pdu, id: i32) -> Self {
        ReqInfo {
            op: match pdu.pdu_type {
                PduType::Get => "get",
                PduType::GetNext => "getnext",
                PduType::GetBulk => "getbulk",
                PduType::Set => "set",
                PduType::Inform => "inform",
                PduType::TrapV2 => "trap",
                PduType::Response => "response",
                PduType::Report => "report",
            },
            id,
            varbinds: pdu.varbinds.len(),
        }
    }
}

/// At most this many OIDs of a PDU in a trace line, so a line stays readable.
const TRACE_OIDS: usize = 16;

/// A PDU's OIDs and value types for a trace line: never the values, which may be
/// anything a SET carries (a community being configured, say).
pub(super) struct PduShape<'a>(pub(super) &'a Pdu);

impl std::fmt::Display for PduShape<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, vb) in self.0.varbinds.iter().take(TRACE_OIDS).enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{} {}", vb.oid, vb.value.type_name())?;
        }
        let n = self.0.varbinds.len();
        if n > TRACE_OIDS {
            write!(f, ", ... {} more", n - TRACE_OIDS)?;
        }
        Ok(())
    }
}

/// Bytes as hex, for engine IDs in log lines.
pub(super) struct Hex<'a>(pub(super) &'a [u8]);

impl std::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("0x")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl Session {
    /// One debug line per request sent, and per retry.
    pub(super) fn log_send(&self, req: ReqInfo, attempt: u32, attempts: u32, bytes: usize) {
        let s = &self.inner;
        if attempt == 0 {
            tracing::debug!(target = %s.label, version = ?self.version(), op = %req.op,
                request_id = req.id, varbinds = req.varbinds, attempt = 1, attempts, bytes,
                "snmp request");
        } else {
            tracing::debug!(target = %s.label, version = ?self.version(), op = %req.op,
                request_id = req.id, varbinds = req.varbinds, attempt = attempt + 1, attempts,
                timeout_ms = s.cfg.timeout.as_millis() as u64,
                "snmp retry: no reply within the timeout, sending again");
        }
    }

    /// One debug line per reply credited to a request.
    pub(super) fn log_reply(&self, req: ReqInfo, attempt: u32, started: Instant) {
        tracing::debug!(target = %self.inner.label, op = %req.op, request_id = req.id,
            attempt = attempt + 1, elapsed_ms = started.elapsed().as_millis() as u64,
            "snmp reply");
    }

    /// One debug line per request that failed (timeout included); returns the error.
    /// Error texts never carry a secret.
    pub(super) fn log_error(&self, req: ReqInfo, e: SnmpError) -> SnmpError {
        tracing::debug!(target = %self.inner.label, op = %req.op, request_id = req.id,
            error = %e, "snmp request failed");
        e
    }
}
