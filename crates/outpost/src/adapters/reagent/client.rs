//! The socket pump around [`Session`]: connects (TLS verified against the system roots),
//! offers `wamp.2.json`, feeds the machine what the socket and the clock bring, runs the
//! invoked procedures behind their privilege checks, and reconnects with backoff.
//!
//! Work an invocation starts (a job, a command, a host read) runs on a task of its own,
//! at most [`IN_FLIGHT`] at once, and its answer comes back on a channel: the read loop
//! never waits on it. So does the collection of the heartbeat's figures.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use outpost_proto::wamp::{Payload, SUBPROTOCOL};
use tokio::time::Instant;
use tokio_tungstenite::{
    tungstenite::{self, client::IntoClientRequest, protocol::WebSocketConfig},
    Connector, MaybeTlsStream, WebSocketStream,
};
use tokio_util::sync::CancellationToken;

use crate::deadline::sleep_until;

use super::flock::Flock;
use super::logstream::{LogMetrics, LogStreams, Publish};
use super::privilege::{Decision, Privilege, Privileges, CHECK_PROCEDURE};
use super::procedures::{self, Device, Work, PROCEDURES};
use super::session::{Action, End, Identity, Input, Session};
use super::terminal::{self, Terminals};
use super::words::ParamOrder;
use super::{jobs, stats, system};

/// Reagent's dial timeout is 1.25 s; a loaded device or a far router needs more.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Reagent exits after this many duplicate-serial refusals in a row; we keep retrying (at
/// the longest backoff) and say so at error level.
const DUPLICATE_LIMIT: u32 = 8;

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// The backend's requested app states, asked after each join.
const REQUESTED_APPS: &str = "reswarm.containers.get_requested_app_states";

/// Invocations whose work is running at once; one more is answered "busy" at once.
pub const IN_FLIGHT: usize = 16;

pub struct Wire {
    pub flock: Flock,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Every job an invocation becomes goes through it.
    pub dispatcher: outpost_core::Dispatcher,
    /// `execute_cmd`'s allowlist parameter order. `None` while exec is off (the procedure
    /// then answers so).
    pub exec: Option<Arc<ParamOrder>>,
    /// The heartbeat's figures.
    pub host: outpost_host::Host,
    /// The container engine and its disk guard, when containers are on.
    pub engine: Option<stats::Engine>,
    /// The system procedures' commands.
    pub commands: system::Commands,
    pub heartbeat: Duration,
    /// Reconnect delays: the uplinks' (`uplink.backoff_*`; Reagent itself redials every
    /// second, the default first ceiling), with full jitter so a fleet does not return in
    /// lock-step.
    pub reconnect: crate::uplink::backoff::BackoffConfig,
    /// Reagent's apps, when containers are on.
    pub apps: Option<Arc<super::app_driver::AppDriver>>,
    /// App states for `update_app_on_device` and those not yet answered; one session
    /// holds them at a time, and they outlive it.
    pub reports: tokio::sync::Mutex<(
        tokio::sync::mpsc::Receiver<serde_json::Value>,
        super::app_reports::ReportQueue,
    )>,
    /// The log topics' figures (logstream.rs).
    pub log_metrics: LogMetrics,
    /// Container terminals (terminal.rs).
    pub terminals: terminal::Settings,
    /// `reagent.device_log_file`, for `query_device_logs`.
    pub device_log: Option<std::path::PathBuf>,
}

/// Publications waiting for the pump: log batches and terminal output.
const PUBLISH_QUEUE: usize = 64;

/// The router's meta-events the pump subscribes after joining.
#[derive(Clone, Copy, Debug)]
enum Meta {
    /// `wamp.subscription.on_create`: a log topic's first subscriber.
    Create,
    /// `wamp.subscription.on_delete`: its last one left.
    Delete,
    /// `wamp.registration.on_unregister`: a terminal client went away.
    Unregister,
}

const META: [(&str, Meta); 3] = [
    ("wamp.subscription.on_create", Meta::Create),
    ("wamp.subscription.on_delete", Meta::Delete),
    ("wamp.registration.on_unregister", Meta::Unregister),
];

type Replies = tokio::sync::mpsc::Sender<(u64, Result<Payload, String>)>;

/// What an invocation's task computes.
async fn perform(w: &Wire, work: Work) -> Result<Payload, String> {
    match work {
        Work::Done(out) => out,
        Work::Exec(line) => match &w.exec {
            Some(order) => super::exec::run(&w.dispatcher, order, &line).await,
            None => {
                Err("execute_cmd needs exec.enabled = true and the command in [commands]".into())
            }
        },
        Work::Job(call) => {
            let mut extra = jobs::Extra::default();
            if call.shape == jobs::Shape::Storage {
                if let Some(e) = &w.engine {
                    extra.docker = stats::docker(e).await.0;
                }
            }
            jobs::run(&w.dispatcher, &call, extra).await
        }
        Work::System(procedure) => {
            let command = w.commands.of(procedure)?;
            system::run(&w.dispatcher, procedure, command).await
        }
        Work::AppRequest(r) => match &w.apps {
            // Reagent's reply: ∅ at once, the transition goes on (its states reported).
            Some(apps) => apps.request(*r).await.map(|()| Payload::default()),
            None => Err("request_app_state needs containers.enabled = true".into()),
        },
        Work::AppStates => match &w.apps {
            Some(apps) => Ok(Payload::args(vec![apps.records()])),
            None => Err("get_requested_app_states needs containers.enabled = true".into()),
        },
        Work::DeviceLogs(q) => {
            let Some(path) = w.device_log.clone() else {
                return Err("query_device_logs: reagent.device_log_file names no log file".into());
            };
            tokio::task::spawn_blocking(move || super::applogs::read_device_logs(&path, &q))
                .await
                .map_err(|e| format!("reading the device log failed: {e}"))?
        }
        // The pump runs these itself (`terminal_work`).
        Work::Terminal(name, _) => Err(format!("{name}: not a task")),
    }
}

/// Answers at once, or starts the work whose reply comes back on `replies`.
fn work(
    w: &Arc<Wire>,
    s: &Session,
    request: u64,
    work: Work,
    queue: &mut std::collections::VecDeque<Action>,
    (replies, permits): (&Replies, &Arc<tokio::sync::Semaphore>),
) {
    if let Work::Done(out) = work {
        queue.push_back(Action::Send(s.reply(request, out)));
        return;
    }
    let Ok(permit) = permits.clone().try_acquire_owned() else {
        queue.push_back(Action::Send(s.reply(
            request,
            Err(format!(
                "busy: {IN_FLIGHT} invocations are running; try again"
            )),
        )));
        return;
    };
    let (w, replies) = (w.clone(), replies.clone());
    tokio::spawn(async move {
        let out = perform(&w, work).await;
        // The session may have ended meanwhile: its reply goes nowhere. The channel holds
        // one reply per permit, so this never waits.
        let _ = replies.send((request, out)).await;
        drop(permit);
    });
}

/// The heartbeat's figures and whether the disk guard has tripped.
async fn collect(w: &Wire) -> (serde_json::Value, bool) {
    let host = w.host.clone();
    let snap = tokio::task::spawn_blocking(move || stats::host_snapshot(&host))
        .await
        .unwrap_or_default();
    let (docker, low) = match &w.engine {
        Some(e) => stats::docker(e).await,
        None => (None, false),
    };
    (stats::from_snapshot(&snap, docker.as_ref()), low)
}

/// Runs sessions until `stop`.
pub async fn run(w: Arc<Wire>, stop: CancellationToken) {
    let mut backoff = crate::uplink::backoff::Backoff::new(w.reconnect);
    let mut duplicates = 0u32;
    loop {
        let started = Instant::now();
        let end = tokio::select! {
            e = session(&w) => e,
            _ = stop.cancelled() => return,
        };
        match &end {
            End::BadSecret(_) => tracing::error!(url = %w.flock.endpoint, "reagent: {end}"),
            End::DuplicateSerial(_) => {
                duplicates += 1;
                if duplicates >= DUPLICATE_LIMIT {
                    tracing::error!("reagent: {end} ({duplicates} times in a row)");
                    backoff.exhaust();
                } else {
                    tracing::warn!("reagent: {end}");
                }
            }
            _ => {
                duplicates = 0;
                tracing::warn!(url = %w.flock.endpoint, "reagent: session ended: {end}");
            }
        }
        // A session that ended quickly backs off further even if it joined (not
        // "productive"): a router that kills every session after the join must not be
        // redialled at once, forever. One that lasted `reset_after` resets it.
        let (delay, ceiling) = backoff.next_delay_under(Some(started.into_std()), false);
        tracing::info!(
            "reagent: reconnecting in {} ms (backoff ceiling {} ms)",
            delay.as_millis(),
            ceiling.as_millis()
        );
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.cancelled() => return,
        }
    }
}

async fn connect(w: &Wire) -> Result<Socket, String> {
    let mut req = w
        .flock
        .endpoint
        .as_str()
        .into_client_request()
        .map_err(|e| format!("device_endpoint_url: {e}"))?;
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        tungstenite::http::HeaderValue::from_static(SUBPROTOCOL),
    );
    let connector = match &w.tls {
        Some(tls) => Connector::Rustls(tls.clone()),
        None => Connector::Plain,
    };
    let config = WebSocketConfig::default()
        .max_message_size(Some(outpost_proto::wamp::MAX_FRAME_BYTES))
        .max_frame_size(Some(outpost_proto::wamp::MAX_FRAME_BYTES));
    let dial =
        tokio_tungstenite::connect_async_tls_with_config(req, Some(config), true, Some(connector));
    let (ws, resp) = match tokio::time::timeout(CONNECT_TIMEOUT, dial).await {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => {
            return Err(format!(
                "no connection within {} s",
                CONNECT_TIMEOUT.as_secs()
            ))
        }
    };
    let chosen = resp.headers().get("Sec-WebSocket-Protocol");
    if chosen.and_then(|v| v.to_str().ok()) != Some(SUBPROTOCOL) {
        return Err(format!(
            "the router did not accept {SUBPROTOCOL} ({chosen:?})"
        ));
    }
    Ok(ws)
}

/// A privilege check in flight, for the invocation waiting on it.
struct Waiting {
    invocation: u64,
    name: String,
    account: u64,
    privilege: Privilege,
    payload: Payload,
}

/// A terminal procedure, run by the pump (it needs the session). `None`: not one.
fn terminal_work(
    terms: &mut Terminals,
    s: &mut Session,
    request: u64,
    todo: Work,
    replies: &Replies,
) -> Result<Vec<Action>, Work> {
    let Work::Terminal(name, payload) = todo else {
        return Err(todo);
    };
    let outcome = match name.as_str() {
        "request_terminal_session" => terms.request(&payload),
        "start_terminal_session" => match terms.start(s, request, &payload, replies) {
            // Answered by the terminal's task.
            Ok(actions) => return Ok(actions),
            Err(e) => Err(e),
        },
        "stop_terminal_session" => terms.stop(&payload),
        resize => terms.resize(resize, &payload),
    };
    if let Err(e) = &outcome {
        tracing::warn!(procedure = %name, "reagent: {e}");
    }
    Ok(vec![Action::Send(s.reply(request, outcome))])
}

/// One session, from the dial to its end.
async fn session(w: &Arc<Wire>) -> End {
    let (figures, low) = collect(w).await;
    let mut ws = match connect(w).await {
        Ok(ws) => ws,
        Err(e) => return End::Connect(e),
    };
    let f = &w.flock;
    let id = Identity {
        authid: f.authid(),
        serial: f.serial.clone(),
        swarm_key: f.swarm_key,
        device_key: f.device_key,
    };
    let names = PROCEDURES.iter().map(|p| p.name.to_owned()).collect();
    let (s, first) = Session::start(id, f.secret.clone(), names, Instant::now().into_std());
    let mut s = s.with_heartbeat(w.heartbeat);
    s.set_stats(figures, low);
    let device = Device {
        serial: f.serial.clone(),
    };
    let mut privileges = Privileges::default();
    let mut waiting: HashMap<u64, Waiting> = HashMap::new();
    let mut queue: std::collections::VecDeque<Action> = first.into();
    let (replies, mut done) = tokio::sync::mpsc::channel(IN_FLIGHT);
    let permits = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    // The next heartbeat's figures, collected on a task after each heartbeat.
    let (figures_tx, mut figures_rx) = tokio::sync::mpsc::channel(1);
    let mut collecting = false;
    let mut reports = w.reports.lock().await;
    let (reports_rx, pending) = &mut *reports;
    pending.reconnected();
    // The join's `get_requested_app_states` call.
    let mut sync_call: Option<u64> = None;
    let (publish_tx, mut publish_rx) = tokio::sync::mpsc::channel::<Publish>(PUBLISH_QUEUE);
    let (ended_tx, mut ended_rx) = tokio::sync::mpsc::channel(terminal::MAX_SESSIONS);
    let mut logs = LogStreams::new(
        &f.serial,
        w.engine.clone(),
        w.log_metrics.clone(),
        publish_tx.clone(),
    );
    let mut terms = Terminals::new(
        &f.serial,
        w.terminals.clone(),
        w.engine.clone(),
        publish_tx,
        ended_tx,
    );
    // Meta-event SUBSCRIBEs in flight, and the subscriptions they made.
    let mut meta_requests: HashMap<u64, Meta> = HashMap::new();
    let mut meta_subs: HashMap<u64, Meta> = HashMap::new();
    // Log topics that may have been subscribed before we joined, and their
    // `wamp.subscription.match` calls in flight.
    let (revive_tx, mut revive_rx) = tokio::sync::mpsc::channel::<Vec<String>>(1);
    let mut matching: HashMap<u64, String> = HashMap::new();
    loop {
        while let Some(a) = queue.pop_front() {
            match a {
                Action::Send(text) => {
                    if let Err(e) = ws.send(tungstenite::Message::text(text)).await {
                        return End::Connect(format!("writing: {e}"));
                    }
                }
                Action::Joined { session } => {
                    tracing::info!(url = %f.endpoint, authid = %f.authid(), session, "reagent: joined realm1");
                    // What the platform wants of the apps (Reagent's sync on connect).
                    if w.apps.is_some() {
                        let args = serde_json::json!({"device_key": f.device_key});
                        let now = Instant::now().into_std();
                        if let Some((call, send)) =
                            s.call(REQUESTED_APPS, Payload::args(vec![args]), now)
                        {
                            sync_call = Some(call);
                            queue.push_back(send);
                        }
                    }
                    let now = Instant::now().into_std();
                    for (topic, m) in META {
                        if let Some((req, send)) = s.subscribe(topic, now) {
                            meta_requests.insert(req, m);
                            queue.push_back(send);
                        }
                    }
                    if let Some(engine) = w.engine.clone() {
                        let (tx, serial) = (revive_tx.clone(), f.serial.clone());
                        tokio::spawn(async move {
                            let topics = super::logstream::topics_to_revive(&engine, &serial).await;
                            let _ = tx.send(topics).await;
                        });
                    }
                }
                Action::Acked { request, outcome } => {
                    if let Some(m) = meta_requests.remove(&request) {
                        match outcome {
                            Ok(sub) => {
                                meta_subs.insert(sub, m);
                            }
                            Err(e) => tracing::warn!(
                                "reagent: subscribing the router's {m:?} meta-events failed: {e}"
                            ),
                        }
                    } else if !terms.on_acked(request, &outcome) {
                        if let Err(e) = outcome {
                            tracing::debug!("reagent: a publication or unsubscription failed: {e}");
                        }
                    }
                }
                Action::Event {
                    subscription,
                    payload,
                    ..
                } => match meta_subs.get(&subscription) {
                    Some(Meta::Create) => logs.on_create(&payload),
                    Some(Meta::Delete) => logs.on_delete(&payload),
                    Some(Meta::Unregister) => terms.on_unregister(&payload),
                    None => {
                        terms.on_event(subscription, &payload);
                    }
                },
                Action::Warn(msg) => tracing::warn!("reagent: {msg}"),
                Action::Refresh if !collecting => {
                    collecting = true;
                    let (w, tx) = (w.clone(), figures_tx.clone());
                    tokio::spawn(async move {
                        let _ = tx.send(collect(&w).await).await;
                    });
                }
                Action::Refresh => {}
                Action::End(e) => {
                    let _ = ws.close(None).await;
                    return e;
                }
                Action::Invoke {
                    request,
                    name,
                    details,
                    payload,
                } => {
                    let Some(privilege) = procedures::privilege_of(&name) else {
                        queue.push_back(Action::Send(
                            s.reply(request, Err(format!("unknown procedure {name}"))),
                        ));
                        continue;
                    };
                    let now = Instant::now().into_std();
                    match privileges.decide(
                        privilege,
                        &details,
                        &payload,
                        f.swarm_key,
                        f.device_key,
                        now,
                    ) {
                        Decision::Allowed => {
                            let todo = procedures::handle(&device, &name, &payload);
                            match terminal_work(&mut terms, &mut s, request, todo, &replies) {
                                Ok(actions) => queue.extend(actions),
                                Err(todo) => {
                                    work(w, &s, request, todo, &mut queue, (&replies, &permits))
                                }
                            }
                        }
                        Decision::Denied(why) => {
                            tracing::warn!(procedure = %name, "reagent: refused: {why}");
                            queue.push_back(Action::Send(s.reply(request, Err(why))));
                        }
                        Decision::Check {
                            account,
                            payload: check,
                        } => {
                            if let Some((call, send)) = s.call(CHECK_PROCEDURE, check, now) {
                                waiting.insert(
                                    call,
                                    Waiting {
                                        invocation: request,
                                        name,
                                        account,
                                        privilege,
                                        payload,
                                    },
                                );
                                queue.push_back(send);
                            }
                        }
                    }
                }
                Action::CallDone { request, outcome } => {
                    if sync_call == Some(request) {
                        sync_call = None;
                        match (&w.apps, outcome) {
                            (Some(apps), Ok(mut p)) => apps.sync(if p.args.is_empty() {
                                serde_json::Value::Null
                            } else {
                                p.args.swap_remove(0)
                            }),
                            (_, Err((error, _))) => {
                                tracing::warn!("reagent: {REQUESTED_APPS} failed: {error}")
                            }
                            (None, _) => {}
                        }
                        continue;
                    }
                    if pending.done(request, outcome.is_ok(), Instant::now().into_std()) {
                        if let Err((error, _)) = &outcome {
                            tracing::warn!("reagent: update_app_on_device failed: {error}");
                        }
                        continue;
                    }
                    if let Some(topic) = matching.remove(&request) {
                        // `[ids]` of the subscriptions on the topic, or null.
                        let first = outcome.ok().and_then(|p| {
                            p.args.first().and_then(|v| v.as_array()?.first()?.as_u64())
                        });
                        if let Some(id) = first {
                            logs.follow(id, &topic);
                        }
                        continue;
                    }
                    let Some(wt) = waiting.remove(&request) else {
                        continue;
                    };
                    let now = Instant::now().into_std();
                    let decision = match outcome {
                        Ok(reply) => privileges.answer(wt.account, wt.privilege, &reply, now),
                        Err((error, _)) => {
                            Decision::Denied(format!("the privilege check failed: {error}"))
                        }
                    };
                    let todo = match decision {
                        Decision::Allowed => procedures::handle(&device, &wt.name, &wt.payload),
                        Decision::Denied(why) => {
                            tracing::warn!(procedure = %wt.name, "reagent: refused: {why}");
                            Work::Done(Err(why))
                        }
                        Decision::Check { .. } => {
                            Work::Done(Err("the privilege check did not decide".into()))
                        }
                    };
                    match terminal_work(&mut terms, &mut s, wt.invocation, todo, &replies) {
                        Ok(actions) => queue.extend(actions),
                        Err(todo) => {
                            work(w, &s, wt.invocation, todo, &mut queue, (&replies, &permits))
                        }
                    }
                }
            }
        }
        // The next app state, when none is in flight (and the session has joined).
        let now = Instant::now().into_std();
        if let Some(report) = pending.ready(now) {
            let payload = Payload::args(vec![report]);
            if let Some((call, send)) = s.call(super::app_reports::UPDATE_APP, payload, now) {
                pending.sent(call);
                queue.push_back(send);
                continue;
            }
        }
        let wake = s.next_wake().map(Instant::from_std);
        let retry = pending.retry_at().map(Instant::from_std);
        let input = tokio::select! {
            Some(report) = reports_rx.recv() => {
                pending.push(report);
                continue;
            }
            _ = sleep_until(retry) => continue,
            m = ws.next() => match m {
                None | Some(Err(_)) => Input::Closed,
                Some(Ok(tungstenite::Message::Text(t))) => {
                    let now = Instant::now().into_std();
                    queue.extend(s.on_input(Input::Text(t.as_str()), now));
                    continue;
                }
                Some(Ok(tungstenite::Message::Close(_))) => Input::Closed,
                Some(Ok(_)) => continue,
            },
            Some((request, out)) = done.recv() => {
                queue.push_back(Action::Send(s.reply(request, out)));
                continue;
            }
            Some(p) = publish_rx.recv() => {
                let now = Instant::now().into_std();
                if let Some((_, send)) = s.publish(&p.topic, p.payload, p.acknowledge, now) {
                    queue.push_back(send);
                }
                continue;
            }
            Some(topics) = revive_rx.recv() => {
                let now = Instant::now().into_std();
                for topic in topics {
                    let args = Payload::args(vec![serde_json::Value::String(topic.clone())]);
                    if let Some((req, send)) = s.call("wamp.subscription.match", args, now) {
                        matching.insert(req, topic);
                        queue.push_back(send);
                    }
                }
                continue;
            }
            Some(id) = ended_rx.recv() => {
                queue.extend(terms.ended(&id, &mut s));
                continue;
            }
            Some((figures, low)) = figures_rx.recv() => {
                collecting = false;
                s.set_stats(figures, low);
                continue;
            }
            _ = sleep_until(wake) => Input::Tick,
        };
        queue.extend(s.on_input(input, Instant::now().into_std()));
    }
}
