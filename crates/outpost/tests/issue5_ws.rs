//! Issue 5: the WebSocket (Phoenix Channels) uplink against an in-test Phoenix-style server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{
    metric,
    phoenix::{Mode, Server},
    wait_for, Agent, Options,
};
use outpost_proto::Message;
use serde_json::json;

fn opts(dir: &std::path::Path, server: &Server, token: &str, id: &str) -> Options {
    Options::new(dir)
        .env("OUTPOST_UPLINK_WS_URL", &server.url())
        .env("OUTPOST_UPLINK_WS_INSECURE", "true")
        .env("OUTPOST_UPLINK_WS_TOKEN", token)
        .env("OUTPOST_AGENT_ID", id)
        .env("OUTPOST_UPLINK_BACKOFF_INITIAL_MS", "100")
        .env("OUTPOST_UPLINK_BACKOFF_MAX_MS", "1000")
}

fn job(kind: &str, params: serde_json::Value) -> (String, Message) {
    let id = uuid::Uuid::now_v7().to_string();
    (
        id.clone(),
        Message::Job {
            id,
            kind: kind.into(),
            params,
            timeout_ms: None,
        },
    )
}

async fn joined(s: &Server) {
    wait_for("the agent to join", Duration::from_secs(20), || async {
        !s.state.lock().unwrap().joins.is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue5_ws_round_trip_with_phoenix_join_and_acks() {
    let server = Server::start("cp-token", Mode::Normal).await;
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(opts(dir.path(), &server, "cp-token", "ws-1"));
    joined(&server).await;
    let join = server.state.lock().unwrap().joins[0].clone();
    assert_eq!(
        (join["type"].as_str(), join["agent_id"].as_str()),
        (Some("hello"), Some("ws-1"))
    );
    assert!(join["capabilities"]
        .as_array()
        .unwrap()
        .contains(&json!("echo")));
    let (id, m) = job("echo", json!({"via": "ws"}));
    server.push("ws-1", &m);
    wait_for("the result", Duration::from_secs(20), || async {
        server.result_ids().contains(&id)
    })
    .await;
    // The server's acks move the uplink's cursor.
    a.wait_metric(
        "the ack to be recorded",
        "outpost_uplink_acked_total{uplink=\"ws\"}",
        |v| v >= 1.0,
    )
    .await;
    // Results produced locally flow out on the uplink too.
    let (st, body) = a
        .submit(json!({"kind": "echo", "params": 2}), Some(5.0))
        .await;
    assert_eq!(st, 200);
    let local = body["id"].as_str().unwrap().to_owned();
    wait_for(
        "the local job's result on the uplink",
        Duration::from_secs(20),
        || async { server.result_ids().contains(&local) },
    )
    .await;
    assert!(
        !a.log_text().contains("cp-token"),
        "the uplink token must never be logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue5_ws_bad_token_is_reported_and_retried_with_backoff() {
    let server = Server::start("right", Mode::Normal).await;
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(opts(dir.path(), &server, "wrong", "ws-2"));
    wait_for("three refused joins", Duration::from_secs(20), || async {
        server.state.lock().unwrap().joins.len() >= 3
    })
    .await;
    let log = a.log_text();
    assert!(
        log.contains("refused the join") && log.contains("unauthorized"),
        "{log}"
    );
    assert!(log.contains("reconnecting after backoff"), "{log}");
    // The refusal is said at error level (from its kind, not from the reply's text).
    assert!(
        log.lines()
            .any(|l| l.contains("ERROR") && l.contains("refused the join")),
        "{log}"
    );
    assert_eq!(
        metric(
            &a.metrics().await,
            "outpost_uplink_connected{uplink=\"ws\"}"
        ),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue5_ws_silent_server_is_detected_by_the_read_deadline() {
    let server = Server::start("t", Mode::SilentAfterJoin).await;
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(
        opts(dir.path(), &server, "t", "ws-3")
            .env("OUTPOST_UPLINK_READ_TIMEOUT_MS", "1000")
            .env("OUTPOST_UPLINK_HEARTBEAT_MS", "300"),
    );
    joined(&server).await;
    wait_for(
        "a reconnect after the server fell silent",
        Duration::from_secs(20),
        || async { server.state.lock().unwrap().connections >= 2 },
    )
    .await;
    let log = a.log_text();
    assert!(log.contains("read deadline"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue5_ws_bad_input_is_answered_with_errors_and_the_connection_stays_up() {
    let server = Server::start("t", Mode::Normal).await;
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(opts(dir.path(), &server, "t", "ws-4"));
    joined(&server).await;
    a.wait_connected("ws").await;
    server.send_raw("{not json".into());
    server.send_raw(
        r#"[null,null,"agent:ws-4","self_destruct",{"v":1,"type":"self_destruct"}]"#.into(),
    );
    server.send_raw(format!(
        r#"[null,null,"agent:ws-4","job",{{"v":1,"type":"job","pad":"{}"}}]"#,
        "x".repeat(2 << 20)
    ));
    let (unknown, m) = job("launch.missiles", json!({}));
    server.push("ws-4", &m);
    let (good, m) = job("echo", json!(1));
    server.push("ws-4", &m);
    wait_for(
        "errors and the good result",
        Duration::from_secs(20),
        || async { server.errors().len() >= 4 && server.result_ids().contains(&good) },
    )
    .await;
    let codes: Vec<(String, Option<String>)> = server
        .errors()
        .into_iter()
        .map(|(c, a, _)| (c, a))
        .collect();
    for want in ["malformed", "unknown_type", "too_large"] {
        assert!(
            codes.iter().any(|(c, _)| c == want),
            "no `{want}` in {codes:?}"
        );
    }
    assert!(
        codes.contains(&("unknown_kind".into(), Some(unknown))),
        "{codes:?}"
    );
    assert_eq!(
        server.state.lock().unwrap().connections,
        1,
        "the connection stayed up"
    );
}

#[test]
fn issue5_plain_ws_is_refused_unless_insecure() {
    let out = std::process::Command::new(common::BIN)
        .args(["config", "show"])
        .env("OUTPOST_UPLINK_WS_URL", "ws://127.0.0.1:1/socket")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("uplink.ws.insecure"));
}
