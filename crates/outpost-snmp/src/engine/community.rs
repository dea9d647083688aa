//! v1/v2c requests: a community message out, and the one reply that may be credited to it
//! (same version, same community, a Response with our request-id). Anything else that
//! reached us under this id is refused here and the request keeps waiting.

use secrecy::ExposeSecret;

use super::demux::Slot;
use super::logs::{PduShape, ReqInfo};
use super::Session;
use crate::error::SnmpError;
use crate::message::{CommunityMessage, Message, Version};
use crate::pdu::{AnyPdu, Pdu, PduType};

impl Session {
    pub(super) async fn request_community(
        &self,
        version: Version,
        community: &[u8],
        mut pdu: Pdu,
    ) -> Result<Pdu, SnmpError> {
        let Slot {
            id,
            rx,
            guard: _guard,
        } = self.slot();
        pdu.request_id = id;
        let req = ReqInfo::new(&pdu, id);
        tracing::trace!(target = %self.inner.label, request_id = id, pdu = %PduShape(&pdu),
            "snmp request varbinds");
        let msg = Message::Community(CommunityMessage {
            version,
            community: secrecy::SecretSlice::from(community.to_vec()),
            pdu: AnyPdu::Pdu(pdu),
        });
        let bytes = msg.encode();
        self.exchange(&bytes, rx, req, |inc| match inc.msg {
            Message::Community(c)
                if c.version == version && c.community.expose_secret() == community =>
            {
                match c.pdu {
                    AnyPdu::Pdu(p) if p.pdu_type == PduType::Response && p.request_id == id => {
                        Some(p)
                    }
                    _ => None,
                }
            }
            _ => None,
        })
        .await
    }
}
