//! SocketMan's own MQTT session (rumqttc, MQTT 3.1.1) with SocketMan's broker: its client
//! id, topics, last will, CONNECT and PING, jobs in, and every reply out of the store's
//! outbox through a consumer of this adapter's own (`socketman`).
//!
//! Unlike SocketMan:
//! - the session is persistent (`clean_session = false`, a client id kept across restarts),
//!   so a job published while the agent is away runs when it returns;
//! - a job is acknowledged to the broker once the dispatcher has stored it (or it was
//!   refused), and runs on the dispatcher's tasks, never on this loop: a long command never
//!   stops keepalives;
//! - replies are outbox rows: the consumer's cursor moves only once the broker has
//!   acknowledged every reply of a row, so a reply owed while the broker is away goes out
//!   when it returns (SocketMan retried five times, then lost it).
//!
//! One task owns the client and its event loop; every publish is queued with `try_publish`
//! (never awaiting rumqttc's queue from the loop that drains it), and the outbox window
//! keeps the queue far from full.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::Duration,
};

use outpost_core::{Dispatcher, OutboxItem, OutboxRow, Store};
use rumqttc::{
    AsyncClient, Event, EventLoop, LastWill, MqttOptions, NetworkOptions, Outgoing, Packet,
    Publish, QoS, SubscribeReasonCode, TlsConfiguration, Transport,
};
use tokio_util::sync::CancellationToken;

use super::{
    jobs::{self, Leg, Outcome},
    wire, Wire,
};

/// The outbox consumer whose cursor is SocketMan's replies.
pub const CONSUMER: &str = "socketman";
/// SocketMan's keepalive.
const KEEPALIVE: Duration = Duration::from_secs(10);
/// Outbox rows read and not yet fully acknowledged, at most (each is up to two publishes).
const WINDOW: usize = 64;
/// rumqttc's request queue: the window's publishes, PINGs, job acknowledgements, with room.
const QUEUE: usize = 4 * WINDOW + 64;
/// MQTT's own packet size limit (a remaining length of 268,435,455 plus the fixed header).
const MAX_PACKET: usize = 268_435_455 + 5;
/// Reconnect backoff.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

fn now_secs() -> i64 {
    outpost_core::clock::now_ms() / 1000
}

/// Runs sessions until `stop`, reconnecting with backoff.
pub async fn run(w: Arc<Wire>, dispatcher: Dispatcher, store: Store, stop: CancellationToken) {
    let mut backoff = BACKOFF_MIN;
    let mut cursor = loop {
        match store.register_consumer(CONSUMER).await {
            Ok(c) => break c,
            Err(e) => {
                tracing::error!(error = %e, "socketman: registering the outbox consumer failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.cancelled() => return,
                }
            }
        }
    };
    loop {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut s = Session::new(&w, &dispatcher, &store, cursor, tx);
        let end = s.run(&stop, rx).await;
        cursor = s.cursor;
        match end {
            End::Stopped => return,
            End::Lost(why) => {
                if s.was_up {
                    backoff = BACKOFF_MIN;
                }
                tracing::warn!(
                    broker = %w.peer(),
                    error = %why,
                    retry_in_ms = backoff.as_millis() as u64,
                    "socketman: MQTT connection lost"
                );
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.cancelled() => return,
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

enum End {
    Stopped,
    Lost(String),
}

struct Session<'a> {
    w: &'a Arc<Wire>,
    dispatcher: &'a Dispatcher,
    store: &'a Store,
    /// The last outbox seq all of whose replies the broker acknowledged.
    cursor: u64,
    /// The last outbox seq read.
    next_read: u64,
    /// Rows read, oldest first, with how many of their publishes await a PUBACK.
    pending: VecDeque<(u64, usize)>,
    /// The outbox seq of each publish in the order rumqttc sends them (None: not a reply).
    order: VecDeque<Option<u64>>,
    pkids: HashMap<u16, u64>,
    was_up: bool,
    /// A row's HTTP report (`rest = 1`) done: its seq.
    reported: tokio::sync::mpsc::UnboundedSender<u64>,
}

impl<'a> Session<'a> {
    fn new(
        w: &'a Arc<Wire>,
        dispatcher: &'a Dispatcher,
        store: &'a Store,
        cursor: u64,
        reported: tokio::sync::mpsc::UnboundedSender<u64>,
    ) -> Self {
        Session {
            reported,
            w,
            dispatcher,
            store,
            cursor,
            next_read: cursor,
            pending: VecDeque::new(),
            order: VecDeque::new(),
            pkids: HashMap::new(),
            was_up: false,
        }
    }

    fn connect(&self) -> (AsyncClient, EventLoop) {
        let m = &self.w.mqtt;
        let mut o = MqttOptions::new(self.w.client_id.clone(), m.host.clone(), m.port);
        o.set_keep_alive(KEEPALIVE);
        o.set_clean_session(false);
        o.set_manual_acks(true);
        o.set_inflight(QUEUE as u16);
        // Every packet a broker can send is read (and a job too large refused and
        // acknowledged), never a read error that drops the connection and has the same
        // job redelivered forever (issue 10); a PROCESSED of 51,200 bytes of escaped output
        // fits in what we send.
        o.set_max_packet_size(MAX_PACKET, MAX_PACKET);
        // Set before connecting, with the dial time, as SocketMan did; not retained.
        o.set_last_will(LastWill::new(
            self.w.topics.status.clone(),
            wire::connect(now_secs(), false, &self.w.client_id),
            QoS::AtLeastOnce,
            false,
        ));
        if let Some(u) = &m.username {
            o.set_credentials(u.clone(), m.password.clone().unwrap_or_default());
        }
        if let Some(tls) = &self.w.tls {
            o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
                tls.clone(),
            )));
        }
        let (client, mut el) = AsyncClient::new(o, QUEUE);
        let mut net = NetworkOptions::new();
        net.set_tcp_nodelay(true);
        el.set_network_options(net);
        (client, el)
    }

    async fn run(
        &mut self,
        stop: &CancellationToken,
        mut reported: tokio::sync::mpsc::UnboundedReceiver<u64>,
    ) -> End {
        let (client, el) = self.connect();
        // rumqttc's `poll` is not cancel-safe while it connects (a dropped poll drops the
        // socket after CONNECT, and the broker publishes our will): it runs on a task of
        // its own, which this loop reads events from.
        let (events, mut link) = tokio::sync::mpsc::channel(QUEUE);
        let poller = tokio::spawn(poll(el, events));
        let end = self.session(&client, &mut link, stop, &mut reported).await;
        poller.abort();
        end
    }

    async fn session(
        &mut self,
        client: &AsyncClient,
        link: &mut tokio::sync::mpsc::Receiver<Result<Event, String>>,
        stop: &CancellationToken,
        reported: &mut tokio::sync::mpsc::UnboundedReceiver<u64>,
    ) -> End {
        let (ack_tx, mut ack_rx) = tokio::sync::mpsc::channel::<Publish>(QUEUE);
        let mut live = self.store.subscribe();
        let mut live_open = true;
        let period = Duration::from_secs(self.w.ping_interval);
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // No timer re-reads the outbox: idle means no work. The live feed is subscribed before
        // the first read (`dirty` starts true), so a row committed meanwhile is either read
        // or announced; a lagged feed marks the window dirty too.
        let mut connected = false;
        let mut dirty = true;
        loop {
            if connected && dirty && self.pending.len() < WINDOW {
                match self.read_rows(client).await {
                    Ok(full) => dirty = full,
                    Err(end) => return end,
                }
            }
            tokio::select! {
                ev = link.recv() => match ev.unwrap_or_else(|| Err("the MQTT event loop ended".into())) {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        connected = true;
                        dirty = true;
                        // The subscription first, so the broker has it before anyone
                        // reading CONNECT publishes a job.
                        if client.try_subscribe(self.w.topics.sub.clone(), QoS::AtLeastOnce).is_err() {
                            return End::Lost("rumqttc's request queue refused the subscription".into());
                        }
                        let hello = wire::connect(now_secs(), true, &self.w.client_id);
                        if let Err(e) = self.publish(client, &self.w.topics.status.clone(), hello, QoS::AtLeastOnce, None) {
                            return e;
                        }
                        ping.reset();
                    }
                    Ok(Event::Incoming(Packet::SubAck(s))) => {
                        if s.return_codes.iter().any(|c| matches!(c, SubscribeReasonCode::Failure)) {
                            return End::Lost(format!("the broker refused the subscription to {}", self.w.topics.sub));
                        }
                        if !self.was_up {
                            tracing::info!(
                                broker = %self.w.peer(),
                                client_id = %self.w.client_id,
                                topic = %self.w.topics.sub,
                                "socketman: connected; taking jobs"
                            );
                        }
                        self.was_up = true;
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if p.topic == self.w.topics.sub {
                            self.take_job(p, ack_tx.clone());
                        } else if client.try_ack(&p).is_err() {
                            return End::Lost("rumqttc's request queue is closed".into());
                        }
                    }
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                        if let Some(Some(seq)) = self.order.pop_front() {
                            self.pkids.insert(pkid, seq);
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(a))) => self.acked(a.pkid).await,
                    Ok(_) => {}
                    Err(e) => return End::Lost(e),
                },
                Some(seq) = reported.recv() => self.done_one(seq).await,
                Some(p) = ack_rx.recv() => {
                    if client.try_ack(&p).is_err() {
                        return End::Lost("rumqttc's request queue is closed".into());
                    }
                }
                _ = ping.tick(), if connected && !self.w.no_ping => {
                    if let Err(e) = self.publish(client, &self.w.topics.status.clone(), wire::ping(now_secs()), QoS::ExactlyOnce, None) {
                        return e;
                    }
                }
                r = live.recv(), if live_open => match r {
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => dirty = true,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => live_open = false,
                },
                _ = stop.cancelled() => {
                    self.goodbye(client, link, connected).await;
                    return End::Stopped;
                }
            }
        }
    }

    fn publish(
        &mut self,
        client: &AsyncClient,
        topic: &str,
        payload: Vec<u8>,
        qos: QoS,
        seq: Option<u64>,
    ) -> Result<(), End> {
        client
            .try_publish(topic, qos, false, payload)
            .map_err(|e| End::Lost(format!("rumqttc's request queue refused a publish: {e}")))?;
        self.order.push_back(seq);
        Ok(())
    }

    /// Reads outbox rows after the last one read and publishes SocketMan's replies to those
    /// that are this adapter's. `Ok(true)` when the batch was full (read again).
    async fn read_rows(&mut self, client: &AsyncClient) -> Result<bool, End> {
        let want = WINDOW - self.pending.len();
        let rows = match self.store.outbox_after(self.next_read, want as u32).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "socketman: reading the outbox failed; retrying");
                return Ok(false);
            }
        };
        let full = rows.len() == want;
        for row in &rows {
            self.next_read = row.seq;
            let (replies, report) = replies_for(self.store, row, self.w.rest.is_some()).await;
            self.pending
                .push_back((row.seq, replies.len() + usize::from(report.is_some())));
            if let (Some((id, ok, msg)), Some(rest)) = (report, self.w.rest.clone()) {
                let (done, seq) = (self.reported.clone(), row.seq);
                tokio::spawn(async move {
                    rest.patch(&id, ok, &msg).await;
                    let _ = done.send(seq);
                });
            }
            for (leg, payload) in replies {
                let topic = match leg {
                    Leg::Delivery => self.w.topics.delivery.clone(),
                    Leg::Publish => self.w.topics.publish.clone(),
                };
                self.publish(client, &topic, payload, QoS::AtLeastOnce, Some(row.seq))?;
            }
        }
        self.advance().await;
        Ok(full)
    }

    async fn acked(&mut self, pkid: u16) {
        let Some(seq) = self.pkids.remove(&pkid) else {
            return;
        };
        self.done_one(seq).await;
    }

    /// One of row `seq`'s replies is through (a PUBACK, or its HTTP report).
    async fn done_one(&mut self, seq: u64) {
        if let Some(entry) = self.pending.iter_mut().find(|(s, _)| *s == seq) {
            entry.1 = entry.1.saturating_sub(1);
        }
        self.advance().await;
    }

    /// Moves the cursor past every leading row whose replies are all acknowledged.
    async fn advance(&mut self) {
        let before = self.cursor;
        while let Some((seq, 0)) = self.pending.front().copied() {
            self.cursor = seq;
            self.pending.pop_front();
        }
        if self.cursor != before {
            if let Err(e) = self.store.ack(CONSUMER, self.cursor).await {
                // The rows are published again after the next reconnect: at least once.
                tracing::warn!(error = %e, "socketman: moving the outbox cursor failed");
            }
        }
    }

    /// A job from the broker: parsed, mapped and submitted on a task of its own; its
    /// PUBACK comes back through `ack_tx` once it is stored or refused.
    fn take_job(&self, p: Publish, ack_tx: tokio::sync::mpsc::Sender<Publish>) {
        let w = self.w.clone();
        let dispatcher = self.dispatcher.clone();
        let store = self.store.clone();
        tokio::spawn(async move {
            submit(&w, &dispatcher, &store, &p.payload).await;
            let _ = ack_tx.send(p).await;
        });
    }

    /// On shutdown: the CONNECT "0" the last will would have said (a clean DISCONNECT
    /// suppresses the will), then DISCONNECT, given a moment to go out.
    async fn goodbye(
        &mut self,
        client: &AsyncClient,
        link: &mut tokio::sync::mpsc::Receiver<Result<Event, String>>,
        connected: bool,
    ) {
        if connected {
            let bye = wire::connect(now_secs(), false, &self.w.client_id);
            let _ = client.try_publish(self.w.topics.status.clone(), QoS::AtLeastOnce, false, bye);
        }
        let _ = client.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            loop {
                match link.recv().await {
                    Some(Ok(Event::Outgoing(Outgoing::Disconnect))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await;
    }
}

/// Polls rumqttc's event loop until it fails (or the session stops reading), forwarding
/// every event.
async fn poll(mut el: EventLoop, events: tokio::sync::mpsc::Sender<Result<Event, String>>) {
    loop {
        let ev = el.poll().await.map_err(|e| e.to_string());
        let failed = ev.is_err();
        if events.send(ev).await.is_err() || failed {
            return;
        }
    }
}

/// Submits one job; a refusal before it becomes a job is answered through the outbox.
async fn submit(w: &Wire, dispatcher: &Dispatcher, store: &Store, payload: &[u8]) {
    let job = match wire::parse_job(payload) {
        Ok(j) => j,
        Err(e) => {
            tracing::warn!(topic = %w.topics.sub, error = %e, "socketman: a message that is not a job was dropped (no id to answer)");
            return;
        }
    };
    let network = job
        .kind
        .as_deref()
        .is_some_and(|k| matches!(k, "network" | "networking" | "all"));
    // SocketMan's README promise for `network` jobs: a check before and after, and
    // recovery if the job cut the uplink (with the connectivity monitor; without it, a
    // plain job).
    #[cfg(feature = "connectivity")]
    let before = match (&w.monitor, network) {
        (Some(m), true) => Some((m.clone(), super::monitor::check(m).await)),
        _ => None,
    };
    if network && w.monitor.is_none() {
        tracing::info!(id = %job.id, "socketman: a network job runs unchecked: the connectivity monitor is off");
    }
    let why = match jobs::request(job.msg.as_deref(), &w.order, w.allow_shell)
        .and_then(|req| jobs::spec(&job.id, &req, w.timeout))
    {
        Ok(spec) => match dispatcher.submit(spec).await {
            Ok(_sub) => {
                #[cfg(feature = "connectivity")]
                if let Some((m, before)) = before {
                    // Bounded by the job's own timeout (plus the dispatcher's queue wait,
                    // capped here) and the probes' timeout.
                    tokio::spawn(super::monitor::after_job(
                        m,
                        store.clone(),
                        w.exec.clone(),
                        job.id.clone(),
                        before,
                        _sub.done,
                        w.timeout + Duration::from_secs(60),
                    ));
                }
                return;
            }
            Err(e) => format!("refused: {}: {e}", e.code()),
        },
        Err(why) => format!("refused: {why}"),
    };
    tracing::warn!(id = %job.id, why = %why, "socketman: job refused");
    if let Err(e) = store.append_event(jobs::refused_event(&job.id, &why)).await {
        tracing::error!(id = %job.id, error = %e, "socketman: storing a job's refusal failed; it goes unanswered");
    }
}

/// A `msg…` job's HTTP report (`rest = 1`): its id, success, and output.
type Report = Option<(String, bool, String)>;

/// SocketMan's replies owed for one outbox row (none for rows that are not ours), and its
/// HTTP report with `rest`.
async fn replies_for(store: &Store, row: &OutboxRow, rest: bool) -> (Vec<(Leg, Vec<u8>)>, Report) {
    let report = |id: &str, o: &Outcome| {
        (rest && wire::wants_processed(id)).then(|| {
            let (ok, msg) = jobs::report(o);
            (id.to_owned(), ok, msg.to_owned())
        })
    };
    match &row.item {
        OutboxItem::Result(rec) => match jobs::job_id(rec) {
            Some(id) => {
                let at = rec.finished_at.unwrap_or(row.created_at) / 1000;
                // A refusal names the text it refused: read from the job's stored record
                // (rare, so one lookup each is cheap).
                let asked = if jobs::refused(rec) {
                    store
                        .job(rec.id)
                        .await
                        .ok()
                        .flatten()
                        .as_ref()
                        .and_then(jobs::asked)
                } else {
                    None
                };
                let o = jobs::outcome(rec, asked.as_deref());
                (jobs::replies(id, at, &o, rest), report(id, &o))
            }
            None => (Vec::new(), None),
        },
        OutboxItem::Event(ev) if ev.kind == jobs::REFUSED_EVENT => {
            let p = ev.payload_value();
            let id = p.get("id").and_then(|v| v.as_str()).unwrap_or_default();
            let why = p.get("why").and_then(|v| v.as_str()).unwrap_or("refused");
            if id.is_empty() {
                return (Vec::new(), None);
            }
            let o = Outcome::Refused(why.to_owned());
            (
                jobs::replies(id, row.created_at / 1000, &o, rest),
                report(id, &o),
            )
        }
        OutboxItem::Event(_) => (Vec::new(), None),
    }
}
