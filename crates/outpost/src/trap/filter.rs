//! The filter: from one datagram and its source to a decision. Source networks first (no
//! decoding for strangers), then the community or the v3 user; anything else is dropped
//! with its reason.

use std::net::SocketAddr;

use outpost_snmp::message::Message;
use outpost_snmp::pdu::{AnyPdu, PduType};
use outpost_snmp::Version;
use secrecy::{ExposeSecret, SecretSlice};

use super::config::{Cidr, TrapSettings};
use super::metrics::DropReason;
use super::normalize::{Kind, Notification, Sender};
use super::usm::V3Users;

/// What to do with a datagram.
#[derive(Debug)]
pub enum Decision {
    /// Queue it; for an inform, the Response to send once it is stored.
    Accept(Box<Notification>, Option<Vec<u8>>),
    /// Not a notification but answered at once: a v3 discovery Report.
    Report(Vec<u8>),
    /// A notification dropped (counted under the reason) but answered at once: an inform
    /// outside our time window gets a notInTimeWindow Report.
    Refuse(DropReason, Vec<u8>),
    /// Dropped, with the counter it goes to.
    Drop(DropReason),
}

/// Communities, networks and v3 users, built once from [`TrapSettings`].
#[derive(Debug)]
pub struct Filter {
    /// None accepts any community.
    communities: Option<Vec<SecretSlice<u8>>>,
    /// Accepted source networks.
    networks: Vec<Cidr>,
    /// v3 users and our engine, for informs.
    v3: V3Users,
}

impl Filter {
    pub fn new(s: &mut TrapSettings) -> Filter {
        Filter {
            communities: s.communities.take(),
            networks: std::mem::take(&mut s.networks),
            v3: V3Users::new(
                std::mem::take(&mut s.users),
                s.engine_id.clone(),
                s.engine_boots,
            ),
        }
    }

    pub fn check(&self, datagram: &[u8], from: SocketAddr) -> Decision {
        if !self.networks.iter().any(|n| n.contains(from.ip())) {
            return Decision::Drop(DropReason::SourceNetwork);
        }
        let msg = match Message::decode(datagram) {
            Ok(m) => m,
            Err(_) => return Decision::Drop(DropReason::Malformed),
        };
        let m = match msg {
            Message::Community(m) => m,
            Message::V3(head) => return self.v3.check(datagram, head, from),
        };
        if let Some(list) = &self.communities {
            let c = m.community.expose_secret();
            if !list.iter().any(|a| a.expose_secret() == c) {
                return Decision::Drop(DropReason::Community);
            }
        }
        let reply = m.inform_response().map(|r| r.encode());
        let community = SecretSlice::from(m.community.expose_secret().to_vec());
        match (m.version, m.pdu) {
            (Version::V1, AnyPdu::TrapV1(t)) => {
                Decision::Accept(Box::new(Notification::from_v1(from, community, t)), None)
            }
            (Version::V2c, AnyPdu::Pdu(p))
                if matches!(p.pdu_type, PduType::TrapV2 | PduType::Inform) =>
            {
                let kind = if p.pdu_type == PduType::Inform {
                    Kind::Inform
                } else {
                    Kind::Trap
                };
                Decision::Accept(
                    Box::new(Notification::from_v2(
                        kind,
                        from,
                        "2c",
                        Sender::Community(community),
                        p.request_id,
                        p.varbinds,
                    )),
                    reply,
                )
            }
            _ => Decision::Drop(DropReason::NotNotification),
        }
    }
}
