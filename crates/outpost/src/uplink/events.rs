//! What the uplinks report about themselves, as typed events (see
//! [`crate::internal_event`]): each struct's `emit` bumps its counters on
//! [`UplinkMetrics`] and writes its log line, rate-limited per uplink, at the level its kind
//! decides. The metric names, labels and HELP texts are [`UplinkMetrics::register`]'s.

use std::{fmt, sync::Arc, time::Duration};

use crate::internal_event::{InternalEvent, RateLimit};
use crate::limited;

use super::{UplinkCode, UplinkLabel, UplinkMetrics, UplinkPeer};

/// One uplink's side of the events: its name, its metric families and its log limiters
/// (one per call site, so one uplink's failing peer never hides another's lines).
#[derive(Clone)]
pub struct Reporter(Arc<Inner>);

struct Inner {
    name: &'static str,
    label: UplinkLabel,
    metrics: UplinkMetrics,
    limits: Limits,
}

#[derive(Default)]
struct Limits {
    /// Per severity: a refusal is never hidden behind an earlier lost connection.
    ended_transient: RateLimit,
    ended_refused: RateLimit,
    reconnecting: RateLimit,
    failover: RateLimit,
    outbox_read: RateLimit,
    ack_record: RateLimit,
    broker_dropped: RateLimit,
    register: RateLimit,
    unencodable: RateLimit,
}

impl Reporter {
    pub fn new(name: &'static str, metrics: UplinkMetrics) -> Self {
        Reporter(Arc::new(Inner {
            name,
            label: UplinkMetrics::label(name),
            metrics,
            limits: Limits::default(),
        }))
    }

    /// The uplink's name (`mqtt`, `ws`), its metric label and its consumer's suffix.
    pub fn name(&self) -> &'static str {
        self.0.name
    }

    fn peer(&self, peer: &str) -> UplinkPeer {
        UplinkPeer {
            uplink: self.0.name.into(),
            peer: peer.into(),
        }
    }

    fn code(&self, code: &str) -> UplinkCode {
        UplinkCode {
            uplink: self.0.name.into(),
            code: code.into(),
        }
    }
}

/// The MQTT session is up: the broker accepted us and has our job subscriptions.
pub struct MqttConnected<'a> {
    pub broker: &'a str,
    pub protocol: super::mqtt::Protocol,
    pub agent_id: &'a str,
    pub pool: Option<&'a str>,
    pub resend_from: u64,
}

impl InternalEvent<Reporter> for MqttConnected<'_> {
    fn emit(self, r: &Reporter) {
        r.0.metrics.connected.get_or_create(&r.0.label).set(1);
        r.0.metrics
            .broker
            .get_or_create(&r.peer(self.broker))
            .set(1);
        tracing::info!(broker = %self.broker, protocol = ?self.protocol, agent_id = %self.agent_id, pool = ?self.pool, resend_from = self.resend_from, "mqtt uplink: connected");
    }
}

/// The Phoenix channel is joined.
pub struct WsJoined<'a> {
    pub url: &'a str,
    pub topic: &'a str,
    pub resend_from: u64,
}

impl InternalEvent<Reporter> for WsJoined<'_> {
    fn emit(self, r: &Reporter) {
        r.0.metrics.connected.get_or_create(&r.0.label).set(1);
        tracing::info!(url = %self.url, topic = %self.topic, resend_from = self.resend_from, "ws uplink: joined");
    }
}

/// How bad a session's end is, decided by its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Asked for (shutdown): no line.
    Quiet,
    /// Will likely heal by itself (a lost connection): warn.
    Transient,
    /// Will not heal by retrying (credentials, ACLs, a refused join): error, with the hint
    /// an operator needs.
    Refused,
}

/// Why a transport's session ended, as the shared run loop and [`SessionEnded`] see it.
pub trait EndReason: fmt::Display {
    fn severity(&self) -> Severity;
    /// The line's message: what happened and, for a refusal, what to check.
    fn summary(&self) -> &'static str;
}

/// A session ended: the uplink is down until the next one is up.
pub struct SessionEnded<'a, E: EndReason> {
    pub end: &'a E,
    /// Where it was connected to (the broker or the URL), for the line.
    pub peer: &'a str,
    /// Whether it had been established.
    pub was_up: bool,
}

impl<E: EndReason> InternalEvent<Reporter> for SessionEnded<'_, E> {
    fn emit(self, r: &Reporter) {
        r.0.metrics.connected.get_or_create(&r.0.label).set(0);
        // Only a broker that was connected has a series (a WebSocket URL never gets one).
        if let Some(g) = r.0.metrics.broker.get(&r.peer(self.peer)) {
            g.set(0);
        }
        let (uplink, peer, reason, msg) = (r.0.name, self.peer, self.end, self.end.summary());
        match self.end.severity() {
            Severity::Quiet => {}
            Severity::Transient => {
                limited!(r.0.limits.ended_transient, WARN, uplink, peer = %peer, error = %reason, connected = self.was_up, "{uplink} uplink: {msg}")
            }
            Severity::Refused => {
                limited!(r.0.limits.ended_refused, ERROR, uplink, peer = %peer, error = %reason, "{uplink} uplink: {msg}")
            }
        }
    }
}

/// After a failed or ended connection, the uplink moves to the next broker of its list.
pub struct FailedOver<'a> {
    pub from: &'a str,
    pub to: &'a str,
}

impl InternalEvent<Reporter> for FailedOver<'_> {
    fn emit(self, r: &Reporter) {
        r.0.metrics.failovers.get_or_create(&r.0.label).inc();
        let uplink = r.0.name;
        limited!(r.0.limits.failover, INFO, uplink, from = %self.from, to = %self.to, "{uplink} uplink: moving to the next broker")
    }
}

/// Between two sessions: the reconnect is counted and the backoff waited out.
pub struct Reconnecting {
    pub delay: Duration,
}

impl InternalEvent<Reporter> for Reconnecting {
    fn emit(self, r: &Reporter) {
        r.0.metrics.reconnects.get_or_create(&r.0.label).inc();
        let name = r.0.name;
        limited!(
            r.0.limits.reconnecting,
            INFO,
            uplink = name,
            delay_ms = self.delay.as_millis() as u64,
            "{name} uplink: reconnecting after backoff"
        );
    }
}

/// Outbox rows handed to the transport (redeliveries included).
pub struct RowsSent {
    pub n: usize,
}

impl InternalEvent<Reporter> for RowsSent {
    fn emit(self, r: &Reporter) {
        // Emitted on every flush: the series appears with the first row sent.
        if self.n > 0 {
            r.0.metrics
                .sent
                .get_or_create(&r.0.label)
                .inc_by(self.n as u64);
        }
    }
}

/// Outbox rows the peer acknowledged: this uplink's cursor moved past them.
pub struct RowsAcked {
    pub n: usize,
}

impl InternalEvent<Reporter> for RowsAcked {
    fn emit(self, r: &Reporter) {
        // Even when 0: the series shows from the first session's end, as it always has.
        r.0.metrics
            .acked
            .get_or_create(&r.0.label)
            .inc_by(self.n as u64);
    }
}

/// A message from the peer answered with an `error` of this code. Its line is written
/// where the reason is known (`inbound.rs`, at debug level): here it is counted.
pub struct MessageRejected<'a> {
    pub code: &'a str,
}

impl InternalEvent<Reporter> for MessageRejected<'_> {
    fn emit(self, r: &Reporter) {
        r.0.metrics.rejected.get_or_create(&r.code(self.code)).inc();
    }
}

/// The broker acknowledged one of our publishes and said it dropped it (MQTT 5:
/// `no_matching_subscribers`): delivered as far as we can tell, and counted.
pub struct BrokerDropped {
    pub pkid: u16,
    pub reason: &'static str,
}

impl InternalEvent<Reporter> for BrokerDropped {
    fn emit(self, r: &Reporter) {
        r.0.metrics
            .broker_dropped
            .get_or_create(&r.code(self.reason))
            .inc();
        let name = r.0.name;
        limited!(
            r.0.limits.broker_dropped,
            DEBUG,
            pkid = self.pkid,
            reason = self.reason,
            "{name} uplink: the broker accepted a publish but had no subscriber for it"
        );
    }
}

/// Reading this uplink's rows from the outbox failed; the next wake-up tries again.
pub struct OutboxReadFailed<'a> {
    pub error: &'a outpost_core::StoreError,
}

impl InternalEvent<Reporter> for OutboxReadFailed<'_> {
    fn emit(self, r: &Reporter) {
        let name = r.0.name;
        limited!(r.0.limits.outbox_read, WARN, error = %self.error, "{name} uplink: reading the outbox failed");
    }
}

/// Writing this uplink's cursor failed: the peer has the rows, so only a restart of the
/// agent resends them (within the window).
pub struct AckRecordFailed<'a> {
    pub consumer: &'a str,
    pub error: &'a outpost_core::StoreError,
}

impl InternalEvent<Reporter> for AckRecordFailed<'_> {
    fn emit(self, r: &Reporter) {
        limited!(r.0.limits.ack_record, WARN, consumer = %self.consumer, error = %self.error, "uplink: recording an acknowledgement failed");
    }
}

/// The uplink could not register its consumer with the store, and retries.
pub struct RegisterFailed<'a> {
    pub consumer: &'a str,
    pub error: &'a outpost_core::StoreError,
}

impl InternalEvent<Reporter> for RegisterFailed<'_> {
    fn emit(self, r: &Reporter) {
        limited!(r.0.limits.register, ERROR, consumer = %self.consumer, error = %self.error, "uplink: cannot register with the store; retrying");
    }
}

/// An outbox row could not be encoded (cannot happen with today's plain data; if it ever
/// did, the peer still gets the row's seq so its acknowledgement moves the cursor).
pub struct RowUnencodable<'a> {
    pub seq: u64,
    pub error: &'a serde_json::Error,
}

impl InternalEvent<Reporter> for RowUnencodable<'_> {
    fn emit(self, r: &Reporter) {
        limited!(r.0.limits.unencodable, ERROR, seq = self.seq, error = %self.error, "uplink: an outbox row could not be encoded");
    }
}

#[cfg(test)]
impl Reporter {
    /// The figures as a test reads them.
    pub fn metrics(&self) -> &UplinkMetrics {
        &self.0.metrics
    }
}
