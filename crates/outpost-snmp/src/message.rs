//! Whole SNMP messages: v1/v2c community messages and v3 USM messages.
//!
//! This is the one decoder of network bytes. The poller and the trap
//! receiver both call [`Message::decode`], so one fuzz target covers both.

use secrecy::{ExposeSecret, SecretSlice};

use crate::ber::{tag, Reader, Writer};
use crate::error::DecodeError;
use crate::pdu::{AnyPdu, PduType};

/// Protocol version as carried in msgVersion.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, serde::Serialize, serde::Deserialize)]
pub enum Version {
    #[serde(rename = "1")]
    V1,
    #[serde(rename = "2c")]
    V2c,
    #[serde(rename = "3")]
    V3,
}

impl Version {
    fn wire(self) -> i64 {
        match self {
            Version::V1 => 0,
            Version::V2c => 1,
            Version::V3 => 3,
        }
    }
}

/// A v1 or v2c message. The community is a secret: it never prints.
#[derive(Clone, Debug)]
pub struct CommunityMessage {
    /// V1 or V2c.
    pub version: Version,
    /// The community string, redacted in Debug.
    pub community: SecretSlice<u8>,
    /// The PDU; a TrapV1 only in a v1 message.
    pub pdu: AnyPdu,
}

/// msgFlags bits (RFC 3412).
pub mod flags {
    pub const AUTH: u8 = 0x01;
    pub const PRIV: u8 = 0x02;
    pub const REPORTABLE: u8 = 0x04;
}

/// UsmSecurityParameters (RFC 3414 section 2.4).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct UsmParams {
    /// msgAuthoritativeEngineID: the agent's engine for requests, the
    /// sender's for traps.
    pub engine_id: Vec<u8>,
    /// msgAuthoritativeEngineBoots, for replay protection.
    pub engine_boots: i32,
    /// msgAuthoritativeEngineTime, for replay protection.
    pub engine_time: i32,
    /// msgUserName (not secret; it is sent in clear).
    pub user_name: Vec<u8>,
    /// The truncated HMAC, or empty without authentication.
    pub auth_params: Vec<u8>,
    /// The privacy salt, or empty without privacy.
    pub priv_params: Vec<u8>,
}

/// ScopedPDU (RFC 3412).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ScopedPdu {
    /// The engine that holds the context (usually the agent's engine ID).
    pub context_engine_id: Vec<u8>,
    /// The context name; empty for the default context.
    pub context_name: Vec<u8>,
    /// The PDU itself.
    pub pdu: AnyPdu,
}

/// The msgData of a v3 message: clear, or still encrypted.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ScopedPduData {
    Plain(ScopedPdu),
    /// Encrypted octets; [`crate::usm`] turns them into `Plain`.
    Encrypted(Vec<u8>),
}

/// An SNMPv3 message with the User-based Security Model.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct V3Message {
    /// msgID: matches a response (or report) to its request.
    pub msg_id: i32,
    /// msgMaxSize: the largest message the sender can receive.
    pub max_size: i32,
    /// msgFlags: auth, priv, reportable bits.
    pub flags: u8,
    /// The USM header fields.
    pub usm: UsmParams,
    /// The scoped PDU, clear or encrypted.
    pub data: ScopedPduData,
}

/// Any SNMP message.
#[derive(Clone, Debug)]
pub enum Message {
    Community(CommunityMessage),
    V3(V3Message),
}

/// User-based Security Model number in msgSecurityModel.
const USM_MODEL: i64 = 3;

impl Message {
    /// Decodes any SNMP message. Never panics; hostile input is an error.
    pub fn decode(buf: &[u8]) -> Result<Message, DecodeError> {
        Ok(decode_located(buf)?.0)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            Message::Community(m) => {
                w.constructed(tag::SEQUENCE, |w| {
                    w.int(tag::INTEGER, m.version.wire());
                    w.octets(m.community.expose_secret());
                    m.pdu.encode(w);
                });
            }
            Message::V3(m) => return encode_v3_located(m).0,
        }
        w.into_bytes()
    }

    /// The id a response is matched on: msgID for v3 (the request-id may be
    /// encrypted), request-id otherwise.
    pub fn match_id(&self) -> Option<i32> {
        match self {
            Message::Community(c) => c.pdu.request_id(),
            Message::V3(v) => Some(v.msg_id),
        }
    }

    pub fn version(&self) -> Version {
        match self {
            Message::Community(c) => c.version,
            Message::V3(_) => Version::V3,
        }
    }
}

impl CommunityMessage {
    /// The acknowledgement of a v2c InformRequest: a Response with the same
    /// community, request-id and varbinds. None for anything but an Inform.
    pub fn inform_response(&self) -> Option<Message> {
        match &self.pdu {
            AnyPdu::Pdu(p) if p.pdu_type == PduType::Inform => {
                Some(Message::Community(CommunityMessage {
                    version: self.version,
                    community: self.community.clone(),
                    pdu: AnyPdu::Pdu(p.inform_response()),
                }))
            }
            _ => None,
        }
    }
}

impl ScopedPdu {
    /// Decodes a clear (or just decrypted, hence padded) scoped PDU.
    pub fn decode(buf: &[u8]) -> Result<ScopedPdu, DecodeError> {
        let mut outer = Reader::new(buf);
        let mut r = outer.read_sequence()?;
        // Encrypted data is padded, so bytes after the sequence are allowed.
        let context_engine_id = r.read_octets()?.to_vec();
        let context_name = r.read_octets()?.to_vec();
        let pdu = AnyPdu::decode(&mut r)?;
        if matches!(pdu, AnyPdu::TrapV1(_)) {
            return Err(DecodeError::PduNotAllowed);
        }
        Ok(ScopedPdu {
            context_engine_id,
            context_name,
            pdu,
        })
    }

    pub(crate) fn encode_to(&self, w: &mut Writer) {
        w.constructed(tag::SEQUENCE, |w| {
            w.octets(&self.context_engine_id);
            w.octets(&self.context_name);
            self.pdu.encode(w);
        });
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode_to(&mut w);
        w.into_bytes()
    }
}

/// Wraps finished content in a SEQUENCE; returns the bytes and the header length.
fn wrap_sequence(content: &[u8]) -> (Vec<u8>, usize) {
    let mut w = Writer::new();
    w.primitive(tag::SEQUENCE, content);
    let header = w.buf.len() - content.len();
    (w.into_bytes(), header)
}

/// Encodes a v3 message and returns where its authentication parameters
/// start, so [`crate::usm::sign`] can fill them in without re-parsing.
pub(crate) fn encode_v3_located(m: &V3Message) -> (Vec<u8>, usize) {
    let mut u = Writer::new();
    u.octets(&m.usm.engine_id);
    u.int(tag::INTEGER, i64::from(m.usm.engine_boots));
    u.int(tag::INTEGER, i64::from(m.usm.engine_time));
    u.octets(&m.usm.user_name);
    u.octets(&m.usm.auth_params);
    let auth_pos = u.buf.len() - m.usm.auth_params.len();
    u.octets(&m.usm.priv_params);
    let (usm, usm_header) = wrap_sequence(&u.buf);

    let mut w = Writer::new();
    w.int(tag::INTEGER, 3);
    w.constructed(tag::SEQUENCE, |w| {
        w.int(tag::INTEGER, i64::from(m.msg_id));
        w.int(tag::INTEGER, i64::from(m.max_size));
        w.octets(&[m.flags]);
        w.int(tag::INTEGER, USM_MODEL);
    });
    w.octets(&usm);
    let usm_pos = w.buf.len() - usm.len();
    match &m.data {
        ScopedPduData::Plain(s) => s.encode_to(&mut w),
        ScopedPduData::Encrypted(e) => w.octets(e),
    }
    let (bytes, header) = wrap_sequence(&w.buf);
    (bytes, header + usm_pos + usm_header + auth_pos)
}

/// Decodes a message and, for v3, also returns the byte offset of the
/// authentication parameters, which HMAC computation needs to zero.
pub(crate) fn decode_located(buf: &[u8]) -> Result<(Message, Option<usize>), DecodeError> {
    let mut top = Reader::new(buf);
    let mut r = top.read_sequence()?;
    if !top.is_empty() {
        return Err(DecodeError::TrailingBytes);
    }
    let v = crate::ber::decode_integer(r.expect(tag::INTEGER)?)?;
    let version = match v {
        0 => Version::V1,
        1 => Version::V2c,
        3 => Version::V3,
        other => return Err(DecodeError::UnsupportedVersion(other as i64)),
    };
    if version == Version::V3 {
        return decode_v3_body(buf, r).map(|(m, off)| (Message::V3(m), Some(off)));
    }
    let community = SecretSlice::from(r.read_octets()?.to_vec());
    let pdu = AnyPdu::decode(&mut r)?;
    match (&pdu, version) {
        (AnyPdu::TrapV1(_), Version::V2c) => return Err(DecodeError::PduNotAllowed),
        (AnyPdu::Pdu(p), Version::V1)
            if matches!(
                p.pdu_type,
                PduType::GetBulk | PduType::Inform | PduType::TrapV2 | PduType::Report
            ) =>
        {
            return Err(DecodeError::PduNotAllowed)
        }
        _ => {}
    }
    Ok((
        Message::Community(CommunityMessage {
            version,
            community,
            pdu,
        }),
        None,
    ))
}

fn decode_v3_body(buf: &[u8], mut r: Reader<'_>) -> Result<(V3Message, usize), DecodeError> {
    let mut global = r.read_sequence()?;
    let msg_id = global.read_i32()?;
    let max_size = global.read_i32()?;
    let f = global.read_octets()?;
    let flags = *f.first().ok_or(DecodeError::Truncated)?;
    let model = global.read_i32()?;
    if i64::from(model) != USM_MODEL {
        return Err(DecodeError::UnsupportedSecurityModel(model));
    }
    let sec = r.read_octets()?;
    let mut sr = Reader::new(sec);
    let mut u = sr.read_sequence()?;
    let engine_id = u.read_octets()?.to_vec();
    let engine_boots = u.read_i32()?;
    let engine_time = u.read_i32()?;
    let user_name = u.read_octets()?.to_vec();
    let auth = u.read_octets()?;
    // Pointer arithmetic on two slices of the same buffer: safe and exact.
    let auth_offset = (auth.as_ptr() as usize).saturating_sub(buf.as_ptr() as usize);
    let auth_params = auth.to_vec();
    let priv_params = u.read_octets()?.to_vec();
    let data = if flags & flags::PRIV != 0 {
        ScopedPduData::Encrypted(r.read_octets()?.to_vec())
    } else {
        let rest = r.remaining();
        let (_, _) = r.read_tlv()?;
        ScopedPduData::Plain(ScopedPdu::decode(rest)?)
    };
    let usm = UsmParams {
        engine_id,
        engine_boots,
        engine_time,
        user_name,
        auth_params,
        priv_params,
    };
    Ok((
        V3Message {
            msg_id,
            max_size,
            flags,
            usm,
            data,
        },
        auth_offset,
    ))
}
