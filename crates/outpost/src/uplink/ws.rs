//! The WebSocket uplink, in Phoenix Channels v2 framing, so that a Phoenix server (the
//! Towerops control plane's stack) can be the control plane.
//!
//! The agent joins topic `agent:ID` with its `hello` and token as the join payload; the join
//! reply carries `welcome`. Protocol messages are pushes whose event is the envelope type.
//! The server's `ack {seq}` moves this uplink's cursor. A Phoenix transport heartbeat and an
//! application heartbeat go out every `uplink.heartbeat_ms`; a server silent for
//! `uplink.read_timeout_ms` is declared dead.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt};
use outpost_proto::{phoenix::Frame, Message};
use secrecy::{ExposeSecret, SecretString};
use tokio_tungstenite::{
    tungstenite::{self, protocol::WebSocketConfig},
    Connector, MaybeTlsStream, WebSocketStream,
};
use tokio_util::sync::CancellationToken;

use super::{
    delivery::{encode_row, Delivery},
    inbound::{self, Handled},
    Context, UplinkCode, UplinkMetrics,
};

const NAME: &str = "ws";

/// `http(s)://` becomes `ws(s)://`, a bare host `wss://`; with no path, Phoenix's default
/// `/socket/websocket`; and `vsn=2.0.0` selects the array framing.
pub fn normalize_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    let (scheme, rest) = match url.split_once("://") {
        Some(("http", r)) | Some(("ws", r)) => ("ws", r),
        Some(("https", r)) | Some(("wss", r)) => ("wss", r),
        Some((s, _)) => {
            return Err(format!(
                "unsupported scheme {s:?}; use wss://, ws://, https:// or http://"
            ))
        }
        None => ("wss", url),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains(char::is_whitespace) {
        return Err(format!("{url:?}: no host"));
    }
    let path = if path.is_empty() || path == "/" {
        "/socket/websocket"
    } else {
        path
    };
    let sep = if path.contains('?') { '&' } else { '?' };
    let vsn = if path.contains("vsn=") {
        String::new()
    } else {
        format!("{sep}vsn=2.0.0")
    };
    Ok(format!("{scheme}://{authority}{path}{vsn}"))
}

pub struct WsUplink {
    /// Normalized (see [`normalize_url`]).
    pub url: String,
    pub token: Option<SecretString>,
    pub pin: Option<[u8; 32]>,
}

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Why a join did not succeed. The log's severity comes from the kind, not the text.
#[derive(Debug, thiserror::Error)]
enum JoinFailed {
    /// The control plane answered the join with an error (a wrong token, an unknown agent).
    #[error("join refused: {0}")]
    Refused(String),
    #[error("unexpected {0} in reply to join")]
    Unexpected(String),
    #[error("connection closed during join")]
    Closed,
}

/// Why a session ended, for the log.
enum End {
    Shutdown,
    Lost(String),
}

struct Refs {
    next: u64,
}

impl Refs {
    fn next(&mut self) -> String {
        self.next += 1;
        self.next.to_string()
    }
}

impl WsUplink {
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
            let mut up_since = None;
            let mut productive = false;
            let end = self
                .session(
                    &cx,
                    &mut delivery,
                    &mut live,
                    &shutdown,
                    &mut up_since,
                    &mut productive,
                )
                .await;
            cx.metrics.connected.get_or_create(&label).set(0);
            match end {
                End::Shutdown => return,
                End::Lost(why) => {
                    tracing::warn!(url = %self.url, reason = %why, "ws uplink: disconnected")
                }
            }
            if !cx
                .pause_before_reconnect(NAME, &mut backoff, up_since, productive, &shutdown)
                .await
            {
                return;
            }
        }
    }

    async fn connect(&self) -> Result<Socket, String> {
        let connector = if self.url.starts_with("wss://") {
            let tls = match self.pin {
                Some(pin) => super::tls::pinned_config(pin),
                None => super::tls::client_config(),
            }
            .map_err(|e| e.to_string())?;
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
        .await
        .map_err(|e| format!("connect: {e}"))?;
        Ok(ws)
    }

    async fn session(
        &self,
        cx: &Context,
        delivery: &mut Delivery,
        live: &mut tokio::sync::broadcast::Receiver<Arc<outpost_core::OutboxRow>>,
        shutdown: &CancellationToken,
        up_since: &mut Option<Instant>,
        productive: &mut bool,
    ) -> End {
        let label = UplinkMetrics::label(NAME);
        let mut ws = tokio::select! {
            r = tokio::time::timeout(cx.read_timeout, self.connect()) => match r {
                Ok(Ok(ws)) => ws,
                Ok(Err(e)) => return End::Lost(e),
                Err(_) => return End::Lost("connect timed out".into()),
            },
            _ = shutdown.cancelled() => return End::Shutdown,
        };
        let topic = format!("agent:{}", cx.agent_id);
        let mut refs = Refs { next: 0 };
        let join_ref = refs.next();
        let mut hello = cx.hello().to_value();
        if let (Some(obj), Some(t)) = (hello.as_object_mut(), &self.token) {
            obj.insert("token".into(), t.expose_secret().into());
        }
        let join = Frame {
            join_ref: Some(join_ref.clone()),
            msg_ref: Some(join_ref.clone()),
            topic: topic.clone(),
            event: "phx_join".into(),
            payload: hello,
        };
        if let Err(e) = ws
            .send(tungstenite::Message::Text(join.encode().into()))
            .await
        {
            return End::Lost(format!("sending join: {e}"));
        }
        // The join reply, within the read deadline.
        let joined = tokio::time::timeout(cx.read_timeout, async {
            while let Some(msg) = ws.next().await {
                let Ok(tungstenite::Message::Text(text)) = msg else {
                    if msg.is_err() {
                        return Err(JoinFailed::Closed);
                    }
                    continue;
                };
                let Ok(f) = Frame::decode(text.as_bytes()) else {
                    continue;
                };
                if f.msg_ref.as_deref() == Some(join_ref.as_str()) {
                    return match f.reply() {
                        Some(Ok(_welcome)) => Ok(()),
                        Some(Err(resp)) => Err(JoinFailed::Refused(resp.to_string())),
                        None => Err(JoinFailed::Unexpected(f.event)),
                    };
                }
            }
            Err(JoinFailed::Closed)
        })
        .await;
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                // A refusal will not heal by retrying: said at error level, by its kind.
                if let JoinFailed::Refused(_) = e {
                    tracing::error!(reason = %e, "ws uplink: the control plane refused the join (check uplink.ws.token)");
                }
                return End::Lost(e.to_string());
            }
            Err(_) => return End::Lost("no join reply within the read deadline".into()),
        }
        *up_since = Some(Instant::now());
        cx.metrics.connected.get_or_create(&label).set(1);
        delivery.restart();
        tracing::info!(url = %self.url, topic = %topic, resend_from = delivery.cursor(), "ws uplink: joined");

        let push = |refs: &mut Refs, m: &Message| {
            Frame {
                join_ref: Some(join_ref.clone()),
                msg_ref: Some(refs.next()),
                topic: topic.clone(),
                event: m.type_name().into(),
                payload: m.to_value(),
            }
            .encode()
        };
        // Outbox rows: the envelope is already text, copied into the frame as it is.
        let push_row = |refs: &mut Refs, row: &outpost_core::OutboxRow| {
            let (kind, envelope) = encode_row(row);
            let msg_ref = refs.next();
            Frame::encode_with_payload(
                Some(&join_ref),
                Some(&msg_ref),
                &topic,
                kind.type_name(),
                &envelope,
            )
        };
        let mut heartbeat = tokio::time::interval(cx.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_read = Instant::now();
        loop {
            match delivery.next().await {
                Ok(rows) => {
                    for row in &rows {
                        let text = push_row(&mut refs, row);
                        if let Err(e) = ws.feed(tungstenite::Message::Text(text.into())).await {
                            return End::Lost(format!("send: {e}"));
                        }
                        cx.metrics.sent.get_or_create(&label).inc();
                    }
                    if !rows.is_empty() {
                        if let Err(e) = ws.flush().await {
                            return End::Lost(format!("send: {e}"));
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "ws uplink: reading the outbox failed"),
            }
            let deadline = tokio::time::Instant::from_std(last_read + cx.read_timeout);
            tokio::select! {
                msg = ws.next() => {
                    last_read = Instant::now();
                    *productive = true;
                    let text = match msg {
                        None => return End::Lost("server closed the connection".into()),
                        Some(Err(e)) => return End::Lost(format!("read: {e}")),
                        Some(Ok(tungstenite::Message::Text(t))) => t,
                        Some(Ok(tungstenite::Message::Close(_))) => return End::Lost("server closed the connection".into()),
                        Some(Ok(_)) => continue,
                    };
                    let reply = if text.len() > outpost_proto::envelope::MAX_MESSAGE_BYTES {
                        Handled::Reply(inbound::too_large(text.len(), outpost_proto::peek_phoenix_id(text.as_bytes())))
                    } else {
                        match Frame::decode(text.as_bytes()) {
                            Err(e) => Handled::Reply(Message::Error { code: e.code().into(), message: e.to_string(), about: None }),
                            Ok(f) if f.topic == "phoenix" || f.event == "phx_reply" => Handled::Nothing,
                            // Only our own topic carries jobs: a push for another topic
                            // (another agent's, or a channel never joined) is refused, not run.
                            Ok(f) if f.topic != topic => {
                                tracing::debug!(topic = %outpost_proto::bounded(&f.topic), joined = %topic, "ws uplink: push on a topic not joined refused");
                                Handled::Reply(Message::Error { code: "unexpected".into(), message: outpost_proto::bounded(&format!("push on topic {:?}, which this agent has not joined (it joined {topic:?})", f.topic)), about: None })
                            }
                            Ok(f) if f.event == "phx_error" || f.event == "phx_close" => return End::Lost(format!("channel {}", f.event)),
                            Ok(f) => {
                                if f.event.len() > 64 {
                                    Handled::Reply(Message::Error { code: "unknown_type".into(), message: outpost_proto::DecodeError::UnknownType(outpost_proto::bounded(&f.event)).to_string(), about: None })
                                } else {
                                    inbound::handle_value(&cx.dispatcher, f.payload, "uplink:ws", cx.default_timeout).await
                                }
                            }
                        }
                    };
                    match reply {
                        Handled::Nothing => {}
                        Handled::Ack(seq) => {
                            delivery.ack_upto(seq);
                            match delivery.commit().await {
                                Ok(n) => { cx.metrics.acked.get_or_create(&label).inc_by(n as u64); }
                                Err(e) => tracing::warn!(error = %e, "ws uplink: recording the acknowledgement failed"),
                            }
                        }
                        Handled::Reply(m) => {
                            if let Message::Error { code, .. } = &m {
                                cx.metrics.rejected.get_or_create(&UplinkCode { uplink: NAME.into(), code: code.clone() }).inc();
                            }
                            if let Err(e) = ws.send(tungstenite::Message::Text(push(&mut refs, &m).into())).await {
                                return End::Lost(format!("send: {e}"));
                            }
                        }
                    }
                }
                r = live.recv() => {
                    if delivery.feed(r).is_err() {
                        return End::Lost("store closed".into());
                    }
                }
                _ = heartbeat.tick() => {
                    let phx = Frame { join_ref: None, msg_ref: Some(refs.next()), topic: "phoenix".into(), event: "heartbeat".into(), payload: serde_json::json!({}) };
                    let app = push(&mut refs, &Message::Heartbeat {});
                    if ws.feed(tungstenite::Message::Text(phx.encode().into())).await.is_err()
                        || ws.send(tungstenite::Message::Text(app.into())).await.is_err()
                    {
                        return End::Lost("send: heartbeat failed".into());
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    return End::Lost(format!("server silent for {} ms (read deadline)", cx.read_timeout.as_millis()));
                }
                _ = shutdown.cancelled() => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                    return End::Shutdown;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_url;

    #[test]
    fn issue5_ws_urls_are_normalized() {
        assert_eq!(
            normalize_url("cp.example.com").unwrap(),
            "wss://cp.example.com/socket/websocket?vsn=2.0.0"
        );
        assert_eq!(
            normalize_url("https://cp:4000").unwrap(),
            "wss://cp:4000/socket/websocket?vsn=2.0.0"
        );
        assert_eq!(
            normalize_url("http://127.0.0.1:9/agent/websocket").unwrap(),
            "ws://127.0.0.1:9/agent/websocket?vsn=2.0.0"
        );
        assert_eq!(
            normalize_url("wss://h/s?x=1").unwrap(),
            "wss://h/s?x=1&vsn=2.0.0"
        );
        assert!(normalize_url("ftp://h").is_err());
        assert!(normalize_url("wss://").is_err());
    }
}
