//! The MQTT uplink (rumqttc; MQTT 3.1.1 or 5), for fleets that already run a broker.
//!
//! Topics, for agent `ID`: jobs in on `outpost/ID/jobs` (and, in a pool, on the shared
//! subscription `$share/POOL/outpost/pool/POOL/jobs`); results and `error` replies out on
//! `outpost/ID/results`; events on `outpost/ID/events`; a retained `outpost/ID/status`
//! (`online` with a heartbeat timestamp, `offline` as the last will).
//!
//! Delivery: every outbox row is published at QoS 1; the broker's PUBACK is the
//! acknowledgement that moves this uplink's cursor. On any connection error the client is
//! dropped and rebuilt, and everything unacknowledged is published again from the store,
//! so rumqttc's in-memory state never has to survive anything.

mod link;
mod url;

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::{Duration, Instant},
};

use outpost_proto::Message;
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

pub use link::Protocol;
use link::{Inbound, Link, LinkError, LinkEvent, NotQueued, Settings};
pub use url::BrokerUrl;

use super::{
    delivery::{encode_row, Delivery},
    inbound::{self, Handled},
    Context, UplinkCode, UplinkMetrics,
};

const NAME: &str = "mqtt";
/// Jobs from the broker being stored at once.
const INBOUND_CONCURRENCY: usize = 256;
/// Acknowledgements gathered before the cursor is written.
const COMMIT_EVERY: usize = 64;
/// Incoming packets up to this size are read: MQTT's own maximum (a remaining length of
/// 268,435,455 bytes plus a 5-byte fixed header), so every message a broker can send is read
/// and then refused with a `too_large` reply and acknowledged. A lower limit cannot be
/// announced to an MQTT 3.1.1 broker: rumqttc would fail on a larger packet and drop the
/// connection before acknowledging it, and the persistent session would redeliver it on every
/// reconnect, so that no job after it ever ran (issue 10). MQTT 5 brokers are told the limit
/// in CONNECT. A message over the envelope limit is refused as soon as it is read (its id
/// found by a scan, its payload freed), so at most one such message is held at a time.
const MAX_PACKET: usize = 268_435_455 + 5;

pub struct MqttUplink {
    pub broker: BrokerUrl,
    pub protocol: Protocol,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub pool: Option<String>,
    pub keepalive: Duration,
    /// For `mqtts://`: verified against the system roots (plus `uplink.mqtt.ca_file`), with
    /// a client certificate when one is configured.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

pub fn topic(agent_id: &str, leaf: &str) -> String {
    format!("outpost/{agent_id}/{leaf}")
}

pub fn pool_topic(pool: &str) -> String {
    format!("outpost/pool/{pool}/jobs")
}

fn status(cx: &Context, state: &str) -> Vec<u8> {
    serde_json::json!({
        "state": state,
        "agent_id": cx.agent_id,
        "version": env!("CARGO_PKG_VERSION"),
        "at": outpost_core::clock::now_ms(),
    })
    .to_string()
    .into_bytes()
}

impl MqttUplink {
    fn link(&self, cx: &Context) -> Link {
        Link::new(Settings {
            protocol: self.protocol,
            client_id: format!("outpost-{}", cx.agent_id),
            host: self.broker.host.clone(),
            port: self.broker.port,
            keepalive: self.keepalive,
            credentials: self.username.as_ref().map(|u| {
                let p = self.password.as_ref().map(|p| p.expose_secret().to_owned());
                (u.clone(), p.unwrap_or_default())
            }),
            tls: self.tls.clone(),
            will: (topic(&cx.agent_id, "status"), status(cx, "offline")),
            // Our delivery window bounds outbox publishes; rumqttc's own limit sits above
            // it, since rumqttc stops reading its request queue (our job acks included)
            // when it is reached.
            inflight: (cx.window + INBOUND_CONCURRENCY + 64).min(u16::MAX as usize) as u16,
            receive_max: INBOUND_CONCURRENCY as u16,
            request_queue: cx.window + 64,
            max_packet: MAX_PACKET,
        })
    }

    /// Runs until `shutdown`: connect, deliver, and reconnect with backoff.
    pub async fn run(self, cx: Context, shutdown: CancellationToken) {
        let store = cx.dispatcher.store().clone();
        let mut live = store.subscribe();
        let Some(mut delivery) =
            Delivery::open_retrying(store, format!("uplink:{NAME}"), cx.window, 256, &shutdown)
                .await
        else {
            return;
        };
        let mut backoff = cx.new_backoff();
        let label = UplinkMetrics::label(NAME);
        loop {
            let (up_since, productive) = self
                .session(self.link(&cx), &cx, &mut delivery, &mut live, &shutdown)
                .await;
            cx.metrics.connected.get_or_create(&label).set(0);
            // Acknowledgements received before the connection ended still count.
            if let Ok(n) = delivery.commit().await {
                cx.metrics.acked.get_or_create(&label).inc_by(n as u64);
            }
            if !cx
                .pause_before_reconnect(NAME, &mut backoff, up_since, productive, &shutdown)
                .await
            {
                return;
            }
        }
    }

    /// One connection. Returns when it was established, if it was, and whether it carried
    /// traffic both ways (a PUBACK for us, or a job), which resets the backoff.
    async fn session(
        &self,
        mut link: Link,
        cx: &Context,
        delivery: &mut Delivery,
        live: &mut tokio::sync::broadcast::Receiver<Arc<outpost_core::OutboxRow>>,
        shutdown: &CancellationToken,
    ) -> (Option<Instant>, bool) {
        let label = UplinkMetrics::label(NAME);
        let mut productive = false;
        delivery.restart();
        // Jobs being stored concurrently, so one slow submission never stalls the loop;
        // bounded, so a flood waits in the broker rather than in our memory.
        let slots = Arc::new(tokio::sync::Semaphore::new(INBOUND_CONCURRENCY));
        // Each stored job comes back here with its reply, if any, to be acknowledged by the
        // loop: one message per permit, so sending never waits.
        let (done_tx, mut done) = tokio::sync::mpsc::channel::<(
            Inbound,
            Option<Message>,
            tokio::sync::OwnedSemaphorePermit,
        )>(INBOUND_CONCURRENCY);
        let mut acks_out: VecDeque<Inbound> = VecDeque::new();
        // Jobs received and not yet handed to a storing task. Bounded by what the broker
        // sends unacknowledged: it gets our PUBACK only once a job is stored.
        let mut waiting: VecDeque<Inbound> = VecDeque::new();
        let mut acks_pending = 0usize;
        // The outbox seq of each publish, in the order rumqttc will send them (0: not an
        // outbox row); matched to packet ids as rumqttc reports them.
        let mut order: VecDeque<u64> = VecDeque::new();
        let mut pkids: HashMap<u16, u64> = HashMap::new();
        let mut up_since = None;
        let mut subacks_due = usize::MAX;
        let mut heartbeat = tokio::time::interval(cx.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let results = topic(&cx.agent_id, "results");
        let events = topic(&cx.agent_id, "events");
        let status_topic = topic(&cx.agent_id, "status");
        // Error replies waiting for room in rumqttc's request queue.
        let mut replies_out: VecDeque<Vec<u8>> = VecDeque::new();
        // Outbox rows read and encoded, not yet taken by rumqttc: (seq, is an event, bytes).
        // Within the delivery window, so bounded.
        let mut outgoing: VecDeque<(u64, bool, Vec<u8>)> = VecDeque::new();
        // Subscriptions and the online status, queued once the broker accepted us.
        let mut greeting: VecDeque<Greeting> = VecDeque::new();
        loop {
            // Never await rumqttc's request queue here: only `link.poll()` drains it, and
            // this loop is what polls. When the queue is full, stop and come back after
            // the next poll.
            while !waiting.is_empty() {
                let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                    break;
                };
                let Some(p) = waiting.pop_front() else { break };
                let (dispatcher, tx, timeout) =
                    (cx.dispatcher.clone(), done_tx.clone(), cx.default_timeout);
                tokio::spawn(async move {
                    // Over MQTT the broker's PUBACK is the acknowledgement, so a server
                    // `ack` needs nothing here.
                    let reply = match inbound::handle_bytes(
                        &dispatcher,
                        p.payload(),
                        "uplink:mqtt",
                        timeout,
                    )
                    .await
                    {
                        Handled::Reply(m) => Some(m),
                        Handled::Ack(_) | Handled::Nothing => None,
                    };
                    let _ = tx.send((p, reply, permit)).await;
                });
            }
            while let Some(g) = greeting.front() {
                let queued = match g {
                    Greeting::Subscribe(filter) => link.try_subscribe(filter.clone()),
                    Greeting::Online => {
                        match link.try_publish(&status_topic, true, status(cx, "online")) {
                            Ok(()) => {
                                order.push_back(0);
                                true
                            }
                            Err(_) => false,
                        }
                    }
                };
                if !queued {
                    break;
                }
                greeting.pop_front();
            }
            while let Some(p) = acks_out.front() {
                if !link.try_ack(p) {
                    break;
                }
                acks_out.pop_front();
            }
            while let Some(m) = replies_out.pop_front() {
                match link.try_publish(&results, false, m) {
                    Ok(()) => order.push_back(0),
                    Err(NotQueued::Full(m)) => {
                        replies_out.push_front(m);
                        break;
                    }
                    Err(NotQueued::Broken) => return (up_since, productive),
                }
            }
            // Rows already read wait here, encoded, for room in rumqttc's queue: reading
            // them again on every wake-up while the queue is full costs the store thread a
            // window's worth of decoding each time, and starves job intake behind it.
            while let Some((seq, is_event, bytes)) = outgoing.pop_front() {
                let t = if is_event { &events } else { &results };
                match link.try_publish(t, false, bytes) {
                    Ok(()) => {
                        order.push_back(seq);
                        cx.metrics.sent.get_or_create(&label).inc();
                    }
                    Err(NotQueued::Full(bytes)) => {
                        outgoing.push_front((seq, is_event, bytes));
                        break;
                    }
                    Err(NotQueued::Broken) => return (up_since, productive),
                }
            }
            if up_since.is_some() && replies_out.is_empty() && outgoing.is_empty() {
                match delivery.next().await {
                    Ok(rows) if !rows.is_empty() => {
                        outgoing.extend(rows.iter().map(|row| {
                            let (kind, text) = encode_row(row);
                            (
                                row.seq,
                                kind == outpost_proto::Delivered::Event,
                                text.into_bytes(),
                            )
                        }));
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "mqtt uplink: reading the outbox failed"),
                }
            }
            tokio::select! {
                ev = link.poll() => match ev {
                    Ok(LinkEvent::Connected) => {
                        up_since = Some(Instant::now());
                        subacks_due = 1 + usize::from(self.pool.is_some());
                        greeting.push_back(Greeting::Subscribe(topic(&cx.agent_id, "jobs")));
                        if let Some(p) = &self.pool {
                            greeting.push_back(Greeting::Subscribe(format!("$share/{p}/{}", pool_topic(p))));
                        }
                        greeting.push_back(Greeting::Online);
                    }
                    // Connected, for operators and tests, once the broker has our job
                    // subscriptions: a job published before that could not reach us.
                    Ok(LinkEvent::Subscribed(Ok(()))) => {
                        subacks_due = subacks_due.saturating_sub(1);
                        if subacks_due == 0 {
                            cx.metrics.connected.get_or_create(&label).set(1);
                            tracing::info!(broker = %format!("{}:{}", self.broker.host, self.broker.port), protocol = ?self.protocol, agent_id = %cx.agent_id, pool = ?self.pool, resend_from = delivery.cursor(), "mqtt uplink: connected");
                        }
                    }
                    // Without its job subscription the agent would sit "up" and deaf.
                    Ok(LinkEvent::Subscribed(Err(why))) => {
                        tracing::error!(error = %why, pool = ?self.pool, "mqtt uplink: the broker refused a job subscription (check its ACLs, and shared-subscription support for pools)");
                        return (up_since, productive);
                    }
                    // Taken up at the loop's top as storing slots free up. Never wait for a
                    // slot here: slots come back through this same loop.
                    Ok(LinkEvent::Job(p)) if p.payload().len() <= outpost_proto::envelope::MAX_MESSAGE_BYTES => {
                        productive = true;
                        waiting.push_back(p);
                    }
                    // Over the limit: refused and acknowledged at once, its payload freed,
                    // so it is never redelivered and never waits in memory.
                    Ok(LinkEvent::Job(mut p)) => {
                        productive = true;
                        let reply = inbound::too_large(p.payload().len(), outpost_proto::peek_id(p.payload()));
                        p.drop_payload();
                        cx.metrics.rejected.get_or_create(&UplinkCode { uplink: NAME.into(), code: "too_large".into() }).inc();
                        replies_out.push_back(reply.encode());
                        acks_out.push_back(p);
                    }
                    Ok(LinkEvent::Sent(pkid)) => {
                        if let Some(seq) = order.pop_front() {
                            if seq > 0 {
                                pkids.insert(pkid, seq);
                            }
                        }
                    }
                    Ok(LinkEvent::Delivered(pkid, dropped)) => {
                        productive = true;
                        if let Some(reason) = dropped {
                            // Delivered to the broker, which then dropped it (MQTT 5 says
                            // why): it is acknowledged all the same, and counted.
                            tracing::debug!(pkid, reason, "mqtt uplink: the broker accepted a publish but had no subscriber for it");
                            cx.metrics.broker_dropped.get_or_create(&UplinkCode { uplink: NAME.into(), code: reason.into() }).inc();
                        }
                        if let Some(seq) = pkids.remove(&pkid) {
                            delivery.ack_one(seq);
                            acks_pending += 1;
                            // The cursor is written in batches: losing the last few to a
                            // crash only means resending them, within the window.
                            if acks_pending >= COMMIT_EVERY || acks_pending >= delivery.inflight() {
                                acks_pending = 0;
                                let n = delivery.commit_soon();
                                cx.metrics.acked.get_or_create(&label).inc_by(n as u64);
                            }
                        }
                    }
                    // Not delivered: nothing moves past it, and the reconnect (after
                    // backoff) offers it again. An operator sees why in the log.
                    Ok(LinkEvent::Refused(pkid, why)) => {
                        tracing::error!(error = %why, seq = pkids.get(&pkid).copied().unwrap_or(0), "mqtt uplink: the broker refused a publish");
                        return (up_since, productive);
                    }
                    Ok(LinkEvent::Other) => {}
                    Err(e) => {
                        match &e {
                            LinkError::Refused(_) => tracing::error!(error = %e, "mqtt uplink: check uplink.mqtt.username/password and the client certificate"),
                            e => tracing::warn!(error = %e, connected = up_since.is_some(), "mqtt uplink: connection lost"),
                        }
                        return (up_since, productive);
                    }
                },
                Some((p, reply, _permit)) = done.recv() => {
                    if let Some(m) = reply {
                        if let Message::Error { code, .. } = &m {
                            cx.metrics.rejected.get_or_create(&UplinkCode { uplink: NAME.into(), code: code.clone() }).inc();
                        }
                        replies_out.push_back(m.encode());
                    }
                    acks_out.push_back(p);
                }
                r = live.recv(), if up_since.is_some() => {
                    if delivery.feed(r).is_err() {
                        return (up_since, productive);
                    }
                }
                _ = heartbeat.tick(), if up_since.is_some() => {
                    // One pending at most: a stalled queue must not pile heartbeats up.
                    if !greeting.iter().any(|g| matches!(g, Greeting::Online)) {
                        greeting.push_back(Greeting::Online);
                    }
                }
                _ = shutdown.cancelled() => {
                    if link.try_publish(&status_topic, true, status(cx, "offline")).is_ok() {
                        order.push_back(0);
                    }
                    link.try_disconnect();
                    // Let the last publish and the DISCONNECT go out, briefly.
                    let _ = tokio::time::timeout(Duration::from_secs(1), async {
                        while link.poll().await.is_ok() {}
                    }).await;
                    return (up_since, productive);
                }
            }
        }
    }
}

/// Control traffic the session queues for rumqttc as room allows.
enum Greeting {
    Subscribe(String),
    /// The retained `online` status (on connect, and as the heartbeat).
    Online,
}
