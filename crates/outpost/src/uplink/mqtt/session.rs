//! One MQTT connection's state, as an explicit state machine: [`MqttSession::on_event`]
//! takes what happened (a packet, a stored job, outbox rows, a heartbeat tick) and says
//! what the pump must do; [`MqttSession::next_job`] hands out jobs to store as slots free
//! up; [`MqttSession::flush`] offers everything queued to rumqttc's request queue, in
//! order, without ever waiting on it. No I/O happens here: the pump in `mod.rs` polls
//! rumqttc, spawns the storing tasks and reads the store, and unit tests drive the same
//! machine with scripted events and a fake queue.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
};

use outpost_core::OutboxRow;
use outpost_proto::Message;

use super::link::{Inbound, LinkError, LinkEvent, NotQueued, RequestQueue, SubscriptionRefused};
use super::{pool_topic, topic};
use crate::internal_event::InternalEvent;
use crate::uplink::{
    delivery::encode_row,
    events::{BrokerDropped, EndReason, MessageRejected, Reporter, RowsSent, Severity},
    inbound,
};

/// Why an MQTT session ended; the log's severity comes from the kind.
#[derive(Debug, thiserror::Error)]
pub enum End {
    #[error("shutdown")]
    Shutdown,
    #[error(transparent)]
    Link(#[from] LinkError),
    /// Without its job subscription the agent would sit "up" and deaf.
    #[error("{error} (pool {pool:?})")]
    SubscriptionRefused {
        error: SubscriptionRefused,
        pool: Option<String>,
    },
    /// Not delivered: nothing moves past it, and the reconnect (after backoff) offers it
    /// again.
    #[error("{why} (seq {seq})")]
    PublishRefused { seq: u64, why: String },
    /// rumqttc refused a request for a reason other than a full queue: the payload is gone,
    /// so the connection is rebuilt (which resends everything unacknowledged from the
    /// store) rather than the request retried empty.
    #[error("rumqttc's request queue is closed")]
    QueueBroken,
    #[error("the store's live feed closed")]
    FeedClosed,
}

impl EndReason for End {
    fn severity(&self) -> Severity {
        match self {
            End::Shutdown => Severity::Quiet,
            End::Link(LinkError::Refused(_))
            | End::SubscriptionRefused { .. }
            | End::PublishRefused { .. } => Severity::Refused,
            End::Link(LinkError::Connection(_)) | End::QueueBroken | End::FeedClosed => {
                Severity::Transient
            }
        }
    }

    fn summary(&self) -> &'static str {
        match self {
            End::Shutdown => "stopped",
            End::Link(LinkError::Refused(_)) => {
                "check uplink.mqtt.username/password and the client certificate"
            }
            End::SubscriptionRefused { .. } => "the broker refused a job subscription (check its ACLs, and shared-subscription support for pools)",
            End::PublishRefused { .. } => "the broker refused a publish",
            End::Link(LinkError::Connection(_)) | End::QueueBroken | End::FeedClosed => {
                "connection lost"
            }
        }
    }
}

/// What the session was told.
pub enum Input {
    /// From `Link::poll`.
    Link(LinkEvent),
    /// `Link::poll` failed: the connection is gone.
    Lost(LinkError),
    /// A job handed out by [`MqttSession::next_job`] is stored (or refused, with this
    /// reply): it can be acknowledged, and its storing slot is free.
    Stored {
        job: Inbound,
        reply: Option<Message>,
    },
    /// Outbox rows read for this uplink (asked for by [`MqttSession::wants_rows`]).
    Rows(Vec<Arc<OutboxRow>>),
    /// Time for the retained `online` status again.
    Heartbeat,
}

/// What the pump must do after an input.
#[derive(Debug)]
pub enum Step {
    Continue,
    /// The broker has our job subscriptions: the uplink is up (report it).
    Up,
    /// The broker acknowledged the outbox row with this seq (move the cursor).
    Acked(u64),
    /// The session is over.
    End(End),
}

/// What a session needs to know, fixed for its life.
pub struct Config {
    pub agent_id: String,
    pub pool: Option<String>,
    /// Jobs being stored at once, at most.
    pub storing_slots: usize,
}

/// Control traffic the session queues for rumqttc as room allows.
enum Greeting {
    Subscribe(String),
    /// The retained `online` status (on connect, and as the heartbeat).
    Online,
}

/// One connection's state (what the session loop's locals were).
pub struct MqttSession {
    cfg: Config,
    rep: Reporter,
    results: String,
    events: String,
    status: String,
    /// CONNACK seen.
    connected: bool,
    /// Carried traffic both ways (a PUBACK for us, or a job), which resets the backoff.
    productive: bool,
    /// SUBACKs still owed before the uplink counts as up.
    subacks_due: usize,
    /// Jobs received and not yet handed to a storing task. Bounded by what the broker
    /// sends unacknowledged: it gets our PUBACK only once a job is stored.
    waiting: VecDeque<Inbound>,
    /// Jobs handed out by [`MqttSession::next_job`] and not yet back as
    /// [`Input::Stored`].
    storing: usize,
    /// Stored jobs waiting for room in rumqttc's queue for their PUBACK.
    acks_out: VecDeque<Inbound>,
    /// Error replies waiting for room in rumqttc's queue.
    replies_out: VecDeque<Vec<u8>>,
    /// Outbox rows read and encoded, not yet taken by rumqttc: (seq, is an event, bytes).
    /// Within the delivery window, so bounded.
    outgoing: VecDeque<(u64, bool, Vec<u8>)>,
    /// Subscriptions and the online status, queued once the broker accepted us.
    greeting: VecDeque<Greeting>,
    /// The outbox seq of each publish, in the order rumqttc will send them (0: not an
    /// outbox row); matched to packet ids as rumqttc reports them.
    order: VecDeque<u64>,
    pkids: HashMap<u16, u64>,
}

/// The retained status document (`online` with a timestamp, `offline` as the last will).
pub fn status(agent_id: &str, state: &str) -> Vec<u8> {
    serde_json::json!({
        "state": state,
        "agent_id": agent_id,
        "version": crate::version::get(),
        "at": outpost_core::clock::now_ms(),
    })
    .to_string()
    .into_bytes()
}

impl MqttSession {
    pub fn new(cfg: Config, rep: Reporter) -> Self {
        MqttSession {
            results: topic(&cfg.agent_id, "results"),
            events: topic(&cfg.agent_id, "events"),
            status: topic(&cfg.agent_id, "status"),
            cfg,
            rep,
            connected: false,
            productive: false,
            subacks_due: usize::MAX,
            waiting: VecDeque::new(),
            storing: 0,
            acks_out: VecDeque::new(),
            replies_out: VecDeque::new(),
            outgoing: VecDeque::new(),
            greeting: VecDeque::new(),
            order: VecDeque::new(),
            pkids: HashMap::new(),
        }
    }

    /// CONNACK seen: outbox rows and heartbeats flow only from then on.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    pub fn productive(&self) -> bool {
        self.productive
    }

    /// Whether the pump should read outbox rows now: connected, and everything read
    /// before has been taken by rumqttc (rows already read wait encoded for room in its
    /// queue: reading them again on every wake-up while the queue is full would cost the
    /// store a window's worth of decoding each time, and starve job intake behind it).
    pub fn wants_rows(&self) -> bool {
        self.connected && self.replies_out.is_empty() && self.outgoing.is_empty()
    }

    /// The next job to store, while storing slots are free. Never wait for a slot
    /// elsewhere: slots come back through the same loop that calls this.
    pub fn next_job(&mut self) -> Option<Inbound> {
        if self.storing >= self.cfg.storing_slots {
            return None;
        }
        let job = self.waiting.pop_front()?;
        self.storing += 1;
        Some(job)
    }

    pub fn on_event(&mut self, input: Input) -> Step {
        match input {
            Input::Link(ev) => self.on_link(ev),
            Input::Lost(e) => Step::End(End::Link(e)),
            Input::Stored { job, reply } => {
                self.storing = self.storing.saturating_sub(1);
                if let Some(m) = reply {
                    if let Message::Error { code, .. } = &m {
                        MessageRejected { code }.emit(&self.rep);
                    }
                    self.replies_out.push_back(m.encode());
                }
                self.acks_out.push_back(job);
                Step::Continue
            }
            Input::Rows(rows) => {
                self.outgoing.extend(rows.iter().map(|row| {
                    let (kind, text) = encode_row(row, &self.rep);
                    (
                        row.seq,
                        kind == outpost_proto::Delivered::Event,
                        text.into_bytes(),
                    )
                }));
                Step::Continue
            }
            Input::Heartbeat => {
                // One pending at most: a stalled queue must not pile heartbeats up.
                if !self.greeting.iter().any(|g| matches!(g, Greeting::Online)) {
                    self.greeting.push_back(Greeting::Online);
                }
                Step::Continue
            }
        }
    }

    fn on_link(&mut self, ev: LinkEvent) -> Step {
        match ev {
            LinkEvent::Connected => {
                self.connected = true;
                self.subacks_due = 1 + usize::from(self.cfg.pool.is_some());
                self.greeting
                    .push_back(Greeting::Subscribe(topic(&self.cfg.agent_id, "jobs")));
                if let Some(p) = &self.cfg.pool {
                    self.greeting
                        .push_back(Greeting::Subscribe(format!("$share/{p}/{}", pool_topic(p))));
                }
                self.greeting.push_back(Greeting::Online);
                Step::Continue
            }
            // Up, for operators and tests, once the broker has our job subscriptions: a
            // job published before that could not reach us.
            LinkEvent::Subscribed(Ok(())) => {
                self.subacks_due = self.subacks_due.saturating_sub(1);
                if self.subacks_due == 0 {
                    Step::Up
                } else {
                    Step::Continue
                }
            }
            LinkEvent::Subscribed(Err(error)) => Step::End(End::SubscriptionRefused {
                error,
                pool: self.cfg.pool.clone(),
            }),
            // Taken up by `next_job` as storing slots free up.
            LinkEvent::Job(p)
                if p.payload().len() <= outpost_proto::envelope::MAX_MESSAGE_BYTES =>
            {
                self.productive = true;
                self.waiting.push_back(p);
                Step::Continue
            }
            // Over the limit: refused and acknowledged at once, its payload freed, so it
            // is never redelivered and never waits in memory.
            LinkEvent::Job(mut p) => {
                self.productive = true;
                let reply =
                    inbound::too_large(p.payload().len(), outpost_proto::peek_id(p.payload()));
                p.drop_payload();
                MessageRejected { code: "too_large" }.emit(&self.rep);
                self.replies_out.push_back(reply.encode());
                self.acks_out.push_back(p);
                Step::Continue
            }
            LinkEvent::Sent(pkid) => {
                if let Some(seq) = self.order.pop_front() {
                    if seq > 0 {
                        self.pkids.insert(pkid, seq);
                    }
                }
                Step::Continue
            }
            LinkEvent::Delivered(pkid, dropped) => {
                self.productive = true;
                if let Some(reason) = dropped {
                    // Delivered to the broker, which then dropped it (MQTT 5 says why): it
                    // is acknowledged all the same, and counted.
                    BrokerDropped { pkid, reason }.emit(&self.rep);
                }
                match self.pkids.remove(&pkid) {
                    Some(seq) => Step::Acked(seq),
                    None => Step::Continue,
                }
            }
            LinkEvent::Refused(pkid, why) => Step::End(End::PublishRefused {
                seq: self.pkids.get(&pkid).copied().unwrap_or(0),
                why,
            }),
            LinkEvent::Other => Step::Continue,
        }
    }

    /// Offers everything queued to rumqttc's request queue, in order of urgency
    /// (subscriptions and status, job PUBACKs, error replies, outbox rows), stopping at the
    /// first that finds the queue full: the rest waits for the next poll to make room.
    /// `Err` when the queue is broken: the session must end.
    pub fn flush(&mut self, q: &mut impl RequestQueue) -> Result<(), End> {
        while let Some(g) = self.greeting.front() {
            let queued = match g {
                Greeting::Subscribe(filter) => q.try_subscribe(filter),
                Greeting::Online => {
                    let doc = status(&self.cfg.agent_id, "online");
                    match q.try_publish(&self.status, true, doc) {
                        Ok(()) => {
                            self.order.push_back(0);
                            true
                        }
                        Err(NotQueued::Full(_)) => false,
                        Err(NotQueued::Broken) => return Err(End::QueueBroken),
                    }
                }
            };
            if !queued {
                break;
            }
            self.greeting.pop_front();
        }
        while let Some(p) = self.acks_out.front() {
            if !q.try_ack(p) {
                break;
            }
            self.acks_out.pop_front();
        }
        while let Some(m) = self.replies_out.pop_front() {
            match q.try_publish(&self.results, false, m) {
                Ok(()) => self.order.push_back(0),
                Err(NotQueued::Full(m)) => {
                    self.replies_out.push_front(m);
                    break;
                }
                Err(NotQueued::Broken) => return Err(End::QueueBroken),
            }
        }
        let mut sent = 0;
        let end = loop {
            let Some((seq, is_event, bytes)) = self.outgoing.pop_front() else {
                break None;
            };
            let t = if is_event {
                &self.events
            } else {
                &self.results
            };
            match q.try_publish(t, false, bytes) {
                Ok(()) => {
                    self.order.push_back(seq);
                    sent += 1;
                }
                Err(NotQueued::Full(bytes)) => {
                    self.outgoing.push_front((seq, is_event, bytes));
                    break None;
                }
                Err(NotQueued::Broken) => break Some(End::QueueBroken),
            }
        };
        RowsSent { n: sent }.emit(&self.rep);
        end.map_or(Ok(()), Err)
    }

    /// For the `connected` line.
    pub fn pool(&self) -> Option<&str> {
        self.cfg.pool.as_deref()
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
