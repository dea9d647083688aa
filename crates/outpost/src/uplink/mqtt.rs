//! The MQTT uplink (rumqttc, MQTT 3.1.1), for fleets that already run a broker.
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

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use outpost_proto::Message;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS, Transport};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::{
    delivery::{to_message, Delivery},
    inbound::{self, Handled},
    Context, UplinkCode, UplinkMetrics,
};

const NAME: &str = "mqtt";
/// Jobs from the broker being stored at once.
const INBOUND_CONCURRENCY: usize = 256;
/// Acknowledgements gathered before the cursor is written.
const COMMIT_EVERY: usize = 64;
/// Incoming packets up to this size are read; larger envelopes are then refused by the
/// decoder with an `error` reply instead of rumqttc dropping the connection.
const MAX_PACKET: usize = 16 << 20;

/// `mqtt://host:port` or `mqtts://host:port`.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerUrl {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl BrokerUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else {
            return Err(format!(
                "{url:?}: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]"
            ));
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or("unclosed [ in IPv6 host")?;
            (h.to_owned(), after.strip_prefix(':'))
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (rest.to_owned(), None),
            }
        };
        if host.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| format!("{url:?}: bad port {p:?}"))?,
            None if tls => 8883,
            None => 1883,
        };
        Ok(BrokerUrl { host, port, tls })
    }
}

pub struct MqttUplink {
    pub broker: BrokerUrl,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub pool: Option<String>,
    pub keepalive: Duration,
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
    fn options(&self, cx: &Context) -> Result<MqttOptions, String> {
        let mut o = MqttOptions::new(
            format!("outpost-{}", cx.agent_id),
            &self.broker.host,
            self.broker.port,
        );
        o.set_keep_alive(self.keepalive);
        o.set_clean_session(false);
        // A job is acknowledged to the broker only once it is in our store (or refused):
        // a crash in between makes the broker redeliver it, and its id makes that harmless.
        o.set_manual_acks(true);
        o.set_max_packet_size(MAX_PACKET, MAX_PACKET);
        // Our delivery window bounds outbox publishes; rumqttc's own limit sits above it, since
        // rumqttc stops reading its request queue (our job acks included) when it is reached.
        o.set_inflight((cx.window + INBOUND_CONCURRENCY + 64).min(u16::MAX as usize) as u16);
        o.set_last_will(LastWill::new(
            topic(&cx.agent_id, "status"),
            status(cx, "offline"),
            QoS::AtLeastOnce,
            true,
        ));
        if let Some(u) = &self.username {
            let p = self
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_owned())
                .unwrap_or_default();
            o.set_credentials(u, p);
        }
        if self.broker.tls {
            let tls = super::tls::client_config().map_err(|e| e.to_string())?;
            o.set_transport(Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(tls),
            ));
        }
        Ok(o)
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
            let up_since = match self.options(&cx) {
                Ok(opts) => {
                    self.session(opts, &cx, &mut delivery, &mut live, &shutdown)
                        .await
                }
                Err(e) => {
                    tracing::error!(error = %e, "mqtt uplink: cannot configure the connection");
                    None
                }
            };
            cx.metrics.connected.get_or_create(&label).set(0);
            // Acknowledgements received before the connection ended still count.
            if let Ok(n) = delivery.commit().await {
                cx.metrics.acked.get_or_create(&label).inc_by(n as u64);
            }
            if shutdown.is_cancelled() {
                return;
            }
            cx.metrics.reconnects.get_or_create(&label).inc();
            let delay = backoff.next_delay(up_since);
            tracing::info!(
                delay_ms = delay.as_millis() as u64,
                "mqtt uplink: reconnecting after backoff"
            );
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// One connection. Returns when it was established, if it was.
    async fn session(
        &self,
        opts: MqttOptions,
        cx: &Context,
        delivery: &mut Delivery,
        live: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<outpost_core::OutboxRow>>,
        shutdown: &CancellationToken,
    ) -> Option<Instant> {
        let label = UplinkMetrics::label(NAME);
        let (client, mut el) = AsyncClient::new(opts, cx.window + 64);
        let mut net = rumqttc::NetworkOptions::new();
        // Small messages one at a time: Nagle plus delayed ACKs would add ~40 ms to each.
        net.set_tcp_nodelay(true);
        el.set_network_options(net);
        delivery.restart();
        // Jobs being stored concurrently, so one slow submission never stalls the loop;
        // bounded, so a flood waits in the broker rather than in our memory.
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(INBOUND_CONCURRENCY));
        // Each stored job comes back here with its reply, if any, to be acknowledged by the
        // loop: one message per permit, so sending never waits.
        let (done_tx, mut done) = tokio::sync::mpsc::channel::<(
            rumqttc::Publish,
            Option<Message>,
            tokio::sync::OwnedSemaphorePermit,
        )>(INBOUND_CONCURRENCY);
        let mut acks_out: VecDeque<rumqttc::Publish> = VecDeque::new();
        // Jobs received and not yet handed to a storing task. Bounded by what the broker
        // sends unacknowledged: it gets our PUBACK only once a job is stored.
        let mut waiting: VecDeque<rumqttc::Publish> = VecDeque::new();
        // Whether the outbox may hold rows for us: new rows, freed window room, or a batch
        // that was full. Reading it only then keeps the store out of every wake-up.
        let mut refill = true;
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
        let mut replies_out: VecDeque<Message> = VecDeque::new();
        // Outbox rows read and encoded, not yet taken by rumqttc: (seq, is an event, bytes).
        // Within the delivery window, so bounded.
        let mut outgoing: VecDeque<(u64, bool, Vec<u8>)> = VecDeque::new();
        loop {
            // Never await rumqttc's request queue here: only `el.poll()` drains it, and
            // this loop is what polls. When the queue is full, stop and come back after
            // the next poll.
            while !waiting.is_empty() {
                let Ok(permit) = std::sync::Arc::clone(&slots).try_acquire_owned() else {
                    break;
                };
                let Some(p) = waiting.pop_front() else { break };
                let (dispatcher, tx, timeout) =
                    (cx.dispatcher.clone(), done_tx.clone(), cx.default_timeout);
                tokio::spawn(async move {
                    let decoded = Message::decode(&p.payload);
                    // Over MQTT the broker's PUBACK is the acknowledgement, so a server
                    // `ack` needs nothing here.
                    let reply =
                        match inbound::handle(&dispatcher, decoded, "uplink:mqtt", timeout).await {
                            Handled::Reply(m) => Some(m),
                            Handled::Ack(_) | Handled::Nothing => None,
                        };
                    let _ = tx.send((p, reply, permit)).await;
                });
            }
            while let Some(p) = acks_out.front() {
                if client.try_ack(p).is_err() {
                    break;
                }
                acks_out.pop_front();
            }
            while let Some(m) = replies_out.front() {
                if client
                    .try_publish(&results, QoS::AtLeastOnce, false, m.encode())
                    .is_err()
                {
                    break;
                }
                replies_out.pop_front();
                order.push_back(0);
            }
            // Rows already read wait here, encoded, for room in rumqttc's queue: reading
            // them again on every wake-up while the queue is full costs the store thread a
            // window's worth of decoding each time, and starves job intake behind it.
            while let Some((seq, is_event, _)) = outgoing.front() {
                let t = if *is_event { &events } else { &results };
                let (seq, is_event) = (*seq, *is_event);
                let Some((_, _, bytes)) = outgoing.pop_front() else {
                    break;
                };
                match client.try_publish(t, QoS::AtLeastOnce, false, bytes) {
                    Ok(()) => {
                        order.push_back(seq);
                        cx.metrics.sent.get_or_create(&label).inc();
                    }
                    Err(rumqttc::ClientError::TryRequest(rumqttc::Request::Publish(p))) => {
                        outgoing.push_front((seq, is_event, p.payload.to_vec()));
                        break;
                    }
                    Err(_) => return up_since,
                }
            }
            if up_since.is_some() && replies_out.is_empty() && outgoing.is_empty() && refill {
                refill = false;
                match delivery.next().await {
                    Ok(rows) => {
                        // A batch may leave more behind: look again next time round.
                        refill = !rows.is_empty();
                        outgoing.extend(rows.iter().map(|row| {
                            let msg = to_message(row);
                            (row.seq, matches!(msg, Message::Event { .. }), msg.encode())
                        }));
                        continue;
                    }
                    Err(e) => tracing::warn!(error = %e, "mqtt uplink: reading the outbox failed"),
                }
            }
            tokio::select! {
                ev = el.poll() => match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        up_since = Some(Instant::now());
                        subacks_due = 1 + usize::from(self.pool.is_some());
                        refill = true;
                        let _ = client.subscribe(topic(&cx.agent_id, "jobs"), QoS::AtLeastOnce).await;
                        if let Some(p) = &self.pool {
                            let _ = client.subscribe(format!("$share/{p}/{}", pool_topic(p)), QoS::AtLeastOnce).await;
                        }
                        let _ = client.publish(&status_topic, QoS::AtLeastOnce, true, status(cx, "online")).await;
                        order.push_back(0);
                    }
                    // Connected, for operators and tests, once the broker has our job
                    // subscriptions: a job published before that could not reach us.
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        subacks_due = subacks_due.saturating_sub(1);
                        if subacks_due == 0 {
                            cx.metrics.connected.get_or_create(&label).set(1);
                            tracing::info!(broker = %format!("{}:{}", self.broker.host, self.broker.port), agent_id = %cx.agent_id, pool = ?self.pool, resend_from = delivery.cursor(), "mqtt uplink: connected");
                        }
                    }
                    // Taken up at the loop's top as storing slots free up. Never wait for a
                    // slot here: slots come back through this same loop.
                    Ok(Event::Incoming(Packet::Publish(p))) => waiting.push_back(p),
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                        if let Some(seq) = order.pop_front() {
                            if seq > 0 {
                                pkids.insert(pkid, seq);
                            }
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(a))) => {
                        if let Some(seq) = pkids.remove(&a.pkid) {
                            delivery.ack_one(seq);
                            acks_pending += 1;
                            // The cursor is written in batches: losing the last few to a
                            // crash only means resending them, within the window.
                            if acks_pending >= COMMIT_EVERY || acks_pending >= delivery.inflight() {
                                acks_pending = 0;
                                refill = true;
                                let n = delivery.commit_soon();
                                cx.metrics.acked.get_or_create(&label).inc_by(n as u64);
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        match &e {
                            rumqttc::ConnectionError::ConnectionRefused(code) => tracing::error!(?code, "mqtt uplink: the broker refused the connection (check uplink.mqtt.username/password)"),
                            e => tracing::warn!(error = %e, connected = up_since.is_some(), "mqtt uplink: connection lost"),
                        }
                        return up_since;
                    }
                },
                Some((p, reply, _permit)) = done.recv() => {
                    if let Some(m) = reply {
                        if let Message::Error { code, .. } = &m {
                            cx.metrics.rejected.get_or_create(&UplinkCode { uplink: NAME.into(), code: code.clone() }).inc();
                        }
                        replies_out.push_back(m);
                    }
                    acks_out.push_back(p);
                }
                r = live.recv(), if up_since.is_some() => match r {
                    // The next row owed, straight from the feed: no store read.
                    Ok(row) if delivery.offer(&row) => {
                        let msg = to_message(&row);
                        outgoing.push_back((row.seq, matches!(msg, Message::Event { .. }), msg.encode()));
                    }
                    // Owed but not next (or no room yet): the loop's top reads the store.
                    Ok(row) => refill |= delivery.wants(&row),
                    Err(RecvError::Lagged(_)) => refill = true,
                    Err(RecvError::Closed) => return up_since,
                },
                _ = heartbeat.tick(), if up_since.is_some() => {
                    if client.try_publish(&status_topic, QoS::AtLeastOnce, true, status(cx, "online")).is_ok() {
                        order.push_back(0);
                    }
                }
                _ = shutdown.cancelled() => {
                    let _ = client.try_publish(&status_topic, QoS::AtLeastOnce, true, status(cx, "offline"));
                    let _ = client.try_disconnect();
                    // Let the last publish and the DISCONNECT go out, briefly.
                    let _ = tokio::time::timeout(Duration::from_secs(1), async {
                        while el.poll().await.is_ok() {}
                    }).await;
                    return up_since;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::BrokerUrl;

    #[test]
    fn issue5_broker_urls() {
        assert_eq!(
            BrokerUrl::parse("mqtt://h").unwrap(),
            BrokerUrl {
                host: "h".into(),
                port: 1883,
                tls: false
            }
        );
        assert_eq!(
            BrokerUrl::parse("mqtts://h:1").unwrap(),
            BrokerUrl {
                host: "h".into(),
                port: 1,
                tls: true
            }
        );
        assert_eq!(BrokerUrl::parse("mqtt://[::1]:9").unwrap().host, "::1");
        assert!(BrokerUrl::parse("http://h").is_err());
        assert!(BrokerUrl::parse("mqtt://h:x").is_err());
        assert!(BrokerUrl::parse("mqtt://").is_err());
    }
}
