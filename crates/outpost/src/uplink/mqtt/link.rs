//! One MQTT connection in either protocol version, behind one small interface: the session
//! loop speaks in [`LinkEvent`]s and never sees rumqttc's two sets of packet types. Only
//! this file knows how MQTT 3.1.1 and MQTT 5 differ for us:
//! - a persistent session is `clean_session = false` in 3.1.1, and in 5 `clean_start =
//!   false` plus a session expiry interval (without one the broker ends it on disconnect);
//! - MQTT 5 brokers give reason codes on SUBACK and PUBACK, and a PUBACK may refuse a
//!   message (not authorized, quota exceeded): such a message was not delivered.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::v5::mqttbytes::v5 as p5;
use rumqttc::v5::mqttbytes::QoS as QoS5;
use rumqttc::{Event, NetworkOptions, Outgoing, Packet, QoS, TlsConfiguration, Transport};

/// `uplink.mqtt.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    V311,
    V5,
}

/// `uplink.mqtt.protocol` names neither version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?}: expected 3.1.1 or 5")]
pub struct UnknownProtocol(pub String);

impl Protocol {
    pub fn parse(text: &str) -> Result<Self, UnknownProtocol> {
        match text.trim() {
            "3.1.1" | "311" | "4" => Ok(Protocol::V311),
            "5" | "5.0" => Ok(Protocol::V5),
            other => Err(UnknownProtocol(other.to_owned())),
        }
    }
}

/// The broker refused a subscription (SUBACK failure; MQTT 5 says why).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionRefused {
    #[error("subscription refused")]
    Failure,
    #[error("subscription refused: {0}")]
    Reason(String),
}

/// How a session expires on the broker while we are away (MQTT 5): long enough to ride out
/// any outage we would want queued jobs kept for, as 3.1.1's persistent session does.
const SESSION_EXPIRY_SECS: u32 = 7 * 24 * 3600;

/// Everything needed to open a connection.
pub struct Settings {
    pub protocol: Protocol,
    pub client_id: String,
    pub host: String,
    pub port: u16,
    pub keepalive: Duration,
    pub credentials: Option<(String, String)>,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Retained, QoS 1.
    pub will: (String, Vec<u8>),
    /// Our publishes unacknowledged by the broker, at most.
    pub inflight: u16,
    /// Unacknowledged publishes the broker may send us (MQTT 5 receive maximum; 3.1.1
    /// has no such setting and relies on the broker's own limit).
    pub receive_max: u16,
    pub request_queue: usize,
    pub max_packet: usize,
}

/// A job publish from the broker, to be acknowledged once handled.
pub enum Inbound {
    V311(rumqttc::Publish),
    V5(p5::Publish),
}

impl Inbound {
    pub fn payload(&self) -> &[u8] {
        match self {
            Inbound::V311(p) => &p.payload,
            Inbound::V5(p) => &p.payload,
        }
    }

    /// Frees the payload, keeping what the acknowledgement needs (the packet id).
    pub fn drop_payload(&mut self) {
        match self {
            Inbound::V311(p) => p.payload = Default::default(),
            Inbound::V5(p) => p.payload = Default::default(),
        }
    }
}

/// What the session loop needs to know about.
pub enum LinkEvent {
    /// CONNACK accepted.
    Connected,
    /// SUBACK: `Err` names why a subscription was refused.
    Subscribed(Result<(), SubscriptionRefused>),
    Job(Inbound),
    /// One of our publishes left with this packet id.
    Sent(u16),
    /// The broker took the publish with this packet id; with the reason it then dropped it
    /// (MQTT 5 only: `no_matching_subscribers`), if it did.
    Delivered(u16, Option<&'static str>),
    /// The broker refused the publish with this packet id (MQTT 5 PUBACK reason code).
    Refused(u16, String),
    Other,
}

/// rumqttc's request queue as the session sees it: every call hands one request over
/// without waiting, or says why it could not. The session never awaits this queue: only
/// [`Link::poll`] drains it, and the session's own loop is what polls. (Unit tests put a
/// scripted queue in its place.)
pub trait RequestQueue {
    /// A QoS 1 publish.
    fn try_publish(&mut self, topic: &str, retain: bool, payload: Vec<u8>)
        -> Result<(), NotQueued>;
    /// PUBACKs a job; false when the queue is full (try again after the next poll).
    fn try_ack(&mut self, job: &Inbound) -> bool;
    /// False when the queue is full.
    fn try_subscribe(&mut self, filter: &str) -> bool;
}

impl RequestQueue for Link {
    fn try_publish(
        &mut self,
        topic: &str,
        retain: bool,
        payload: Vec<u8>,
    ) -> Result<(), NotQueued> {
        self.publish(topic, retain, payload)
    }
    fn try_ack(&mut self, job: &Inbound) -> bool {
        self.ack(job)
    }
    fn try_subscribe(&mut self, filter: &str) -> bool {
        self.subscribe(filter)
    }
}

/// Why [`RequestQueue::try_publish`] did not queue a publish.
pub enum NotQueued {
    /// rumqttc's queue is full: the payload, to offer again after the next poll.
    Full(Vec<u8>),
    /// Anything else: the payload is gone, so the connection must be rebuilt (which resends
    /// everything unacknowledged from the store).
    Broken,
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the broker refused the connection: {0}")]
    Refused(String),
    #[error("{0}")]
    Connection(String),
}

pub enum Link {
    V311(rumqttc::AsyncClient, Box<rumqttc::EventLoop>),
    V5(rumqttc::v5::AsyncClient, Box<rumqttc::v5::EventLoop>),
}

impl Link {
    pub fn new(s: Settings) -> Link {
        let mut net = NetworkOptions::new();
        // Small messages one at a time: Nagle plus delayed ACKs would add ~40 ms to each.
        net.set_tcp_nodelay(true);
        let transport = s
            .tls
            .map(|c| Transport::tls_with_config(TlsConfiguration::Rustls(c)));
        match s.protocol {
            Protocol::V311 => {
                let mut o = rumqttc::MqttOptions::new(s.client_id, s.host, s.port);
                o.set_keep_alive(s.keepalive);
                o.set_clean_session(false);
                // A job is acknowledged to the broker only once it is in our store (or
                // refused): a crash in between makes the broker redeliver it, and its id
                // makes that harmless.
                o.set_manual_acks(true);
                o.set_max_packet_size(s.max_packet, s.max_packet);
                o.set_inflight(s.inflight.max(1));
                o.set_last_will(rumqttc::LastWill::new(
                    s.will.0,
                    s.will.1,
                    QoS::AtLeastOnce,
                    true,
                ));
                if let Some((u, p)) = s.credentials {
                    o.set_credentials(u, p);
                }
                if let Some(t) = transport {
                    o.set_transport(t);
                }
                let (c, mut el) = rumqttc::AsyncClient::new(o, s.request_queue);
                el.set_network_options(net);
                Link::V311(c, Box::new(el))
            }
            Protocol::V5 => {
                let mut o = rumqttc::v5::MqttOptions::new(s.client_id, s.host, s.port);
                o.set_keep_alive(s.keepalive);
                o.set_clean_start(false);
                o.set_session_expiry_interval(Some(SESSION_EXPIRY_SECS));
                o.set_manual_acks(true);
                o.set_max_packet_size(Some(s.max_packet as u32));
                o.set_receive_maximum(Some(s.receive_max.max(1)));
                o.set_outgoing_inflight_upper_limit(s.inflight.max(1));
                o.set_last_will(p5::LastWill::new(
                    s.will.0,
                    s.will.1,
                    QoS5::AtLeastOnce,
                    true,
                    None,
                ));
                if let Some((u, p)) = s.credentials {
                    o.set_credentials(u, p);
                }
                if let Some(t) = transport {
                    o.set_transport(t);
                }
                o.set_network_options(net);
                let (c, el) = rumqttc::v5::AsyncClient::new(o, s.request_queue);
                Link::V5(c, Box::new(el))
            }
        }
    }

    /// Hands a QoS 1 publish to the connection without waiting.
    fn publish(&self, topic: &str, retain: bool, payload: Vec<u8>) -> Result<(), NotQueued> {
        match self {
            Link::V311(c, _) => match c.try_publish(topic, QoS::AtLeastOnce, retain, payload) {
                Ok(()) => Ok(()),
                Err(rumqttc::ClientError::TryRequest(rumqttc::Request::Publish(p)))
                | Err(rumqttc::ClientError::Request(rumqttc::Request::Publish(p))) => {
                    Err(NotQueued::Full(p.payload.to_vec()))
                }
                Err(_) => Err(NotQueued::Broken),
            },
            Link::V5(c, _) => match c.try_publish(topic, QoS5::AtLeastOnce, retain, payload) {
                Ok(()) => Ok(()),
                Err(rumqttc::v5::ClientError::TryRequest(rumqttc::v5::Request::Publish(p)))
                | Err(rumqttc::v5::ClientError::Request(rumqttc::v5::Request::Publish(p))) => {
                    Err(NotQueued::Full(p.payload.to_vec()))
                }
                Err(_) => Err(NotQueued::Broken),
            },
        }
    }

    fn ack(&self, job: &Inbound) -> bool {
        match (self, job) {
            (Link::V311(c, _), Inbound::V311(p)) => c.try_ack(p).is_ok(),
            (Link::V5(c, _), Inbound::V5(p)) => c.try_ack(p).is_ok(),
            // A job from another connection: that session is gone, and the broker
            // redelivers it on this one.
            _ => true,
        }
    }

    fn subscribe(&self, filter: &str) -> bool {
        match self {
            Link::V311(c, _) => c.try_subscribe(filter, QoS::AtLeastOnce).is_ok(),
            Link::V5(c, _) => c.try_subscribe(filter, QoS5::AtLeastOnce).is_ok(),
        }
    }

    pub fn try_disconnect(&self) {
        match self {
            Link::V311(c, _) => drop(c.try_disconnect()),
            Link::V5(c, _) => drop(c.try_disconnect()),
        }
    }

    /// Drives the connection: reads, writes what was queued, reconnects never (the caller
    /// does, with backoff).
    pub async fn poll(&mut self) -> Result<LinkEvent, LinkError> {
        match self {
            Link::V311(_, el) => match el.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => Ok(LinkEvent::Connected),
                Ok(Event::Incoming(Packet::SubAck(a))) => Ok(LinkEvent::Subscribed(
                    match a
                        .return_codes
                        .iter()
                        .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                    {
                        true => Err(SubscriptionRefused::Failure),
                        false => Ok(()),
                    },
                )),
                Ok(Event::Incoming(Packet::Publish(p))) => Ok(LinkEvent::Job(Inbound::V311(p))),
                Ok(Event::Incoming(Packet::PubAck(a))) => Ok(LinkEvent::Delivered(a.pkid, None)),
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => Ok(LinkEvent::Sent(pkid)),
                Ok(_) => Ok(LinkEvent::Other),
                Err(rumqttc::ConnectionError::ConnectionRefused(code)) => {
                    Err(LinkError::Refused(format!("{code:?}")))
                }
                Err(e) => Err(LinkError::Connection(e.to_string())),
            },
            Link::V5(_, el) => match el.poll().await {
                Ok(rumqttc::v5::Event::Incoming(p5::Packet::ConnAck(_))) => {
                    Ok(LinkEvent::Connected)
                }
                Ok(rumqttc::v5::Event::Incoming(p5::Packet::SubAck(a))) => {
                    Ok(LinkEvent::Subscribed(
                        match a
                            .return_codes
                            .iter()
                            .find(|c| !matches!(c, p5::SubscribeReasonCode::Success(_)))
                        {
                            Some(c) => Err(SubscriptionRefused::Reason(format!("{c:?}"))),
                            None => Ok(()),
                        },
                    ))
                }
                Ok(rumqttc::v5::Event::Incoming(p5::Packet::Publish(p))) => {
                    Ok(LinkEvent::Job(Inbound::V5(p)))
                }
                Ok(rumqttc::v5::Event::Incoming(p5::Packet::PubAck(a))) => Ok(match a.reason {
                    p5::PubAckReason::Success => LinkEvent::Delivered(a.pkid, None),
                    p5::PubAckReason::NoMatchingSubscribers => {
                        LinkEvent::Delivered(a.pkid, Some("no_matching_subscribers"))
                    }
                    r => LinkEvent::Refused(a.pkid, format!("{r:?}")),
                }),
                Ok(rumqttc::v5::Event::Outgoing(Outgoing::Publish(pkid))) => {
                    Ok(LinkEvent::Sent(pkid))
                }
                Ok(_) => Ok(LinkEvent::Other),
                Err(rumqttc::v5::ConnectionError::ConnectionRefused(code)) => {
                    Err(LinkError::Refused(format!("{code:?}")))
                }
                Err(e) => Err(LinkError::Connection(e.to_string())),
            },
        }
    }
}
