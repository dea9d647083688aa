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
//!
//! Layout: `session.rs` is one connection's state machine (no I/O, unit-tested with a
//! scripted queue), the pump here does the I/O around it (rumqttc, storing tasks, the
//! store), `link.rs` hides the two protocol versions, and `uplink::run` reconnects.

mod brokers;
mod link;
mod session;
mod url;

use std::{sync::Arc, time::Duration};

use outpost_proto::Message;
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

pub use brokers::Brokers;
use link::{Inbound, Link, RequestQueue, Settings};
pub use link::{Protocol, SubscriptionRefused, UnknownProtocol};
pub use session::End;
use session::{Input, MqttSession, Step};
pub use url::{BrokerList, BrokerUrl, BrokerUrlError};

use super::{
    events::{MqttConnected, OutboxReadFailed, RowsAcked},
    inbound::{self, Handled},
    run::{Env, Session, Transport},
    Context,
};
use crate::deadline::sleep_until;
use crate::internal_event::InternalEvent;

const NAME: &str = "mqtt";
/// Jobs from the broker being stored at once.
const INBOUND_CONCURRENCY: usize = 256;
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
    /// One broker, or the nodes of a cluster: one is used at a time (see [`Brokers`]).
    pub brokers: Brokers,
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

impl MqttUplink {
    fn link(&self, cx: &Context) -> Link {
        Link::new(Settings {
            protocol: self.protocol,
            client_id: format!("outpost-{}", cx.agent_id),
            host: self.brokers.current().host.clone(),
            port: self.brokers.current().port,
            keepalive: self.keepalive,
            credentials: self.username.as_ref().map(|u| {
                let p = self.password.as_ref().map(|p| p.expose_secret().to_owned());
                (u.clone(), p.unwrap_or_default())
            }),
            tls: self.tls.clone(),
            will: (
                topic(&cx.agent_id, "status"),
                session::status(&cx.agent_id, "offline"),
            ),
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
        super::run::run(self, cx, shutdown).await
    }
}

impl Transport for MqttUplink {
    const NAME: &'static str = NAME;
    type End = End;

    fn peer(&self) -> String {
        self.brokers.peer()
    }

    fn fail_over(&self) -> Option<String> {
        self.brokers.advance().then(|| self.brokers.peer())
    }

    /// One connection: the pump around [`MqttSession`]. It polls rumqttc, stores jobs on
    /// spawned tasks, reads the outbox and feeds what happened to the session; the session
    /// decides everything else.
    async fn session(&self, env: Env<'_>) -> Session<End> {
        let Env {
            cx,
            rep,
            delivery,
            live,
            shutdown,
        } = env;
        let mut link = self.link(cx);
        delivery.restart();
        let mut s = MqttSession::new(
            session::Config {
                agent_id: cx.agent_id.clone(),
                pool: self.pool.clone(),
                storing_slots: INBOUND_CONCURRENCY,
            },
            rep.clone(),
        );
        // Each stored job comes back here with its reply, if any, to be acknowledged by the
        // session: one message per storing slot, so sending never waits.
        let (done_tx, mut done) =
            tokio::sync::mpsc::channel::<(Inbound, Option<Message>)>(INBOUND_CONCURRENCY);
        let mut heartbeat = tokio::time::interval(cx.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut up_since = None;
        let end = loop {
            // Jobs are stored concurrently, so one slow submission never stalls the loop;
            // bounded, so a flood waits in the broker rather than in our memory.
            while let Some(job) = s.next_job() {
                let (dispatcher, tx, timeout) =
                    (cx.dispatcher.clone(), done_tx.clone(), cx.default_timeout);
                tokio::spawn(async move {
                    // Over MQTT the broker's PUBACK is the acknowledgement, so a server
                    // `ack` needs nothing here.
                    let reply = match inbound::handle_bytes(
                        &dispatcher,
                        job.payload(),
                        "uplink:mqtt",
                        timeout,
                    )
                    .await
                    {
                        Handled::Reply(m) => Some(m),
                        Handled::Ack(_) | Handled::Nothing => None,
                    };
                    let _ = tx.send((job, reply)).await;
                });
            }
            if let Err(end) = s.flush(&mut link) {
                break end;
            }
            if s.wants_rows() {
                match delivery.next().await {
                    Ok(rows) if !rows.is_empty() => {
                        s.on_event(Input::Rows(rows));
                        continue;
                    }
                    Ok(_) => {}
                    Err(error) => OutboxReadFailed { error: &error }.emit(rep),
                }
            }
            let input = tokio::select! {
                ev = link.poll() => match ev {
                    Ok(ev) => Input::Link(ev),
                    Err(e) => Input::Lost(e),
                },
                Some((job, reply)) = done.recv() => Input::Stored { job, reply },
                r = live.recv(), if s.is_connected() => {
                    if delivery.feed(r).is_err() {
                        break End::FeedClosed;
                    }
                    continue;
                }
                _ = heartbeat.tick(), if s.is_connected() => Input::Heartbeat,
                _ = sleep_until(delivery.write_due()), if delivery.write_due().is_some() => {
                    let n = delivery.commit_soon();
                    if n > 0 {
                        RowsAcked { n }.emit(rep);
                    }
                    continue;
                }
                _ = shutdown.cancelled() => {
                    goodbye(&mut link, &cx.agent_id).await;
                    break End::Shutdown;
                }
            };
            if matches!(input, Input::Link(link::LinkEvent::Connected)) {
                up_since = Some(std::time::Instant::now());
            }
            match s.on_event(input) {
                Step::Continue => {}
                Step::Up => MqttConnected {
                    broker: &self.peer(),
                    protocol: self.protocol,
                    agent_id: &cx.agent_id,
                    pool: s.pool(),
                    resend_from: delivery.cursor(),
                }
                .emit(rep),
                // The hot path (one PUBACK per row): counted only when the cursor is
                // written, as one lookup per batch rather than one per PUBACK.
                Step::Acked(seq) => {
                    let n = delivery.ack_one(seq);
                    if n > 0 {
                        RowsAcked { n }.emit(rep);
                    }
                }
                Step::End(end) => break end,
            }
        };
        Session {
            up_since,
            productive: s.productive(),
            end,
        }
    }
}

/// On shutdown: the retained `offline` status and a DISCONNECT, given a moment to go out.
async fn goodbye(link: &mut Link, agent_id: &str) {
    let _ = link.try_publish(
        &topic(agent_id, "status"),
        true,
        session::status(agent_id, "offline"),
    );
    link.try_disconnect();
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while link.poll().await.is_ok() {}
    })
    .await;
}
