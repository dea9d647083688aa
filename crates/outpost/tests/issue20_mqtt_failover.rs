//! Issue 20: the MQTT uplink over a list of brokers (`uplink.mqtt.url = "a, b"`), against
//! real Mosquitto brokers. The brokers here are independent (not a cluster): what these
//! tests pin is the agent's side, that it moves to the next broker when its own goes, that
//! nothing it stored is lost on the way (the outbox is resent from the uplink's cursor on
//! whichever broker takes it), and that `/metrics` says where it is.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{
    metric,
    mosquitto::Broker,
    mqtt_peer::{check_delivery, Peer},
    wait_for, Agent, Options,
};

fn list(brokers: &[&Broker]) -> String {
    brokers
        .iter()
        .map(|b| b.url())
        .collect::<Vec<_>>()
        .join(", ")
}

fn broker_gauge(m: &str, b: &Broker) -> f64 {
    metric(
        m,
        &format!(
            "outpost_uplink_broker{{uplink=\"mqtt\",peer=\"127.0.0.1:{}\"}}",
            b.port
        ),
    )
}

/// Waits until the agent is connected to one of `brokers`, per `/metrics`; returns its index.
async fn connected_to(a: &Agent, brokers: &[&Broker]) -> usize {
    wait_for(
        "the agent connected to a broker of its list",
        Duration::from_secs(30),
        || async {
            let m = a.metrics().await;
            brokers.iter().any(|b| broker_gauge(&m, b) == 1.0)
                && metric(&m, "outpost_uplink_connected{uplink=\"mqtt\"}") == 1.0
        },
    )
    .await;
    let m = a.metrics().await;
    brokers
        .iter()
        .position(|b| broker_gauge(&m, b) == 1.0)
        .unwrap()
}

async fn results_of(peers: &[&Peer]) -> Vec<(String, u64, serde_json::Value)> {
    peers.iter().flat_map(|p| p.results()).collect()
}

async fn wait_all_delivered(peers: &[&Peer], ids: &[String]) {
    wait_for(
        "every result on one broker or the other",
        Duration::from_secs(90),
        || async {
            let got: std::collections::HashSet<String> =
                results_of(peers).await.into_iter().map(|r| r.0).collect();
            ids.iter().all(|i| got.contains(i))
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue20_mqtt_failover_moves_to_the_next_broker_and_loses_no_result() {
    let mut brokers = [Broker::start(), Broker::start()];
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(
        Options::new(dir.path()).mqtt_uplink(&list(&[&brokers[0], &brokers[1]]), "fo-1"),
    );
    let topic = ["outpost/fo-1/results"];
    let peers = [
        Peer::connect(brokers[0].port, "cp-fo-a", &topic).await,
        Peer::connect(brokers[1].port, "cp-fo-b", &topic).await,
    ];
    let mut on = connected_to(&a, &[&brokers[0], &brokers[1]]).await;
    let mut ids = Vec::new();
    // Twice: the broker in use goes away in the middle of a stream of results; the agent
    // carries on on the other one. The first one comes back in between, so the second
    // failover has somewhere to go.
    for round in 0..2 {
        ids.extend(a.submit_echo_many(2000, 32).await);
        brokers[on].stop();
        let other = 1 - on;
        wait_for(
            "the agent on the other broker",
            Duration::from_secs(30),
            || async {
                let m = a.metrics().await;
                broker_gauge(&m, &brokers[other]) == 1.0
                    && broker_gauge(&m, &brokers[on]) == 0.0
                    && metric(&m, "outpost_uplink_failovers_total{uplink=\"mqtt\"}")
                        >= (round + 1) as f64
            },
        )
        .await;
        ids.extend(a.submit_echo_many(500, 32).await);
        brokers[on].restart();
        on = other;
    }
    assert_eq!(ids.len(), 5000, "every submission was accepted");
    wait_all_delivered(&[&peers[0], &peers[1]], &ids).await;
    // A stop may cut one delivery window (512) that is then resent to the other broker, and
    // a broker may redeliver to its peer what the peer had not acknowledged.
    check_delivery(results_of(&[&peers[0], &peers[1]]).await, &ids, 2 * 2 * 512);
    assert_eq!(connected_to(&a, &[&brokers[0], &brokers[1]]).await, on);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue20_mqtt_all_brokers_down_backs_off_keeps_results_and_delivers_when_one_returns() {
    let mut brokers = [Broker::start(), Broker::start()];
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(
        Options::new(dir.path()).mqtt_uplink(&list(&[&brokers[0], &brokers[1]]), "down-1"),
    );
    connected_to(&a, &[&brokers[0], &brokers[1]]).await;
    brokers[0].stop();
    brokers[1].stop();
    let ids = a.submit_echo_many(300, 16).await;
    assert_eq!(ids.len(), 300, "jobs are taken while no broker is up");
    // The agent goes round the list with its backoff, counting every attempt.
    wait_for(
        "attempts on both brokers",
        Duration::from_secs(30),
        || async {
            let m = a.metrics().await;
            metric(&m, "outpost_uplink_failovers_total{uplink=\"mqtt\"}") >= 4.0
                && metric(&m, "outpost_uplink_reconnects_total{uplink=\"mqtt\"}") >= 4.0
        },
    )
    .await;
    let m = a.metrics().await;
    assert_eq!(metric(&m, "outpost_uplink_connected{uplink=\"mqtt\"}"), 0.0);
    // The backoff holds: with 100 ms initial and 1 s maximum, 30 s cannot hold hundreds.
    assert!(
        metric(&m, "outpost_uplink_reconnects_total{uplink=\"mqtt\"}") < 200.0,
        "{m}"
    );
    // One broker back: everything stored meanwhile arrives there.
    brokers[1].restart();
    let peer = Peer::connect(brokers[1].port, "cp-down", &["outpost/down-1/results"]).await;
    assert_eq!(connected_to(&a, &[&brokers[0], &brokers[1]]).await, 1);
    wait_all_delivered(&[&peer], &ids).await;
}

/// Where an agent starts in a list of `n` brokers: FNV-1a of its id, modulo `n` (the
/// agent's documented rule, restated here so the test can put a broker at that place).
fn start_index(agent_id: &str, n: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in agent_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % n as u64) as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue20_mqtt_a_broker_that_accepts_and_never_answers_is_left_for_the_next() {
    // A "broker" that takes the TCP connection and then says nothing, placed where the
    // agent starts: its connect deadline ends the attempt and it moves on.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("mqtt://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for c in silent.incoming().flatten() {
            keep.lock().unwrap().push(c);
        }
    });
    let good = Broker::start();
    let id = "hang-1";
    let mut urls = [good.url(), good.url()];
    urls[start_index(id, 2)] = silent_url;
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(dir.path()).mqtt_uplink(&urls.join(", "), id));
    a.wait_connected("mqtt").await;
    let m = a.metrics().await;
    assert_eq!(broker_gauge(&m, &good), 1.0, "{m}");
    assert!(
        !held.lock().unwrap().is_empty(),
        "the agent started on the silent broker"
    );
    assert_eq!(
        metric(&m, "outpost_uplink_failovers_total{uplink=\"mqtt\"}"),
        1.0,
        "{m}"
    );
    // And it stays: the working broker is not left for a "preferred" first one.
    let peer = Peer::connect(good.port, "cp-hang", &["outpost/hang-1/results"]).await;
    let ids = a.submit_echo_many(50, 8).await;
    wait_all_delivered(&[&peer], &ids).await;
    let m = a.metrics().await;
    assert_eq!(
        metric(&m, "outpost_uplink_failovers_total{uplink=\"mqtt\"}"),
        1.0,
        "{m}"
    );
}

/// A Mosquitto whose agent-facing listener is TLS with `ca`'s certificate for 127.0.0.1,
/// plus a plain loopback listener for the test's control plane (returned with it).
fn tls_broker(ca: &outpost_test_support::https::TestCa, certs: &std::path::Path) -> (Broker, u16) {
    let (cert, key) = ca.leaf_files(&["127.0.0.1"], certs);
    let plain = common::free_tcp_port();
    let broker = Broker::start_with(&format!(
        "certfile {}\nkeyfile {}\nallow_anonymous true\nlistener {plain} 127.0.0.1\nallow_anonymous true\n",
        cert.display(),
        key.display()
    ));
    (broker, plain)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue20_mqtt_a_node_with_a_wrong_certificate_is_skipped_with_a_clear_error() {
    // Two mqtts:// nodes: one with a certificate of the agent's CA, one with a certificate
    // of another CA (placed where the agent starts). The agent refuses the second during
    // the handshake, says why, and works on the first.
    let (ours, theirs) = (
        outpost_test_support::https::TestCa::new(),
        outpost_test_support::https::TestCa::new(),
    );
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (good, good_plain) = tls_broker(&ours, d1.path());
    let (wrong, _) = tls_broker(&theirs, d2.path());
    let id = "cert-1";
    let tls_url = |b: &Broker| format!("mqtts://127.0.0.1:{}", b.port);
    let mut urls = [tls_url(&good), tls_url(&good)];
    urls[start_index(id, 2)] = tls_url(&wrong);
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(
        Options::new(dir.path())
            .mqtt_uplink(&urls.join(", "), id)
            .env(
                "OUTPOST_UPLINK_MQTT_CA_FILE",
                ours.ca_file.to_str().unwrap(),
            ),
    );
    let peer = Peer::connect(good_plain, "cp-cert", &["outpost/cert-1/results"]).await;
    a.wait_connected("mqtt").await;
    let m = a.metrics().await;
    assert_eq!(broker_gauge(&m, &good), 1.0, "{m}");
    assert!(
        metric(&m, "outpost_uplink_failovers_total{uplink=\"mqtt\"}") >= 1.0,
        "{m}"
    );
    let log = a.log_text();
    let refused = log
        .lines()
        .find(|l| l.contains(&format!("127.0.0.1:{}", wrong.port)) && l.contains("certificate"));
    assert!(
        refused.is_some(),
        "the wrong node's refusal names it and the certificate: {log}"
    );
    let ids = a.submit_echo_many(20, 4).await;
    wait_all_delivered(&[&peer], &ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue20_mqtt_all_brokers_down_the_outbox_keeps_its_bound_and_counts_every_drop() {
    // A long outage with a small outbox: the agent keeps taking jobs, the outbox holds its
    // limit (oldest unacknowledged rows go first), and every row dropped is counted, so
    // what arrives afterwards plus what was counted accounts for every result.
    let mut brokers = [Broker::start(), Broker::start()];
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(
        Options::new(dir.path())
            .mqtt_uplink(&list(&[&brokers[0], &brokers[1]]), "bound-1")
            .env("OUTPOST_STORE_OUTBOX_MAX_ROWS", "200"),
    );
    connected_to(&a, &[&brokers[0], &brokers[1]]).await;
    brokers[0].stop();
    brokers[1].stop();
    a.wait_metric(
        "the uplink down",
        "outpost_uplink_connected{uplink=\"mqtt\"}",
        |v| v == 0.0,
    )
    .await;
    let ids = a.submit_echo_many(600, 16).await;
    assert_eq!(ids.len(), 600, "jobs are taken while every broker is down");
    wait_for(
        "the outbox at its bound, the rest counted",
        Duration::from_secs(30),
        || async {
            let m = a.metrics().await;
            metric(&m, "outpost_outbox_depth") <= 200.0
                && metric(&m, "outpost_outbox_dropped_total") >= 400.0
        },
    )
    .await;
    brokers[1].restart();
    let peer = Peer::connect(brokers[1].port, "cp-bound", &["outpost/bound-1/results"]).await;
    connected_to(&a, &[&brokers[0], &brokers[1]]).await;
    let dropped = metric(&a.metrics().await, "outpost_outbox_dropped_total") as usize;
    wait_for(
        "what was kept, delivered",
        Duration::from_secs(30),
        || async {
            let got: std::collections::HashSet<String> =
                peer.results().into_iter().map(|r| r.0).collect();
            got.len() + dropped >= ids.len()
        },
    )
    .await;
    let got: std::collections::HashSet<String> = peer.results().into_iter().map(|r| r.0).collect();
    assert!(got.iter().all(|i| ids.contains(i)), "only our results");
    assert!(
        got.len() <= 200,
        "the outbox held at most 200: {}",
        got.len()
    );
}
