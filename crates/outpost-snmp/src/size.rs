//! How big a request is on the wire, so one that cannot fit in a UDP datagram is refused
//! before it is queued (a job param, a CLI argument) rather than failing with "Message
//! too long (os error 90)" at every attempt.

use crate::engine::TargetConfig;
use crate::error::SnmpError;
use crate::message::{CommunityMessage, Message, ScopedPdu};
use crate::pdu::{AnyPdu, Pdu, PduType};
use crate::security::Security;
use crate::target::{Family, Transport};
use crate::value::VarBind;

/// Largest UDP payload over IPv4: 65,535 less the IPv4 (20) and UDP (8) headers.
pub const UDP_V4_LIMIT: usize = 65_507;
/// Largest UDP payload over IPv6 without jumbograms: 65,535 less the UDP header.
pub const UDP_V6_LIMIT: usize = 65_527;

/// The msgMaxSize we advertise in v3 messages by default: the largest reply one datagram
/// can bring over IPv4, which is net-snmp's default too.
pub const DEFAULT_MSG_MAX_SIZE: i32 = UDP_V4_LIMIT as i32;

/// v3 bytes outside the scoped PDU, at most: message and header sequences, msgID,
/// msgMaxSize, flags, model, the USM sequence with a 32-octet engine ID, boots, time,
/// 48 octets of SHA-512 authentication parameters and an 8-octet salt (each length at
/// its longest form), plus the encrypted PDU's wrapper and DES padding. Counted to 177;
/// rounded up, since this only has to be an upper bound.
const V3_OVERHEAD: usize = 256;

/// The UDP payload limit for the address family.
pub fn udp_limit(ipv6: bool) -> usize {
    if ipv6 {
        UDP_V6_LIMIT
    } else {
        UDP_V4_LIMIT
    }
}

/// An upper bound of the encoded request (exact for v1/v2c): request-id and the two
/// error/bulk fields are counted at their largest, so it holds for any PDU type's values.
pub fn request_size(security: &Security, pdu_type: PduType, varbinds: &[VarBind]) -> usize {
    let pdu = Pdu {
        pdu_type,
        request_id: i32::MAX,
        error_status: i32::MAX,
        error_index: i32::MAX,
        varbinds: varbinds.to_vec(),
    };
    match security {
        Security::Community { version, community } => Message::Community(CommunityMessage {
            version: *version,
            community: community_bytes(community),
            pdu: AnyPdu::Pdu(pdu),
        })
        .encode()
        .len(),
        Security::Usm(user) => {
            let scoped = ScopedPdu {
                context_engine_id: vec![0; 32],
                context_name: user.context_name.as_bytes().to_vec(),
                pdu: AnyPdu::Pdu(pdu),
            };
            scoped.encode().len() + user.name.len() + V3_OVERHEAD
        }
    }
}

fn community_bytes(c: &secrecy::SecretString) -> secrecy::SecretSlice<u8> {
    use secrecy::ExposeSecret;
    secrecy::SecretSlice::from(c.expose_secret().as_bytes().to_vec())
}

/// For a UDP target, refuses a request that cannot fit in one datagram. TCP carries
/// any size the agent accepts.
pub fn check_request_size(
    cfg: &TargetConfig,
    pdu_type: PduType,
    varbinds: &[VarBind],
) -> Result<(), SnmpError> {
    if cfg.addr.transport == Transport::Tcp {
        return Ok(());
    }
    // A host name with no prefix resolves to IPv4 (see `TargetAddr::resolve`).
    let limit = udp_limit(cfg.addr.family == Family::V6);
    let size = request_size(&cfg.security, pdu_type, varbinds);
    if size > limit {
        return Err(SnmpError::RequestTooLarge {
            target: cfg.addr.to_string(),
            size,
            limit,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::oid::Oid;

    /// The bound is exact for v2c and above the real size for v3 (sealed for real here).
    #[test]
    fn issue10_request_size_bounds_the_encoded_request() {
        let vbs: Vec<VarBind> = (0..50u32)
            .map(|i| VarBind::null(Oid(vec![1, 3, 6, 1, 2, 1, 2, 2, 1, 2, i])))
            .collect();
        let sec = Security::v2c("public");
        let pdu = Pdu::new(PduType::Get, 1, vbs.clone());
        let real = Message::Community(CommunityMessage {
            version: crate::message::Version::V2c,
            community: secrecy::SecretSlice::from(b"public".to_vec()),
            pdu: AnyPdu::Pdu(pdu.clone()),
        })
        .encode()
        .len();
        let bound = request_size(&sec, PduType::Get, &vbs);
        assert!(bound >= real && bound <= real + 12, "{bound} vs {real}");

        let user = crate::security::UsmUser::new(
            "probe",
            Some((
                crate::usm::AuthProtocol::Sha512,
                "authpass123".to_string().into(),
            )),
            Some((
                crate::usm::PrivProtocol::Des,
                "privpass123".to_string().into(),
            )),
        )
        .unwrap();
        let engine = crate::security::EngineParams {
            engine_id: vec![0x80; 32],
            boots: i32::MAX,
            time: i32::MAX,
        };
        let keys = user.localize(&engine.engine_id).unwrap();
        let scoped = ScopedPdu {
            context_engine_id: engine.engine_id.clone(),
            context_name: Vec::new(),
            pdu: AnyPdu::Pdu(Pdu {
                request_id: i32::MAX,
                ..pdu
            }),
        };
        let real = crate::security::seal(&crate::security::SealParams {
            msg_id: i32::MAX,
            max_size: DEFAULT_MSG_MAX_SIZE,
            level: crate::security::SecurityLevel::AuthPriv,
            reportable: true,
            engine: &engine,
            user_name: b"probe",
            scoped: &scoped,
            keys: &keys,
            salt: 7,
        })
        .unwrap()
        .len();
        let bound = request_size(&Security::Usm(user.into()), PduType::Get, &vbs);
        assert!(bound >= real && bound <= real + 256, "{bound} vs {real}");
    }
}
