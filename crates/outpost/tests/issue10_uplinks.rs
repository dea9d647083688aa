//! Issue 10: what hostile input found on the uplinks. A job message of any size ends as an
//! `error` and is acknowledged (never redelivered, never a dead uplink); error replies are
//! bounded and name their job; a WebSocket push for another topic is not run; a session that
//! carried traffic resets the backoff.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{process::Command, time::Duration};

use common::{
    metric,
    mosquitto::Broker,
    mqtt_peer::Peer,
    phoenix::{Mode, Server},
    wait_for, Agent, Options,
};
use outpost_proto::Message;
use serde_json::json;

fn mqtt_opts(dir: &std::path::Path, broker: &Broker, id: &str, protocol: &str) -> Options {
    Options::new(dir)
        .mqtt_uplink(&broker.url(), id)
        .env("OUTPOST_UPLINK_MQTT_PROTOCOL", protocol)
}

/// A job envelope of at least `size` bytes, with its id first, as a control plane writes it.
fn big_job(id: &str, size: usize) -> Vec<u8> {
    let mut v = format!(r#"{{"v":1,"type":"job","id":"{id}","kind":"echo","params":{{"blob":""#)
        .into_bytes();
    v.resize(size, b'a');
    v.extend_from_slice(br#""}}"#);
    v
}

async fn oversize_job_is_refused_and_acknowledged(protocol: &str) {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let agent_id = format!("big-{}", protocol.replace('.', ""));
    let jobs = format!("outpost/{agent_id}/jobs");
    let mut a = Agent::start(mqtt_opts(dir.path(), &broker, &agent_id, protocol));
    let peer = Peer::connect(
        broker.port,
        &format!("cp-{agent_id}"),
        &[&format!("outpost/{agent_id}/results")],
    )
    .await;
    a.wait_connected("mqtt").await;

    // 17 MiB, published at QoS 1 by the broker's own client, as the issue reproduces it.
    let big_id = uuid::Uuid::now_v7().to_string();
    let file = dir.path().join("big.json");
    std::fs::write(&file, big_job(&big_id, 17 << 20)).unwrap();
    let out = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string()])
        .args(["-q", "1", "-t", &jobs, "-f"])
        .arg(&file)
        .output()
        .expect("mosquitto_pub (mosquitto-clients) is installed by scripts/test");
    assert!(out.status.success(), "mosquitto_pub: {out:?}");

    // The next job runs and its result arrives, without touching the broker.
    let next = peer.job(&jobs, "echo", json!({"after": "big"})).await;
    wait_for(
        "too_large for the big job and the next job's result",
        Duration::from_secs(60),
        || async {
            peer.results().iter().any(|(i, _, _)| *i == next)
                && peer.errors().iter().any(|(c, _, _)| c == "too_large")
        },
    )
    .await;
    let refused: Vec<_> = peer
        .errors()
        .into_iter()
        .filter(|(c, _, _)| c == "too_large")
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(
        refused[0].1.as_deref(),
        Some(big_id.as_str()),
        "the error names the job"
    );
    assert!(refused[0].2.len() < 200, "{}", refused[0].2);
    let m = a.metrics().await;
    assert_eq!(
        metric(&m, "outpost_uplink_reconnects_total{uplink=\"mqtt\"}"),
        0.0,
        "the connection never dropped"
    );
    assert_eq!(
        metric(
            &m,
            "outpost_uplink_rejected_total{uplink=\"mqtt\",code=\"too_large\"}"
        ),
        1.0
    );

    // Acknowledged: an agent started again on the same persistent session is not handed the
    // big message a second time.
    a.sigterm();
    a.wait_exit(Duration::from_secs(20));
    let a = Agent::start(mqtt_opts(dir.path(), &broker, &agent_id, protocol));
    a.wait_connected("mqtt").await;
    let third = peer.job(&jobs, "echo", json!({"third": true})).await;
    wait_for(
        "the third job's result",
        Duration::from_secs(30),
        || async { peer.results().iter().any(|(i, _, _)| *i == third) },
    )
    .await;
    let m = a.metrics().await;
    assert_eq!(
        metric(
            &m,
            "outpost_uplink_rejected_total{uplink=\"mqtt\",code=\"too_large\"}"
        ),
        0.0,
        "the big message was not redelivered after the restart"
    );
    assert_eq!(
        peer.errors()
            .iter()
            .filter(|(c, _, _)| c == "too_large")
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue10_mqtt311_17mib_job_is_refused_acknowledged_and_the_next_job_runs() {
    oversize_job_is_refused_and_acknowledged("3.1.1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue10_mqtt5_17mib_job_is_refused_acknowledged_and_the_next_job_runs() {
    oversize_job_is_refused_and_acknowledged("5").await;
}

/// Garbage of every shape and size through the broker: every message gets its one `error`,
/// the connection never drops (no reconnect loop), and a good job still runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue10_mqtt_hostile_envelopes_get_bounded_errors_and_no_reconnect() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(mqtt_opts(dir.path(), &broker, "hostile-1", "3.1.1"));
    let peer = Peer::connect(broker.port, "cp-hostile", &["outpost/hostile-1/results"]).await;
    a.wait_connected("mqtt").await;
    let jobs = "outpost/hostile-1/jobs";
    let id = uuid::Uuid::now_v7().to_string();
    let huge = "k".repeat(100_000);
    let cases: Vec<(Vec<u8>, &str, Option<&str>)> = vec![
        (b"{not json".to_vec(), "malformed", None),
        (b"[1,2,3]".to_vec(), "invalid", None),
        (br#"{"type":"job"}"#.to_vec(), "invalid", None),
        (br#"{"v":1,"type":7}"#.to_vec(), "invalid", None),
        // Readable id, broken envelope: the error names the job.
        (
            format!(r#"{{"v":1,"type":"job","id":"{id}","kind":5}}"#).into_bytes(),
            "invalid",
            Some(id.as_str()),
        ),
        // An unbounded field is not echoed back.
        (
            format!(r#"{{"v":1,"type":"{huge}"}}"#).into_bytes(),
            "unknown_type",
            None,
        ),
        (
            Message::Job {
                id: uuid::Uuid::now_v7().to_string(),
                kind: huge.clone(),
                params: json!({}),
                timeout_ms: None,
            }
            .encode(),
            "unknown_kind",
            None,
        ),
        (
            Message::Job {
                id: uuid::Uuid::now_v7().to_string(),
                kind: "echo".into(),
                params: json!({}),
                timeout_ms: Some(0),
            }
            .encode(),
            "bad_timeout",
            None,
        ),
        (big_job(&id, 2 << 20), "too_large", Some(id.as_str())),
        (vec![0xff; 3000], "malformed", None),
        (Vec::new(), "malformed", None),
    ];
    for (bytes, _, _) in &cases {
        peer.publish(jobs, bytes.clone()).await;
    }
    let good = peer.job(jobs, "echo", json!("still here")).await;
    wait_for(
        "an error for every bad message, and the good result",
        Duration::from_secs(30),
        || async {
            peer.errors().len() >= cases.len() && peer.results().iter().any(|(i, _, _)| *i == good)
        },
    )
    .await;
    // Messages are handled concurrently, so replies come in any order: compare as sets.
    let got = peer.errors();
    let mut want_codes: Vec<&str> = cases.iter().map(|(_, c, _)| *c).collect();
    let mut got_codes: Vec<&str> = got.iter().map(|(c, _, _)| c.as_str()).collect();
    want_codes.sort_unstable();
    got_codes.sort_unstable();
    assert_eq!(got_codes, want_codes, "{got:?}");
    for (_, code, about) in &cases {
        if let Some(about) = about {
            assert!(
                got.iter()
                    .any(|(c, a, _)| c == code && a.as_deref() == Some(*about)),
                "{code} naming {about}: {got:?}"
            );
        }
    }
    for (code, _, msg) in &got {
        assert!(msg.len() <= 700, "{code}: {} bytes", msg.len());
        assert!(!msg.contains("not JSON") || code == "malformed", "{msg}");
    }
    let m = a.metrics().await;
    assert_eq!(
        metric(&m, "outpost_uplink_reconnects_total{uplink=\"mqtt\"}"),
        0.0
    );
}

fn ws_opts(dir: &std::path::Path, server: &Server, id: &str) -> Options {
    Options::new(dir)
        .env("OUTPOST_UPLINK_WS_URL", &server.url())
        .env("OUTPOST_UPLINK_WS_INSECURE", "true")
        .env("OUTPOST_UPLINK_WS_TOKEN", "cp-token")
        .env("OUTPOST_AGENT_ID", id)
        .env("OUTPOST_UPLINK_BACKOFF_INITIAL_MS", "100")
        .env("OUTPOST_UPLINK_BACKOFF_MAX_MS", "1000")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue10_ws_push_on_a_topic_not_joined_is_refused_not_run() {
    let server = Server::start("cp-token", Mode::Normal).await;
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(ws_opts(dir.path(), &server, "ws-topic"));
    wait_for("the agent to join", Duration::from_secs(20), || async {
        !server.state.lock().unwrap().joins.is_empty()
    })
    .await;
    let stray = uuid::Uuid::now_v7().to_string();
    let job = Message::Job {
        id: stray.clone(),
        kind: "echo".into(),
        params: json!({"stray": true}),
        timeout_ms: None,
    };
    // The same job, pushed for another agent's topic.
    server.send_raw(json!([null, "99", "agent:someone-else", "job", job.to_value()]).to_string());
    let good = uuid::Uuid::now_v7().to_string();
    server.push(
        "ws-topic",
        &Message::Job {
            id: good.clone(),
            kind: "echo".into(),
            params: json!(1),
            timeout_ms: None,
        },
    );
    wait_for(
        "the good result and the refusal",
        Duration::from_secs(20),
        || async {
            server.result_ids().contains(&good)
                && server
                    .messages()
                    .iter()
                    .any(|(_, m)| matches!(m, Message::Error { code, .. } if code == "unexpected"))
        },
    )
    .await;
    assert!(
        !server.result_ids().contains(&stray),
        "the stray job must not run"
    );
    assert_eq!(
        a.get(&format!("/v1/jobs/{stray}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // A frame over the size limit names its job too.
    let big = uuid::Uuid::now_v7().to_string();
    let payload = json!({"v": 1, "type": "job", "id": big, "kind": "echo", "params": {"blob": "a".repeat(2 << 20)}});
    server.send_raw(json!([null, "100", "agent:ws-topic", "job", payload]).to_string());
    wait_for("too_large naming the job", Duration::from_secs(20), || async {
        server.messages().iter().any(|(_, m)| {
            matches!(m, Message::Error { code, about: Some(about), .. } if code == "too_large" && *about == big)
        })
    })
    .await;
}

/// After several broker restarts a few seconds apart the reconnect delay had reached 21 s:
/// a session that carried traffic must reset the backoff, so the agent is back within the
/// first delay each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue10_mqtt_backoff_resets_after_a_session_that_carried_traffic() {
    let mut broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    // A reset-after longer than the test, so only traffic can reset the backoff; a cap
    // that a growing backoff would reach within these restarts.
    let a = Agent::start(
        mqtt_opts(dir.path(), &broker, "reset-1", "3.1.1")
            .env("OUTPOST_UPLINK_BACKOFF_INITIAL_MS", "300")
            .env("OUTPOST_UPLINK_BACKOFF_MAX_MS", "60000")
            .env("OUTPOST_UPLINK_BACKOFF_RESET_MS", "3600000")
            .env("OUTPOST_UPLINK_HEARTBEAT_MS", "200"),
    );
    a.wait_connected("mqtt").await;
    for round in 0..6 {
        broker.restart();
        // Without the reset the sixth delay's ceiling is 300 ms x 2^5 = 9.6 s (uniform
        // jitter below it); with it, every delay is under 300 ms.
        let t = std::time::Instant::now();
        wait_for(
            "the agent back on the restarted broker",
            Duration::from_secs(30),
            || async {
                metric(
                    &a.metrics().await,
                    "outpost_uplink_connected{uplink=\"mqtt\"}",
                ) == 1.0
                    && metric(
                        &a.metrics().await,
                        "outpost_uplink_reconnects_total{uplink=\"mqtt\"}",
                    ) >= f64::from(round + 1)
            },
        )
        .await;
        assert!(
            t.elapsed() < Duration::from_secs(4),
            "round {round}: back after {:?}",
            t.elapsed()
        );
        // Let the session carry traffic: the retained status (heartbeat) is acknowledged.
        let acked = metric(
            &a.metrics().await,
            "outpost_uplink_acked_total{uplink=\"mqtt\"}",
        );
        let peer = Peer::connect(broker.port, &format!("cp-reset-{round}"), &[]).await;
        peer.job("outpost/reset-1/jobs", "echo", json!(round)).await;
        a.wait_metric(
            "the job's result acknowledged",
            "outpost_uplink_acked_total{uplink=\"mqtt\"}",
            |v| v > acked,
        )
        .await;
    }
}

/// MQTT 5 brokers say when they dropped a message they acknowledged (no subscriber for our
/// results): counted, and still an acknowledgement, so the cursor moves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue10_mqtt5_broker_drops_are_counted() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(mqtt_opts(dir.path(), &broker, "drops-5", "5"));
    a.wait_connected("mqtt").await;
    // Nobody subscribes to outpost/drops-5/results: the broker keeps nothing.
    let (status, _) = a
        .submit(json!({"kind": "echo", "params": {"n": 1}}), Some(5.0))
        .await;
    assert_eq!(status, 200);
    a.wait_metric(
        "the broker's drop to be counted",
        "outpost_uplink_broker_dropped_total{uplink=\"mqtt\",code=\"no_matching_subscribers\"}",
        |v| v >= 1.0,
    )
    .await;
    a.wait_metric(
        "the dropped row acknowledged all the same",
        "outpost_uplink_acked_total{uplink=\"mqtt\"}",
        |v| v >= 1.0,
    )
    .await;
}
