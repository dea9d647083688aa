//! Issue 5: several uplinks at once, each with its own cursor. One control plane being away
//! must neither hold back the other nor lose anything of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{collections::HashSet, time::Duration};

use common::{
    metric,
    mosquitto::Broker,
    mqtt_peer::Peer,
    phoenix::{Mode, Server},
    wait_for, Agent, Options,
};
use outpost_proto::Message;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue5_two_uplinks_each_keep_their_own_cursor() {
    let broker = Broker::start();
    // The WebSocket control plane refuses the agent at first: it is "away".
    let server = Server::start("cp-token", Mode::RefuseJoins).await;
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(
        Options::new(dir.path())
            .env("OUTPOST_AGENT_ID", "both-1")
            .env("OUTPOST_UPLINK_MQTT_URL", &broker.url())
            .env("OUTPOST_UPLINK_WS_URL", &server.url())
            .env("OUTPOST_UPLINK_WS_INSECURE", "true")
            .env("OUTPOST_UPLINK_WS_TOKEN", "cp-token")
            .env("OUTPOST_UPLINK_BACKOFF_INITIAL_MS", "100")
            .env("OUTPOST_UPLINK_BACKOFF_MAX_MS", "300"),
    );
    let peer = Peer::connect(broker.port, "cp-both", &["outpost/both-1/results"]).await;
    a.wait_connected("mqtt").await;

    let mut ids = HashSet::new();
    for i in 0..100 {
        let (st, body) = a
            .submit(json!({"kind": "echo", "params": i}), Some(5.0))
            .await;
        assert_eq!(st, 200, "{body}");
        ids.insert(body["id"].as_str().unwrap().to_owned());
    }
    // MQTT delivers everything while the WebSocket side is away...
    wait_for(
        "all 100 results over MQTT",
        Duration::from_secs(20),
        || async {
            let got: HashSet<String> = peer.results().into_iter().map(|(i, _, _)| i).collect();
            ids.is_subset(&got)
        },
    )
    .await;
    a.wait_metric(
        "MQTT's cursor to pass them",
        "outpost_uplink_acked_total{uplink=\"mqtt\"}",
        |v| v >= 100.0,
    )
    .await;
    let m = a.metrics().await;
    assert_eq!(metric(&m, "outpost_uplink_acked_total{uplink=\"ws\"}"), 0.0);
    assert!(metric(&m, "outpost_uplink_reconnects_total{uplink=\"ws\"}") >= 1.0);

    // ...and the WebSocket control plane, once it accepts the agent, still gets every one:
    // MQTT's acknowledgements moved only MQTT's cursor.
    *server.mode.lock().unwrap() = Mode::Normal;
    wait_for(
        "all 100 results over the WebSocket",
        Duration::from_secs(30),
        || async {
            let got: HashSet<String> = server
                .messages()
                .into_iter()
                .filter_map(|(_, m)| match m {
                    Message::Result { result, .. } => Some(result["id"].as_str()?.to_owned()),
                    _ => None,
                })
                .collect();
            ids.is_subset(&got)
        },
    )
    .await;
    a.wait_metric(
        "the WebSocket cursor to pass them",
        "outpost_uplink_acked_total{uplink=\"ws\"}",
        |v| v >= 100.0,
    )
    .await;
}
