//! The WebSocket uplink, in Phoenix Channels v2 framing, so that a Phoenix server (the
//! Towerops control plane's stack) can be the control plane.
//!
//! The agent joins topic `agent:ID` with its `hello` and token as the join payload; the join
//! reply carries `welcome`. Protocol messages are pushes whose event is the envelope type.
//! The server's `ack {seq}` moves this uplink's cursor. A Phoenix transport heartbeat and an
//! application heartbeat go out every `uplink.heartbeat_ms`; a server silent for
//! `uplink.read_timeout_ms` is declared dead.
//!
//! Layout: `session.rs` is one connection's state machine (join, pushes, heartbeats, acks;
//! no I/O, unit-tested with scripted frames), the pump here owns the socket, the store and
//! the dispatcher, `url.rs` normalizes the configured URL, and `uplink::run` reconnects.

mod session;
mod url;

use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use secrecy::{ExposeSecret, SecretString};
use tokio_tungstenite::{
    tungstenite::{self, protocol::WebSocketConfig},
    Connector, MaybeTlsStream, WebSocketStream,
};
use tokio_util::sync::CancellationToken;

pub use session::{ConnectError, End, JoinFailed};
use session::{Input, Step, WsSession};
pub use url::{normalize_url, WsUrlError};

use super::{
    events::{AckRecordFailed, OutboxReadFailed, RowsAcked, WsJoined},
    inbound,
    run::{Env, Session, Transport},
    Context,
};
use crate::internal_event::InternalEvent;

const NAME: &str = "ws";

pub struct WsUplink {
    /// Normalized (see [`normalize_url`]).
    pub url: String,
    pub token: Option<SecretString>,
    pub pin: Option<[u8; 32]>,
}

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

impl WsUplink {
    /// Runs until `shutdown`: connect, join, deliver, and reconnect with backoff.
    pub async fn run(self, cx: Context, shutdown: CancellationToken) {
        super::run::run(self, cx, shutdown).await
    }

    async fn connect(&self) -> Result<Socket, ConnectError> {
        let connector = if self.url.starts_with("wss://") {
            let tls = match self.pin {
                Some(pin) => super::tls::pinned_config(pin),
                None => super::tls::client_config(),
            }?;
            Some(Connector::Rustls(tls))
        } else {
            Some(Connector::Plain)
        };
        let config = WebSocketConfig::default()
            // Read what a hostile server sends, then refuse it with an `error`.
            .max_message_size(Some(16 << 20))
            .max_frame_size(Some(16 << 20));
        let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(
            self.url.as_str(),
            Some(config),
            true,
            connector,
        )
        .await?;
        Ok(ws)
    }

    /// The pump around [`WsSession`]: connects, sends the join, then feeds the session
    /// what the socket, the store and the clock bring, and carries out its steps.
    async fn pump(&self, s: &mut WsSession, up_since: &mut Option<Instant>, env: Env<'_>) -> End {
        let (cx, rep) = (env.cx, env.rep);
        let mut ws = tokio::select! {
            r = tokio::time::timeout(cx.read_timeout, self.connect()) => match r {
                Ok(Ok(ws)) => ws,
                Ok(Err(e)) => return e.into(),
                Err(_) => return End::ConnectTimeout,
            },
            _ = env.shutdown.cancelled() => return End::Shutdown,
        };
        let mut hello = cx.hello().to_value();
        if let (Some(obj), Some(t)) = (hello.as_object_mut(), &self.token) {
            obj.insert("token".into(), t.expose_secret().into());
        }
        let join = s.join(hello);
        if let Err(e) = ws.send(tungstenite::Message::Text(join.into())).await {
            return End::SendJoin(e);
        }
        // The join reply, within the read deadline.
        let joined = tokio::time::timeout(cx.read_timeout, async {
            loop {
                let step = match ws.next().await {
                    None => s.on_event(Input::Closed),
                    Some(Err(e)) => s.on_event(Input::ReadFailed(e)),
                    Some(Ok(tungstenite::Message::Text(t))) => s.on_event(Input::Text(&t)),
                    Some(Ok(_)) => continue,
                };
                match step {
                    Step::Joined => return None,
                    Step::End(e) => return Some(e),
                    _ => {}
                }
            }
        })
        .await;
        match joined {
            Ok(None) => {}
            Ok(Some(e)) => return e,
            Err(_) => return End::JoinTimeout,
        }
        *up_since = Some(Instant::now());
        env.delivery.restart();
        WsJoined {
            url: &self.url,
            topic: s.topic(),
            resend_from: env.delivery.cursor(),
        }
        .emit(rep);

        let mut heartbeat = tokio::time::interval(cx.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_read = Instant::now();
        loop {
            let mut step = match env.delivery.next().await {
                Ok(rows) if !rows.is_empty() => s.on_event(Input::Rows(&rows)),
                Ok(_) => Step::Continue,
                Err(error) => {
                    OutboxReadFailed { error: &error }.emit(rep);
                    Step::Continue
                }
            };
            if matches!(step, Step::Continue) {
                let deadline = tokio::time::Instant::from_std(last_read + cx.read_timeout);
                step = tokio::select! {
                    msg = ws.next() => {
                        last_read = Instant::now();
                        match msg {
                            None | Some(Ok(tungstenite::Message::Close(_))) => s.on_event(Input::Closed),
                            Some(Err(e)) => s.on_event(Input::ReadFailed(e)),
                            Some(Ok(tungstenite::Message::Text(t))) => s.on_event(Input::Text(&t)),
                            Some(Ok(_)) => s.on_event(Input::Other),
                        }
                    }
                    r = env.live.recv() => {
                        if env.delivery.feed(r).is_err() {
                            return End::StoreClosed;
                        }
                        continue;
                    }
                    _ = heartbeat.tick() => s.on_event(Input::Heartbeat),
                    _ = tokio::time::sleep_until(deadline) => return End::Silent(cx.read_timeout),
                    _ = env.shutdown.cancelled() => {
                        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), ws.close(None)).await;
                        return End::Shutdown;
                    }
                };
            }
            // Carry the step out; a dispatched message comes back as one more input.
            loop {
                match step {
                    Step::Continue | Step::Joined => break,
                    Step::Send(frames) => {
                        for f in frames {
                            if let Err(e) = ws.feed(tungstenite::Message::Text(f.into())).await {
                                return End::Send(e);
                            }
                        }
                        if let Err(e) = ws.flush().await {
                            return End::Send(e);
                        }
                        break;
                    }
                    Step::Dispatch(payload) => {
                        let handled = inbound::handle_value(
                            &cx.dispatcher,
                            payload,
                            "uplink:ws",
                            cx.default_timeout,
                        )
                        .await;
                        step = s.on_event(Input::Handled(handled));
                    }
                    Step::Ack(seq) => {
                        env.delivery.ack_upto(seq);
                        match env.delivery.commit().await {
                            Ok(n) => RowsAcked { n }.emit(rep),
                            Err(error) => AckRecordFailed {
                                consumer: "uplink:ws",
                                error: &error,
                            }
                            .emit(rep),
                        }
                        break;
                    }
                    Step::End(e) => return e,
                }
            }
        }
    }
}

impl Transport for WsUplink {
    const NAME: &'static str = NAME;
    type End = End;

    fn peer(&self) -> String {
        self.url.clone()
    }

    async fn session(&self, env: Env<'_>) -> Session<End> {
        let mut s = WsSession::new(&env.cx.agent_id, env.rep.clone());
        let mut up_since = None;
        let end = self.pump(&mut s, &mut up_since, env).await;
        Session {
            up_since,
            productive: s.productive(),
            end,
        }
    }
}
