//! PDUs: the request/response family, the v1 Trap-PDU and their codec.

use std::fmt;

use crate::ber::{self, tag, Reader, Writer};
use crate::error::DecodeError;
use crate::oid::Oid;
use crate::value::VarBind;

/// The PDU kinds that share the request-id/error-status/error-index layout.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, serde::Serialize)]
pub enum PduType {
    Get,
    GetNext,
    Response,
    Set,
    GetBulk,
    Inform,
    TrapV2,
    Report,
}

impl PduType {
    pub fn tag(self) -> u8 {
        match self {
            PduType::Get => 0xa0,
            PduType::GetNext => 0xa1,
            PduType::Response => 0xa2,
            PduType::Set => 0xa3,
            PduType::GetBulk => 0xa5,
            PduType::Inform => 0xa6,
            PduType::TrapV2 => 0xa7,
            PduType::Report => 0xa8,
        }
    }

    pub fn from_tag(t: u8) -> Option<PduType> {
        Some(match t {
            0xa0 => PduType::Get,
            0xa1 => PduType::GetNext,
            0xa2 => PduType::Response,
            0xa3 => PduType::Set,
            0xa5 => PduType::GetBulk,
            0xa6 => PduType::Inform,
            0xa7 => PduType::TrapV2,
            0xa8 => PduType::Report,
            _ => return None,
        })
    }
}

/// Tag of the SNMPv1 Trap-PDU.
pub const TRAP_V1_TAG: u8 = 0xa4;

/// error-status values (RFC 3416).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ErrorStatus(pub i32);

impl ErrorStatus {
    pub const NO_ERROR: ErrorStatus = ErrorStatus(0);
    pub const TOO_BIG: ErrorStatus = ErrorStatus(1);
    pub const NO_SUCH_NAME: ErrorStatus = ErrorStatus(2);
}

impl fmt::Display for ErrorStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Same wording as net-snmp's snmp_errstring so operators recognise it.
        let s = match self.0 {
            0 => "(noError) No Error",
            1 => "(tooBig) Response message would have been too large.",
            2 => "(noSuchName) There is no such variable name in this MIB.",
            3 => "(badValue) The value given has the wrong type or length.",
            4 => "(readOnly) The two parties used do not have access to use the specified SNMP PDU.",
            5 => "(genError) A general failure occured",
            6 => "noAccess",
            7 => "wrongType (The set datatype does not match the data type the agent expects)",
            8 => "wrongLength (The set value has an illegal length from what the agent expects)",
            9 => "wrongEncoding",
            10 => "wrongValue (The set value is illegal or unsupported in some way)",
            11 => "noCreation (That table does not support row creation or that object can not ever be created)",
            12 => "inconsistentValue (The set value is illegal or unsupported in some way)",
            13 => "resourceUnavailable (This is likely a out-of-memory failure within the agent)",
            14 => "commitFailed",
            15 => "undoFailed",
            16 => "authorizationError (access denied to that object)",
            17 => "notWritable (That object does not support modification)",
            18 => "inconsistentName (That object can not currently be created)",
            n => return write!(f, "Unknown Error {n}"),
        };
        f.write_str(s)
    }
}

/// A request, response, SNMPv2-Trap, InformRequest or Report PDU.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Pdu {
    /// Which operation this is.
    pub pdu_type: PduType,
    /// Matches a response to its request.
    pub request_id: i32,
    /// error-status, or non-repeaters in a GetBulk.
    pub error_status: i32,
    /// error-index, or max-repetitions in a GetBulk.
    pub error_index: i32,
    /// The variable bindings.
    pub varbinds: Vec<VarBind>,
}

impl Pdu {
    pub fn new(pdu_type: PduType, request_id: i32, varbinds: Vec<VarBind>) -> Self {
        Pdu {
            pdu_type,
            request_id,
            error_status: 0,
            error_index: 0,
            varbinds,
        }
    }

    pub fn get_bulk(
        request_id: i32,
        non_repeaters: i32,
        max_repetitions: i32,
        varbinds: Vec<VarBind>,
    ) -> Self {
        Pdu {
            pdu_type: PduType::GetBulk,
            request_id,
            error_status: non_repeaters,
            error_index: max_repetitions,
            varbinds,
        }
    }

    /// The Response that acknowledges an InformRequest (RFC 3416 4.2.7):
    /// same request-id and varbinds, no error.
    pub fn inform_response(&self) -> Pdu {
        Pdu {
            pdu_type: PduType::Response,
            request_id: self.request_id,
            error_status: 0,
            error_index: 0,
            varbinds: self.varbinds.clone(),
        }
    }

    fn decode_body(pdu_type: PduType, mut r: Reader<'_>) -> Result<Pdu, DecodeError> {
        let request_id = r.read_i32()?;
        let error_status = r.read_i32()?;
        let error_index = r.read_i32()?;
        let varbinds = VarBind::decode_list(&mut r)?;
        Ok(Pdu {
            pdu_type,
            request_id,
            error_status,
            error_index,
            varbinds,
        })
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.constructed(self.pdu_type.tag(), |w| {
            w.int(tag::INTEGER, i64::from(self.request_id));
            w.int(tag::INTEGER, i64::from(self.error_status));
            w.int(tag::INTEGER, i64::from(self.error_index));
            VarBind::encode_list(w, &self.varbinds);
        });
    }
}

/// The SNMPv1 Trap-PDU (RFC 1157), which has its own layout.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TrapV1Pdu {
    /// sysObjectID of the sender, or the enterprise of a specific trap.
    pub enterprise: Oid,
    /// The sender's address as it claims it (may differ from the UDP source).
    pub agent_addr: [u8; 4],
    /// 0..=6; 6 means enterprise-specific.
    pub generic_trap: i32,
    /// Meaningful when generic_trap is 6.
    pub specific_trap: i32,
    /// sysUpTime of the sender when it sent the trap.
    pub timestamp: u32,
    /// The variable bindings.
    pub varbinds: Vec<VarBind>,
}

impl TrapV1Pdu {
    /// The RFC 3584 section 3.1 translation to an snmpTrapOID value.
    pub fn snmp_trap_oid(&self) -> Oid {
        if self.generic_trap == 6 {
            let mut v = self.enterprise.0.clone();
            v.push(0);
            v.push(self.specific_trap as u32);
            Oid(v)
        } else {
            // snmpTraps.(generic+1)
            Oid(vec![
                1,
                3,
                6,
                1,
                6,
                3,
                1,
                1,
                5,
                (self.generic_trap as u32).wrapping_add(1),
            ])
        }
    }

    /// The RFC 3584 section 3.1 varbind list of the equivalent SNMPv2-Trap:
    /// sysUpTime.0, snmpTrapOID.0, the trap's varbinds, then snmpTrapAddress.0
    /// and snmpTrapEnterprise.0 (snmpTrapCommunity.0 is left out: it is a secret).
    pub fn to_v2_varbinds(&self) -> Vec<VarBind> {
        use crate::value::Value;
        let mut v = Vec::with_capacity(self.varbinds.len() + 4);
        v.push(VarBind::new(
            Oid(vec![1, 3, 6, 1, 2, 1, 1, 3, 0]),
            Value::TimeTicks(self.timestamp),
        ));
        v.push(VarBind::new(
            Oid(vec![1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0]),
            Value::ObjectId(self.snmp_trap_oid()),
        ));
        v.extend(self.varbinds.iter().cloned());
        v.push(VarBind::new(
            Oid(vec![1, 3, 6, 1, 6, 3, 18, 1, 3, 0]),
            Value::IpAddress(self.agent_addr),
        ));
        v.push(VarBind::new(
            Oid(vec![1, 3, 6, 1, 6, 3, 1, 1, 4, 3, 0]),
            Value::ObjectId(self.enterprise.clone()),
        ));
        v
    }

    fn decode_body(mut r: Reader<'_>) -> Result<TrapV1Pdu, DecodeError> {
        let enterprise = Oid(ber::decode_oid(r.expect(tag::OBJECT_ID)?)?);
        let a = r.expect(tag::IP_ADDRESS)?;
        let agent_addr: [u8; 4] = a
            .try_into()
            .map_err(|_| DecodeError::BadIpAddress(a.len()))?;
        let generic_trap = r.read_i32()?;
        let specific_trap = r.read_i32()?;
        let ts = r.expect(tag::TIMETICKS)?;
        let timestamp = ber::decode_integer(ts)? as u32;
        let varbinds = VarBind::decode_list(&mut r)?;
        Ok(TrapV1Pdu {
            enterprise,
            agent_addr,
            generic_trap,
            specific_trap,
            timestamp,
            varbinds,
        })
    }

    fn encode(&self, w: &mut Writer) {
        w.constructed(TRAP_V1_TAG, |w| {
            w.oid(&self.enterprise.0);
            w.primitive(tag::IP_ADDRESS, &self.agent_addr);
            w.int(tag::INTEGER, i64::from(self.generic_trap));
            w.int(tag::INTEGER, i64::from(self.specific_trap));
            w.uint(tag::TIMETICKS, u64::from(self.timestamp));
            VarBind::encode_list(w, &self.varbinds);
        });
    }
}

/// Any PDU a message can carry.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum AnyPdu {
    Pdu(Pdu),
    TrapV1(TrapV1Pdu),
}

impl AnyPdu {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<AnyPdu, DecodeError> {
        let (t, c) = r.read_tlv()?;
        if t == TRAP_V1_TAG {
            return Ok(AnyPdu::TrapV1(TrapV1Pdu::decode_body(Reader::new(c))?));
        }
        let pt = PduType::from_tag(t).ok_or(DecodeError::UnknownPduType(t))?;
        Ok(AnyPdu::Pdu(Pdu::decode_body(pt, Reader::new(c))?))
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        match self {
            AnyPdu::Pdu(p) => p.encode(w),
            AnyPdu::TrapV1(t) => t.encode(w),
        }
    }

    /// The request-id, which v1 traps do not have.
    pub fn request_id(&self) -> Option<i32> {
        match self {
            AnyPdu::Pdu(p) => Some(p.request_id),
            AnyPdu::TrapV1(_) => None,
        }
    }
}
