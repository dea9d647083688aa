//! The Towerops connection: the WebSocket (wss verified with the system roots; ws only
//! with `TOWEROPS_INSECURE`), driven by [`Session`], reconnected with the uplinks' backoff
//! (1 s doubling to 10 s, reset by a session of 30 s) and at once after `restart`.
//!
//! Jobs go to the dispatcher on a task of their own; what answers them (results, errors)
//! is written to the store's outbox first and sent from there by this pump, an outbox
//! consumer of its own (`uplink:towerops`). The server never acknowledges a push (it only
//! replies to refuse one), so delivery acknowledges by order: after a batch of frames the
//! pump sends a Phoenix heartbeat, and the server's reply to it, which it writes after
//! reading every frame before it, moves the cursor over the batch. What was sent and not
//! so acknowledged is sent again after a reconnect (at least once, same job_id).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use outpost_core::{Dispatcher, Event, JobSpec, JobState, OutboxItem, OutboxRow, Store};
use outpost_proto::towerops::{AgentHeartbeat, AgentJob, AgentJobList, CheckList, JobType};
use secrecy::SecretString;
use tokio_tungstenite::{
    tungstenite::{self, client::IntoClientRequest, protocol::WebSocketConfig},
    Connector, MaybeTlsStream, WebSocketStream,
};
use tokio_util::sync::CancellationToken;

#[cfg(feature = "probes")]
use super::checks;
use super::inventory;
use super::job::{self, agent_error, unix_now, OutFrame, SOURCE_PREFIX};
use super::session::{Action, End, Input, Lane, Now, Session};
use crate::schedules::Schedules;
use crate::uplink::{
    backoff::{Backoff, BackoffConfig},
    delivery::Delivery,
    events::Reporter,
    UplinkMetrics,
};

/// The uplink name: metric label, log prefix, outbox consumer `uplink:towerops`.
pub const NAME: &str = "towerops";
/// The outbox event carrying one frame written by the pump itself (an `error` answering a
/// job that never became one): `{"event", "binary"}`.
pub const FRAME_EVENT: &str = "towerops.frame";
/// Outbox rows in flight (sent, not yet acknowledged by order).
const WINDOW: usize = 256;
const HANDSHAKE: Duration = Duration::from_secs(30);
/// The reference's read limit.
const MAX_MESSAGE: usize = 16 << 20;

const BACKOFF: BackoffConfig = BackoffConfig {
    initial: Duration::from_secs(1),
    max: Duration::from_secs(10),
    reset_after: Duration::from_secs(30),
};

/// What the pump needs, fixed for the agent's life.
pub struct Link {
    pub url: String,
    pub token: SecretString,
    pub dispatcher: Dispatcher,
    pub store: Store,
    pub metrics: UplinkMetrics,
    pub started: Instant,
    /// Where recurring jobs and checks are scheduled (and persisted).
    pub schedules: Schedules,
    /// The newest recurring-job list received, for [`super::keep::keep`] to
    /// apply: only the newest matters (each replaces the last), so one slot is the whole
    /// queue.
    pub jobs_inventory: tokio::sync::watch::Sender<Option<Arc<AgentJobList>>>,
    /// The same for the newest check list.
    pub checks_inventory: tokio::sync::watch::Sender<Option<Arc<CheckList>>>,
}

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Why one connection ended, beyond the session's own reasons.
#[derive(Debug, thiserror::Error)]
enum Ended {
    #[error("{0}")]
    Session(End),
    #[error("connecting failed: {0}")]
    Connect(String),
    #[error("writing failed: {0}")]
    Send(tungstenite::Error),
    #[error("the store's live feed closed")]
    StoreClosed,
    #[error("shutting down")]
    Shutdown,
}

/// Runs until `shutdown`: connect, join, deliver, reconnect.
pub async fn run(link: Arc<Link>, shutdown: CancellationToken) {
    let rep = Reporter::new(NAME, link.metrics.clone());
    let mut live = link.store.subscribe();
    let Some(mut delivery) =
        Delivery::open_retrying(link.store.clone(), rep, WINDOW, 256, &shutdown).await
    else {
        return;
    };
    let label = UplinkMetrics::label(NAME);
    let mut backoff = Backoff::new(BACKOFF);
    loop {
        let mut up_since = None;
        let end = connection(&link, &mut delivery, &mut live, &mut up_since, &shutdown).await;
        link.metrics.connected.get_or_create(&label).set(0);
        if let Err(e) = delivery.commit().await {
            tracing::warn!(error = %e, "towerops: recording the outbox cursor failed");
        }
        if shutdown.is_cancelled() || matches!(end, Ended::Shutdown | Ended::StoreClosed) {
            return;
        }
        link.metrics.reconnects.get_or_create(&label).inc();
        if let Ended::Session(e) = &end {
            if e.immediate() {
                tracing::info!(url = %link.url, "towerops: {e}; reconnecting now");
                backoff = Backoff::new(BACKOFF);
                continue;
            }
        }
        let delay = backoff.next_delay(up_since, false);
        match &end {
            Ended::Session(End::JoinRejected { .. }) => {
                tracing::error!(url = %link.url, "towerops: {end}; retrying in {delay:?}")
            }
            _ => tracing::warn!(url = %link.url, "towerops: {end}; reconnecting in {delay:?}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

async fn connect(url: &str) -> Result<Socket, String> {
    let connector = if url.starts_with("wss://") {
        Connector::Rustls(crate::uplink::tls::client_config().map_err(|e| e.to_string())?)
    } else {
        Connector::Plain
    };
    let mut req = url.into_client_request().map_err(|e| e.to_string())?;
    let agent = format!(
        "outpost/{} (towerops-agent compatible)",
        crate::version::get()
    );
    if let Ok(v) = agent.parse() {
        req.headers_mut().insert("user-agent", v);
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let connecting =
        tokio_tungstenite::connect_async_tls_with_config(req, Some(config), true, Some(connector));
    match tokio::time::timeout(HANDSHAKE, connecting).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no handshake within {} s", HANDSHAKE.as_secs())),
    }
}

fn local_ip(ws: &Socket) -> String {
    let addr = match ws.get_ref() {
        MaybeTlsStream::Plain(s) => s.local_addr().ok(),
        MaybeTlsStream::Rustls(s) => s.get_ref().0.local_addr().ok(),
        _ => None,
    };
    addr.map(|a| a.ip().to_string()).unwrap_or_default()
}

/// Go's GOARCH names, which the server knows.
fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64",
        other => other,
    }
}

fn in_container() -> bool {
    std::path::Path::new("/.dockerenv").exists()
        || std::path::Path::new("/run/.containerenv").exists()
        || std::fs::read_to_string("/proc/1/cgroup").is_ok_and(|c| {
            ["docker", "containerd", "kubepods", "libpod"]
                .iter()
                .any(|w| c.contains(w))
        })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

fn heartbeat_source(started: Instant, ip: String) -> super::session::HeartbeatSource {
    let (host, container) = (hostname(), in_container());
    Box::new(move || {
        let mut local_ips = Vec::new();
        if !ip.is_empty() && ip.parse().is_ok_and(|a: std::net::IpAddr| !a.is_loopback()) {
            local_ips.push(ip.clone());
        }
        AgentHeartbeat {
            version: crate::version::get().to_owned(),
            hostname: host.clone(),
            uptime_seconds: started.elapsed().as_secs(),
            ip_address: ip.clone(),
            arch: arch().to_owned(),
            container,
            local_ips,
            interface_subnets: Vec::new(),
            // Recurring jobs and checks are scheduled here (`inventory.rs`).
            schedules_jobs: true,
        }
    })
}

fn now() -> Now {
    Now {
        mono: Instant::now(),
        unix: unix_now(),
    }
}

/// A pushed frame not yet acknowledged: its row, and whether it was already re-sent.
struct Pushed {
    seq: u64,
    frame: OutFrame,
    resent: bool,
}

async fn connection(
    link: &Link,
    delivery: &mut Delivery,
    live: &mut tokio::sync::broadcast::Receiver<Arc<OutboxRow>>,
    up_since: &mut Option<Instant>,
    shutdown: &CancellationToken,
) -> Ended {
    let mut ws = tokio::select! {
        r = connect(&link.url) => match r {
            Ok(ws) => ws,
            Err(e) => return Ended::Connect(e),
        },
        _ = shutdown.cancelled() => return Ended::Shutdown,
    };
    let hb = heartbeat_source(link.started, local_ip(&ws));
    let mut s = Session::new(super::fresh_topic(), link.token.clone(), Instant::now(), hb);
    // The join carries the token: written, never logged.
    if let Err(e) = ws
        .send(tungstenite::Message::Text(s.join_frame().into()))
        .await
    {
        return Ended::Send(e);
    }
    let label = UplinkMetrics::label(NAME);
    let mut joined = false;
    // Phoenix heartbeats sent after a batch: their ref, and the last row sent before them.
    let mut marks: VecDeque<(String, u64)> = VecDeque::new();
    let mut pushed: HashMap<String, Pushed> = HashMap::new();
    loop {
        if joined {
            match delivery.next().await {
                Ok(rows) if !rows.is_empty() => {
                    let mut last = None;
                    for row in rows {
                        let frames = frames_for(link, &row).await;
                        if frames.is_empty() {
                            // Not ours (another uplink's traffic): nothing to wait for.
                            delivery.ack_one(row.seq);
                            continue;
                        }
                        for f in frames {
                            let (r, text) = s.push_base64(&f.event, &f.binary);
                            if let Err(e) = ws.feed(tungstenite::Message::Text(text.into())).await {
                                return Ended::Send(e);
                            }
                            link.metrics.sent.get_or_create(&label).inc();
                            pushed.insert(
                                r,
                                Pushed {
                                    seq: row.seq,
                                    frame: f,
                                    resent: false,
                                },
                            );
                        }
                        last = Some(row.seq);
                    }
                    if let Some(seq) = last {
                        let (r, text) = s.sync_frame();
                        if let Err(e) = ws.feed(tungstenite::Message::Text(text.into())).await {
                            return Ended::Send(e);
                        }
                        marks.push_back((r, seq));
                    }
                    if let Err(e) = ws.flush().await {
                        return Ended::Send(e);
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "towerops: reading the outbox failed"),
            }
        }
        let wake = tokio::time::Instant::from_std(s.next_wake());
        let actions = tokio::select! {
            msg = ws.next() => match msg {
                None | Some(Ok(tungstenite::Message::Close(_))) | Some(Err(_)) => {
                    s.on_input(now(), Input::Closed)
                }
                Some(Ok(tungstenite::Message::Text(t))) => s.on_input(now(), Input::Text(&t)),
                Some(Ok(_)) => continue,
            },
            r = live.recv() => {
                if delivery.feed(r).is_err() {
                    return Ended::StoreClosed;
                }
                continue;
            }
            _ = tokio::time::sleep_until(wake) => s.on_input(now(), Input::Tick),
            _ = shutdown.cancelled() => {
                let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                return Ended::Shutdown;
            }
        };
        for a in actions {
            match a {
                Action::Send(text) => {
                    if let Err(e) = ws.feed(tungstenite::Message::Text(text.into())).await {
                        return Ended::Send(e);
                    }
                }
                Action::Joined => {
                    joined = true;
                    *up_since = Some(Instant::now());
                    delivery.restart();
                    link.metrics.connected.get_or_create(&label).set(1);
                    tracing::info!(url = %link.url, topic = %s.topic(), resend_from = delivery.cursor(), "towerops: joined");
                }
                Action::Jobs { lane, list } => {
                    let (once, recurring): (Vec<_>, Vec<_>) = if lane == Lane::Jobs {
                        list.jobs
                            .iter()
                            .cloned()
                            .partition(|j| j.interval_seconds == 0)
                    } else {
                        (list.jobs.clone(), Vec::new())
                    };
                    // The original's rule: recurring jobs replace the inventory only when
                    // the frame has some, or is empty (which clears it).
                    if lane == Lane::Jobs && (!recurring.is_empty() || list.jobs.is_empty()) {
                        link.jobs_inventory
                            .send_replace(Some(Arc::new(AgentJobList { jobs: recurring })));
                    }
                    if !once.is_empty() {
                        let (d, st) = (link.dispatcher.clone(), link.store.clone());
                        tokio::spawn(submit_all(d, st, AgentJobList { jobs: once }));
                    }
                }
                // The newest list replaces the check inventory (an empty one clears it).
                Action::Checks(list) => {
                    link.checks_inventory.send_replace(Some(Arc::new(list)));
                }
                Action::Update(req) => {
                    let (d, st) = (link.dispatcher.clone(), link.store.clone());
                    tokio::spawn(submit_update(d, st, req));
                }
                Action::Acked(r) => {
                    let Some(i) = marks.iter().position(|(m, _)| *m == r) else {
                        continue;
                    };
                    let mut upto = 0;
                    for (_, seq) in marks.drain(..=i) {
                        upto = seq;
                    }
                    pushed.retain(|_, p| p.seq > upto);
                    delivery.ack_upto(upto);
                    let n = delivery.commit_soon();
                    link.metrics.acked.get_or_create(&label).inc_by(n as u64);
                }
                Action::Refused { msg_ref, reason } => {
                    let Some(p) = pushed.remove(&msg_ref) else {
                        continue;
                    };
                    if p.resent || reason.starts_with("Message too large") {
                        tracing::warn!(event = %p.frame.event, reason = %reason, "towerops: the server refused a frame; dropped");
                        let code = crate::uplink::UplinkCode {
                            uplink: NAME.into(),
                            code: "refused".into(),
                        };
                        link.metrics.broker_dropped.get_or_create(&code).inc();
                        continue;
                    }
                    let (r, text) = s.push_base64(&p.frame.event, &p.frame.binary);
                    if let Err(e) = ws.feed(tungstenite::Message::Text(text.into())).await {
                        return Ended::Send(e);
                    }
                    pushed.insert(r, Pushed { resent: true, ..p });
                }
                Action::End(e) => return Ended::Session(e),
            }
        }
        if let Err(e) = ws.flush().await {
            return Ended::Send(e);
        }
    }
}

/// The frames answering outbox row `row`, empty when it is not this adapter's.
async fn frames_for(link: &Link, row: &OutboxRow) -> Vec<OutFrame> {
    let store = &link.store;
    match &row.item {
        OutboxItem::Result(rec) => {
            #[cfg(feature = "probes")]
            if let Some(f) = super::ping::answer(rec) {
                return vec![f];
            }
            if rec.source == UPDATE_SOURCE {
                return update_outcome(rec);
            }
            // A run of a recurring job scheduled here.
            let scheduled = rec
                .schedule
                .as_deref()
                .filter(|s| inventory::is_of(inventory::JOBS, s));
            #[cfg(feature = "probes")]
            if let Some(sid) = scheduled.filter(|_| rec.kind == "ping") {
                let labels = inventory::labels_of(&link.schedules, sid).await;
                let device = labels
                    .get(inventory::DEVICE_LABEL)
                    .map_or("", |d| d.as_str());
                return vec![super::ping::answer_as(rec, device)];
            }
            #[cfg(feature = "probes")]
            if let Some(sid) = rec
                .schedule
                .as_deref()
                .filter(|s| inventory::is_of(inventory::CHECKS, s))
                .filter(|_| checks::KINDS.contains(&rec.kind.as_str()))
            {
                let labels = inventory::labels_of(&link.schedules, sid).await;
                let label = |k: &str| labels.get(k).map_or("", |v| v.as_str());
                // A schedule removed since the run (a newer list): its id is in the
                // schedule's when it is a plain one.
                let id = match label(checks::LABEL_ID) {
                    "" => sid
                        .strip_prefix(inventory::CHECKS)
                        .and_then(|r| r.strip_prefix(':'))
                        .unwrap_or(""),
                    id => id,
                };
                return vec![checks::answer(rec, id, label(checks::LABEL_EXPECT))];
            }
            let job_id = match rec.source.strip_prefix(SOURCE_PREFIX) {
                Some(id) => Some(id.to_owned()),
                None if scheduled.is_some()
                    && (rec.kind == job::KIND || rec.kind == super::mikrotik::KIND) =>
                {
                    None
                }
                None => return Vec::new(),
            };
            if rec.state == JobState::Succeeded {
                let out = rec
                    .output
                    .as_ref()
                    .and_then(|o| serde_json::from_str::<job::Output>(o.get()).ok());
                if let Some(out) = out {
                    return out.frames;
                }
            }
            // It failed before it could answer (timed out, interrupted by a restart):
            // the device id (and a scheduled run's job id) are in its stored params
            // (rare, so one lookup each).
            let params = store
                .job(rec.id)
                .await
                .ok()
                .flatten()
                .and_then(|r| r.params)
                .map(|p| p.to_value())
                .unwrap_or_default();
            let text = |k: &str| params[k].as_str().unwrap_or_default().to_owned();
            let device_id = text("device_id");
            let job_id = job_id.unwrap_or_else(|| text("job_id"));
            let why = rec
                .error
                .as_ref()
                .map(|e| format!("{}: {}", e.code, e.message))
                .unwrap_or_else(|| rec.state.as_str().to_owned());
            // A backup is answered in its own shape (the server waits for that).
            if rec.kind == super::backup::job::KIND {
                let legacy = params["legacy"].as_bool().unwrap_or(false);
                return vec![super::backup::job::unfinished(
                    &device_id, &job_id, legacy, rec.state, &why,
                )];
            }
            vec![agent_error(
                &device_id,
                &job_id,
                format!("job {}: {why}", rec.state.as_str()),
            )]
        }
        OutboxItem::Event(ev) if ev.kind == FRAME_EVENT => {
            match serde_json::from_value::<OutFrame>(ev.payload_value()) {
                Ok(f) => vec![f],
                Err(_) => Vec::new(),
            }
        }
        OutboxItem::Event(ev) => {
            match super::trap::from_event(&ev.kind, &ev.payload_value(), ev.at) {
                // Every accepted notification, as the original's `trap` event.
                Some(t) => vec![job::frame(outpost_proto::towerops::event::TRAP, &t)],
                None => Vec::new(),
            }
        }
    }
}

/// The source of the `agent.update` job a Towerops `update` becomes.
const UPDATE_SOURCE: &str = "towerops-update";
/// The `job_id` of the AgentError reporting an update that did not happen.
const UPDATE_JOB_ID: &str = "update";

/// `update {url, checksum}` as an `agent.update` job: the updater decides. A checksum-only
/// update is refused unless `update.allow_unsigned_checksum` is on, and inside a container
/// the binary is never replaced; either way the server hears why (the original failed
/// silently). A job that cannot even be submitted is answered the same way.
async fn submit_update(
    dispatcher: Dispatcher,
    store: Store,
    req: outpost_proto::towerops::UpdateRequest,
) {
    tracing::info!(url = %req.url, "towerops: update requested");
    let spec = JobSpec {
        id: None,
        kind: "agent.update".into(),
        params: serde_json::json!({"url": req.url, "checksum": req.checksum}),
        timeout: UPDATE_TIMEOUT,
        source: UPDATE_SOURCE.into(),
    };
    if let Err(e) = dispatcher.submit(spec).await {
        let msg = format!("update refused: {e}");
        store_frame(&store, agent_error("", UPDATE_JOB_ID, msg)).await;
    }
}

/// How long an update's download and swap may take.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(600);

/// What the server hears of a finished update: nothing when it succeeded (the agent
/// restarts into the new version, whose heartbeat says so), else an AgentError with the
/// updater's code and reason.
fn update_outcome(rec: &outpost_core::JobRecord) -> Vec<OutFrame> {
    if rec.state == JobState::Succeeded {
        return Vec::new();
    }
    let why = rec
        .error
        .as_ref()
        .map(|e| format!("{}: {}", e.code, e.message))
        .unwrap_or_else(|| rec.state.as_str().to_owned());
    vec![agent_error(
        "",
        UPDATE_JOB_ID,
        format!("update failed: {why}"),
    )]
}

/// Stores `f` in the outbox (it is sent from there).
pub(super) async fn store_frame(store: &Store, f: OutFrame) {
    let payload = serde_json::json!({ "event": f.event, "binary": f.binary });
    if let Err(e) = store.append_event(Event::new(FRAME_EVENT, payload)).await {
        tracing::error!(error = %e, "towerops: storing an error frame failed; it goes unsent");
    }
}

fn type_name(t: JobType) -> &'static str {
    match t {
        JobType::Discover => "DISCOVER",
        JobType::Poll => "POLL",
        JobType::Mikrotik => "MIKROTIK",
        JobType::TestCredentials => "TEST_CREDENTIALS",
        JobType::Ping => "PING",
        JobType::LldpTopology => "LLDP_TOPOLOGY",
        JobType::NetworkSweep => "NETWORK_SWEEP",
        JobType::CredentialProbe => "CREDENTIAL_PROBE",
        JobType::ConfigBackup => "CONFIG_BACKUP",
    }
}

/// Submits every job of a list of one-shots (recurring ones are scheduled by
/// [`super::keep::keep`]); a job that cannot be one is answered with an `error` through the
/// outbox.
async fn submit_all(dispatcher: Dispatcher, store: Store, list: AgentJobList) {
    for j in list.jobs {
        let t = match JobType::try_from(j.job_type) {
            #[cfg(feature = "probes")]
            Ok(JobType::Ping) => {
                match super::ping::spec(&j) {
                    Ok(spec) => submit(&dispatcher, &store, &j, JobType::Ping, spec).await,
                    Err(f) => store_frame(&store, f).await,
                }
                continue;
            }
            Ok(JobType::ConfigBackup) => {
                submit_backup(&dispatcher, &store, &j, super::backup::job::spec(&j)).await;
                continue;
            }
            // The legacy SSH export; other MIKROTIK jobs are the RouterOS API's.
            Ok(JobType::Mikrotik) if super::backup::job::is_legacy(&j) => {
                let spec = super::backup::job::legacy_spec(&j);
                submit_backup(&dispatcher, &store, &j, spec).await;
                continue;
            }
            Ok(JobType::Mikrotik) => {
                match super::mikrotik::spec(&j) {
                    Ok(spec) => submit(&dispatcher, &store, &j, JobType::Mikrotik, spec).await,
                    Err(f) => store_frame(&store, f).await,
                }
                continue;
            }
            Ok(t) if job::handles(t) => t,
            _ => {
                let msg = format!("unsupported job type {}", j.job_type);
                store_frame(&store, agent_error(&j.device_id, &j.job_id, msg)).await;
                continue;
            }
        };
        let spec = match job::spec(&j) {
            Ok(s) => s,
            Err(f) => {
                store_frame(&store, f).await;
                continue;
            }
        };
        submit(&dispatcher, &store, &j, t, spec).await;
    }
}

/// Submits one job; a refusal is answered with an `error` through the outbox.
async fn submit(dispatcher: &Dispatcher, store: &Store, j: &AgentJob, t: JobType, spec: JobSpec) {
    if let Err(e) = dispatcher.submit(spec).await {
        let msg = match e {
            outpost_core::SubmitError::Busy { .. } => {
                format!("worker pool overloaded; retry {} job", type_name(t))
            }
            other => format!("job refused: {other}"),
        };
        store_frame(store, agent_error(&j.device_id, &j.job_id, msg)).await;
    }
}

/// Submits a backup job; a refusal is answered with the backup's own result frame
/// (AGENT_BUSY when the pool is full, as the original answers).
async fn submit_backup(
    dispatcher: &Dispatcher,
    store: &Store,
    j: &AgentJob,
    spec: Result<JobSpec, OutFrame>,
) {
    let spec = match spec {
        Ok(s) => s,
        Err(f) => return store_frame(store, f).await,
    };
    match dispatcher.submit(spec).await {
        Ok(_) => {}
        Err(outpost_core::SubmitError::Busy { .. }) => {
            store_frame(store, super::backup::job::busy(j)).await
        }
        Err(other) => {
            let msg = format!("job refused: {other}");
            store_frame(store, agent_error(&j.device_id, &j.job_id, msg)).await;
        }
    }
}
