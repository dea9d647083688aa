//! Issue 10: the local API's errors, authentication and `/v1/events`, against the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Agent, Options};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

/// A token with every character that changes meaning in a URL: `+`, `/`, `=`, `%`.
const TOKEN: &str = "s3cr+t/t0k=n%41==";

fn agent() -> (Agent, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (
        Agent::start(Options::new(dir.path()).env("OUTPOST_TOKEN", TOKEN)),
        dir,
    )
}

/// Sends `req` and returns status, headers and the body, asserting the body is our JSON
/// error shape with a content type that says so.
async fn json_error(req: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let ct = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(
        ct.as_deref(),
        Some("application/json"),
        "{status}: content type {ct:?}, body {text:?}"
    );
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    assert!(v["error"]["code"].is_string(), "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    (status, headers, v)
}

#[tokio::test]
async fn issue10_query_and_path_errors_are_json_naming_the_parameter() {
    let (a, _d) = agent();
    let echo = json!({"kind": "echo"});
    let cases: Vec<(&str, reqwest::RequestBuilder, &str)> = vec![
        ("?wait=abc", a.post("/v1/jobs?wait=abc").json(&echo), "wait"),
        ("?wait=-3", a.post("/v1/jobs?wait=-3").json(&echo), "wait"),
        (
            "?wait twice",
            a.post("/v1/jobs?wait=1&wait=2").json(&echo),
            "wait",
        ),
        ("?limit=-1", a.get("/v1/jobs?limit=-1"), "limit"),
        (
            "?limit=1000000000000",
            a.get("/v1/jobs?limit=1000000000000"),
            "limit",
        ),
        ("?limit=0", a.get("/v1/jobs?limit=0"), "limit"),
        ("?state=sideways", a.get("/v1/jobs?state=sideways"), "state"),
        ("?state=", a.get("/v1/jobs?state="), "state"),
        ("events ?after=abc", a.get("/v1/events?after=abc"), "after"),
        ("events ?after=-1", a.get("/v1/events?after=-1"), "after"),
        ("DELETE %00%ff", a.delete("/v1/jobs/%00%ff"), "id"),
        ("GET %ff", a.get("/v1/jobs/%ff"), "id"),
        ("GET not a uuid", a.get("/v1/jobs/not-a-uuid"), "id"),
    ];
    for (what, req, field) in cases {
        let (status, _, v) = json_error(req).await;
        assert_eq!(status, 400, "{what}: {v}");
        assert_eq!(v["error"]["field"], field, "{what}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(field),
            "{what}: the message names the parameter: {v}"
        );
    }

    // The router's own answers: no route (404), and a route without that method (405, with
    // `Allow`), on protected and unprotected paths alike.
    let (status, _, v) = json_error(a.get("/v1/nowhere")).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, h, v) = json_error(
        a.client
            .put(format!("{}/v1/jobs", a.url))
            .bearer_auth(TOKEN),
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    assert_eq!(allow(&h), ["GET", "HEAD", "POST"], "{h:?}");
    let (status, h, v) = json_error(a.client.post(format!("{}/healthz", a.url))).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    assert_eq!(allow(&h), ["GET", "HEAD"], "{h:?}");
    let (status, _, _) = json_error(
        a.client
            .delete(format!("{}/v1/openapi.json", a.url))
            .bearer_auth(TOKEN),
    )
    .await;
    assert_eq!(status, 405);

    // Still serving.
    let (st, body) = a.submit(json!({"kind": "echo"}), Some(5.0)).await;
    assert_eq!(st, 200, "{body}");
}

#[tokio::test]
async fn issue10_events_after_past_i64_max_is_refused_and_never_replays() {
    let (a, _d) = agent();
    let (st, old) = a
        .submit(json!({"kind": "echo", "params": "old"}), Some(5.0))
        .await;
    assert_eq!(st, 200, "{old}");
    for after in [
        "9223372036854775808", // 2^63: was cast to i64::MIN, "after everything negative"
        "18446744073709551615", // u64::MAX: was cast to -1
        "18446744073709551616", // past u64
    ] {
        let (status, _, v) = json_error(a.get(&format!("/v1/events?after={after}"))).await;
        assert_eq!(status, 400, "{after}: {v}");
        assert_eq!(v["error"]["field"], "after", "{after}: {v}");
        // A real WebSocket handshake is refused the same way, before the upgrade.
        match tokio_tungstenite::connect_async(events_request(&a, after)).await {
            Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 400, "{after}"),
            other => panic!("{after}: expected a 400 handshake refusal, got {other:?}"),
        }
    }
    // The largest valid cursor replays nothing, and (past the newest row) streams from the
    // newest on: the first row seen is the next new one.
    let (mut ws, _) = tokio_tungstenite::connect_async(events_request(&a, "9223372036854775807"))
        .await
        .unwrap();
    let (_, new) = a
        .submit(json!({"kind": "echo", "params": "new"}), Some(5.0))
        .await;
    let row = next_text_json(&mut ws).await;
    assert_eq!(
        row["item"]["id"], new["id"],
        "old rows were replayed: {row}"
    );
}

/// The store itself saturates a cursor past i64::MAX instead of wrapping it negative, so no
/// caller other than the API can make it replay the outbox either.
#[tokio::test]
async fn issue10_store_cursor_past_i64_max_reads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = outpost_core::StoreConfig::new(dir.path().join("t.db"));
    let (store, _) = outpost_core::Store::open(cfg, outpost_core::CoreMetrics::default()).unwrap();
    for n in 0..3 {
        store
            .append_event(outpost_core::Event::new("test", json!({ "n": n })))
            .await
            .unwrap();
    }
    assert_eq!(store.outbox_after(0, 100).await.unwrap().len(), 3);
    for after in [1u64 << 63, u64::MAX, i64::MAX as u64] {
        assert!(
            store.outbox_after(after, 100).await.unwrap().is_empty(),
            "after={after} replayed rows"
        );
    }
    store.close().await.unwrap();
}

#[tokio::test]
async fn issue10_bearer_scheme_is_case_insensitive_and_tolerates_whitespace() {
    let (a, _d) = agent();
    let get = |auth: String| {
        a.client
            .get(format!("{}/v1/jobs?limit=1", a.url))
            .header("authorization", auth)
    };
    for auth in [
        format!("Bearer {TOKEN}"),
        format!("bearer {TOKEN}"),
        format!("BEARER {TOKEN}"),
        format!("bEaReR {TOKEN}"),
        format!("  Bearer   {TOKEN}  "),
        format!("Bearer\t{TOKEN}"),
    ] {
        let r = get(auth.clone()).send().await.unwrap();
        assert_eq!(r.status(), 200, "{auth:?}");
    }
    for (auth, why) in [
        (format!("Basic {TOKEN}"), "not Bearer"),
        (format!("Bearer{TOKEN}"), "not Bearer"),
        ("Bearer".to_owned(), "missing token"),
        ("bearer    ".to_owned(), "missing token"),
        ("Bearer wrong".to_owned(), "wrong token"),
        (format!("Bearer {TOKEN} extra"), "wrong token"),
    ] {
        let (status, h, v) = json_error(get(auth.clone())).await;
        assert_eq!(status, 401, "{auth:?}: {v}");
        assert_eq!(h["www-authenticate"], "Bearer");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(why),
            "{auth:?}: {v}"
        );
    }
    assert!(
        !a.log_text().contains(TOKEN),
        "the token must never be logged"
    );
}

#[tokio::test]
async fn issue10_query_token_is_percent_decoded() {
    let (a, _d) = agent();
    // Without a WebSocket upgrade, an accepted token gets /ws's 400 `websocket_required`, a
    // refused one 401: the status tells which without a socktop session.
    let ws = |query: &str| a.client.get(format!("{}/ws?{query}", a.url));
    for (query, want) in [
        // Every special character encoded, upper- and lower-case hex.
        ("token=s3cr%2Bt%2Ft0k%3Dn%2541%3D%3D", 400),
        ("token=s3cr%2bt%2ft0k%3dn%2541%3d%3d", 400),
        // `+`, `/` and `=` left literal, as many clients send them; `%` must be encoded.
        ("token=s3cr+t/t0k=n%2541==", 400),
        ("other=1&token=s3cr%2Bt%2Ft0k%3Dn%2541%3D%3D", 400),
        // The raw token, whose `%41` decodes to `A`: not the token.
        ("token=s3cr+t/t0k=n%41==", 401),
        // Malformed escapes are refused, never guessed at or panicked on.
        ("token=s3cr%2Bt%2Ft0k%3Dn%2541%3D%3", 401),
        ("token=%zz", 401),
        ("token=%", 401),
        ("token=%ff%fe", 401),
        ("token=", 401),
    ] {
        let (status, _, v) = json_error(ws(query)).await;
        assert_eq!(status, want, "{query}: {v}");
        if want == 400 {
            assert_eq!(v["error"]["code"], "websocket_required", "{query}: {v}");
        }
    }
    let (_, _, v) = json_error(ws("token=%zz")).await;
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("percent-encoding"),
        "{v}"
    );
    // A real WebSocket session with the encoded token: socktop's request gets its reply.
    let url = a.url.replace("http://", "ws://") + "/ws?token=s3cr%2Bt%2Ft0k%3Dn%2541%3D%3D";
    let (mut sock, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    sock.send(tungstenite::Message::text("get_metrics"))
        .await
        .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(10), sock.next())
        .await
        .expect("a reply within 10 s")
        .unwrap()
        .unwrap();
    assert!(
        matches!(
            reply,
            tungstenite::Message::Text(_) | tungstenite::Message::Binary(_)
        ),
        "{reply:?}"
    );
    // `?token=` stays a WebSocket-only door.
    let (status, _, _) = json_error(a.client.get(format!(
        "{}/v1/jobs?token=s3cr%2Bt%2Ft0k%3Dn%2541%3D%3D",
        a.url
    )))
    .await;
    assert_eq!(status, 401);
    assert!(
        !a.log_text().contains(TOKEN),
        "the token must never be logged"
    );
}

#[tokio::test]
async fn issue10_events_answers_garbage_frames_with_an_error_frame_and_keeps_streaming() {
    let (a, _d) = agent();
    let (mut ws, _) = tokio_tungstenite::connect_async(events_request(&a, "0"))
        .await
        .unwrap();
    for garbage in [
        tungstenite::Message::text("{\"subscribe\": \"everything\"}"),
        tungstenite::Message::text("\u{0}garbage"),
        tungstenite::Message::binary(vec![0xff, 0x00, 0x13]),
    ] {
        ws.send(garbage.clone()).await.unwrap();
        let v = next_text_json(&mut ws).await;
        assert_eq!(v["error"]["code"], "unexpected_message", "{garbage:?}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("after"),
            "{v}"
        );
    }
    // Pings are answered by the WebSocket layer, not with an error frame.
    ws.send(tungstenite::Message::Ping(b"hi".to_vec().into()))
        .await
        .unwrap();
    // Still streaming: the next job's result arrives, and is the next frame.
    let (_, job) = a
        .submit(json!({"kind": "echo", "params": 7}), Some(5.0))
        .await;
    let row = next_text_json(&mut ws).await;
    assert_eq!(row["item"]["id"], job["id"], "{row}");
    assert_eq!(row["item"]["output"], 7, "{row}");
}

#[tokio::test]
async fn issue10_events_closes_with_a_code_and_reason_on_protocol_violations() {
    let (a, _d) = agent();
    // (what, frame bytes, close code, reason fragment)
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        // Clients must mask their frames (RFC 6455 section 5.1).
        (
            "unmasked frame",
            frame(0x81, b"hello", false),
            1002,
            "protocol",
        ),
        (
            "reserved bits",
            frame(0x81 | 0x70, b"hello", true),
            1002,
            "protocol",
        ),
        (
            "reserved opcode",
            frame(0x83, b"hello", true),
            1002,
            "protocol",
        ),
        (
            "fragmented ping",
            frame(0x09, b"hi", true),
            1002,
            "protocol",
        ),
        (
            "text not UTF-8",
            frame(0x81, b"\xff\xfe\xfd", true),
            1007,
            "UTF-8",
        ),
        (
            "message too big",
            frame(0x82, &[b'x'; 5000], true),
            1009,
            "too big",
        ),
        (
            "fragments too big together",
            [
                frame(0x01, &[b'x'; 3000], true),
                frame(0x80, &[b'x'; 3000], true),
            ]
            .concat(),
            1009,
            "too big",
        ),
    ];
    for (what, bytes, code, reason) in cases {
        let mut tcp = raw_events(&a).await;
        tcp.write_all(&bytes).await.unwrap();
        let (got, text) = read_close(&mut tcp)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(got, code, "{what}: reason {text:?}");
        assert!(text.contains(reason), "{what}: reason {text:?}");
        assert!(text.len() <= 123, "{what}: reason too long");
    }
    // Every violation was local to its connection.
    let (st, _) = a.submit(json!({"kind": "echo"}), Some(5.0)).await;
    assert_eq!(st, 200);
}

/// The methods an `Allow` header lists, sorted.
fn allow(h: &reqwest::header::HeaderMap) -> Vec<String> {
    let mut m: Vec<String> = h["allow"]
        .to_str()
        .unwrap()
        .split(',')
        .map(|s| s.trim().to_owned())
        .collect();
    m.sort();
    m
}

fn events_request(a: &Agent, after: &str) -> tungstenite::handshake::client::Request {
    let url = a.url.replace("http://", "ws://") + "/v1/events?after=" + after;
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    req
}

async fn next_text_json<S>(ws: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<tungstenite::Message, tungstenite::Error>> + Unpin,
{
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s")
            .expect("stream open")
            .unwrap();
        match msg {
            tungstenite::Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            tungstenite::Message::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// A client frame: `head` is the first byte (FIN, RSV, opcode); masked with a zero key, which
/// is a valid mask that leaves the payload readable.
fn frame(head: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mask = if masked { 0x80 } else { 0 };
    let mut f = vec![head];
    match payload.len() {
        n @ 0..=125 => f.push(mask | n as u8),
        n @ 126..=65535 => {
            f.push(mask | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(mask | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        f.extend_from_slice(&[0, 0, 0, 0]);
    }
    f.extend_from_slice(payload);
    f
}

/// A raw TCP connection upgraded to `/v1/events`, so the test can send what no WebSocket
/// library would.
async fn raw_events(a: &Agent) -> tokio::net::TcpStream {
    let addr = a.url.trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "GET /v1/events HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: Bearer {TOKEN}\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    let mut byte = [0u8; 1];
    while !resp.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut byte))
            .await
            .expect("handshake within 10 s")
            .unwrap();
        assert_eq!(
            n,
            1,
            "closed during the handshake: {:?}",
            String::from_utf8_lossy(&resp)
        );
        resp.push(byte[0]);
    }
    let resp = String::from_utf8_lossy(&resp);
    assert!(resp.starts_with("HTTP/1.1 101"), "{resp}");
    tcp
}

/// Reads server frames until a close frame; returns its code and reason. An end of stream
/// before it is the defect this test exists for.
async fn read_close(tcp: &mut tokio::net::TcpStream) -> Result<(u16, String), String> {
    let read = async {
        loop {
            let mut h = [0u8; 2];
            tcp.read_exact(&mut h)
                .await
                .map_err(|e| format!("no close frame before the connection ended: {e}"))?;
            let len = match h[1] & 0x7f {
                126 => {
                    let mut b = [0u8; 2];
                    tcp.read_exact(&mut b).await.map_err(|e| e.to_string())?;
                    u16::from_be_bytes(b) as usize
                }
                127 => {
                    let mut b = [0u8; 8];
                    tcp.read_exact(&mut b).await.map_err(|e| e.to_string())?;
                    u64::from_be_bytes(b) as usize
                }
                n => n as usize,
            };
            let mut payload = vec![0u8; len];
            tcp.read_exact(&mut payload)
                .await
                .map_err(|e| e.to_string())?;
            if h[0] & 0x0f == 0x8 {
                if payload.len() < 2 {
                    return Err("close frame without a code".to_owned());
                }
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                return Ok((code, String::from_utf8_lossy(&payload[2..]).into_owned()));
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .map_err(|_| "no close frame within 10 s".to_owned())?
}
