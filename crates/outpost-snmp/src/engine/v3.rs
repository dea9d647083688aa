//! v3 requests: sealed at the user's level with the discovered engine's clock, opened and
//! verified on the way back, and the agent's Reports turned into errors an operator can
//! act on. notInTimeWindow resynchronises the clock once and unknownEngineID rediscovers
//! once, because both are what an agent that rebooted says; any other Report fails the
//! request with its own error.

use super::demux::Slot;
use super::logs::{PduShape, ReqInfo};
use super::Session;
use crate::error::SnmpError;
use crate::message::ScopedPdu;
use crate::oid::Oid;
use crate::pdu::{AnyPdu, Pdu, PduType};
use crate::security::{self, EngineParams, SealParams, SecurityLevel};

/// What a v3 exchange produced.
enum V3Outcome {
    Response(Pdu, EngineParams),
    Report(Oid, EngineParams),
}

/// RFC 3414 usmStats counters, as they appear in Reports.
mod report_oids {
    pub const UNSUPPORTED_SEC_LEVELS: &[u32] = &[1, 3, 6, 1, 6, 3, 15, 1, 1, 1, 0];
    pub const NOT_IN_TIME_WINDOWS: &[u32] = &[1, 3, 6, 1, 6, 3, 15, 1, 1, 2, 0];
    pub const UNKNOWN_USER_NAMES: &[u32] = &[1, 3, 6, 1, 6, 3, 15, 1, 1, 3, 0];
    pub const UNKNOWN_ENGINE_IDS: &[u32] = &[1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0];
    pub const WRONG_DIGESTS: &[u32] = &[1, 3, 6, 1, 6, 3, 15, 1, 1, 5, 0];
    pub const DECRYPTION_ERRORS: &[u32] = &[1, 3, 6, 1, 6, 3, 15, 1, 1, 6, 0];
}

impl Session {
    pub(super) async fn request_v3(&self, pdu: Pdu) -> Result<Pdu, SnmpError> {
        let v3 = self.v3()?;
        let mut resynced = false;
        loop {
            let d = self.discovered().await?;
            let Slot {
                id,
                rx,
                guard: _guard,
            } = self.slot();
            let mut p = pdu.clone();
            p.request_id = id;
            let req = ReqInfo::new(&p, id);
            tracing::trace!(target = %self.inner.label, request_id = id, pdu = %PduShape(&p),
                "snmp request varbinds");
            let engine = d.now();
            let scoped = ScopedPdu {
                context_engine_id: engine.engine_id.clone(),
                context_name: v3.user.context_name.as_bytes().to_vec(),
                pdu: AnyPdu::Pdu(p),
            };
            let level = v3.user.level();
            let bytes = security::seal(&SealParams {
                msg_id: id,
                max_size: self.inner.engine.inner.config.max_message_size,
                level,
                reportable: true,
                engine: &engine,
                user_name: v3.user.name.as_bytes(),
                scoped: &scoped,
                keys: &d.keys,
                salt: self.inner.engine.next_salt(),
            })?;
            let keys = d.keys.clone();
            let outcome = self
                .exchange(&bytes, rx, req, |inc| {
                    let raw = inc.raw?;
                    let (msg, scoped) = security::open(&raw, Some(&keys)).ok()?;
                    if msg.msg_id != id {
                        return None;
                    }
                    let params = EngineParams {
                        engine_id: msg.usm.engine_id.clone(),
                        boots: msg.usm.engine_boots,
                        time: msg.usm.engine_time,
                    };
                    match scoped.pdu {
                        // A Response must come back at the level we asked for.
                        AnyPdu::Pdu(p)
                            if p.pdu_type == PduType::Response
                                && p.request_id == id
                                && SecurityLevel::from_flags(msg.flags) == Ok(level) =>
                        {
                            Some(V3Outcome::Response(p, params))
                        }
                        AnyPdu::Pdu(p) if p.pdu_type == PduType::Report => {
                            let oid = p
                                .varbinds
                                .first()
                                .map(|v| v.oid.clone())
                                .unwrap_or_default();
                            Some(V3Outcome::Report(oid, params))
                        }
                        _ => None,
                    }
                })
                .await?;
            match outcome {
                V3Outcome::Response(p, params) => {
                    self.update_clock(params);
                    return Ok(p);
                }
                V3Outcome::Report(oid, params) => {
                    tracing::debug!(target = %self.inner.label, report = %oid,
                        "snmp v3 report from the agent");
                    let o = oid.as_slice();
                    if o == report_oids::NOT_IN_TIME_WINDOWS && !resynced {
                        resynced = true;
                        self.update_clock(params);
                        continue;
                    }
                    if o == report_oids::UNKNOWN_ENGINE_IDS && !resynced {
                        resynced = true;
                        v3.forget();
                        continue;
                    }
                    return Err(match o {
                        report_oids::UNKNOWN_USER_NAMES => SnmpError::UnknownUser,
                        report_oids::WRONG_DIGESTS => SnmpError::WrongDigest,
                        report_oids::DECRYPTION_ERRORS => SnmpError::DecryptionError,
                        report_oids::UNSUPPORTED_SEC_LEVELS => SnmpError::UnsupportedSecLevel,
                        report_oids::NOT_IN_TIME_WINDOWS => SnmpError::NotInTimeWindow,
                        report_oids::UNKNOWN_ENGINE_IDS => SnmpError::UnknownEngineId,
                        _ => SnmpError::Report { oid },
                    });
                }
            }
        }
    }
}
