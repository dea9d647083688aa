//! Issue 5: the MQTT uplink against a real Mosquitto broker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{collections::HashMap, time::Duration};

use common::{
    metric,
    mosquitto::Broker,
    mqtt_peer::{check_delivery, Peer},
    wait_for, Agent, Options,
};
use outpost_proto::Message;
use serde_json::json;

fn agent_opts(dir: &std::path::Path, broker: &Broker, id: &str) -> Options {
    Options::new(dir).mqtt_uplink(&broker.url(), id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue5_mqtt_round_trip_and_retained_status() {
    round_trip("3.1.1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue5_mqtt5_round_trip_and_retained_status() {
    round_trip("5").await;
}

async fn round_trip(protocol: &str) {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(
        agent_opts(dir.path(), &broker, "rt-1").env("OUTPOST_UPLINK_MQTT_PROTOCOL", protocol),
    );
    let peer = Peer::connect(
        broker.port,
        "cp-rt",
        &["outpost/rt-1/results", "outpost/rt-1/status"],
    )
    .await;
    a.wait_connected("mqtt").await;
    let id = peer
        .job("outpost/rt-1/jobs", "echo", json!({"ping": 1}))
        .await;
    wait_for("the echo result", Duration::from_secs(20), || async {
        peer.results().iter().any(|(i, _, _)| *i == id)
    })
    .await;
    let (_, seq, body) = peer
        .results()
        .into_iter()
        .find(|(i, _, _)| *i == id)
        .unwrap();
    assert!(seq > 0);
    assert_eq!(body["state"], "succeeded");
    assert_eq!(body["output"], json!({"ping": 1}));
    assert_eq!(body["source"], "uplink:mqtt");
    let online = peer.received.lock().unwrap().iter().any(|(t, b)| {
        t == "outpost/rt-1/status" && String::from_utf8_lossy(b).contains("\"online\"")
    });
    assert!(online, "a retained online status");
    // Mosquitto logs each client's protocol: p2 is 3.1.1, p5 is MQTT 5.
    let tag = if protocol == "5" { "(p5," } else { "(p2," };
    assert!(
        broker
            .log()
            .lines()
            .any(|l| l.contains("as outpost-rt-1 ") && l.contains(tag)),
        "the agent spoke MQTT {protocol}: {}",
        broker.log()
    );
    // The same job delivered again is recognised by id, not run twice.
    let again = Message::Job {
        id: id.clone(),
        kind: "echo".into(),
        params: json!({"ping": 2}),
        timeout_ms: None,
    };
    peer.publish("outpost/rt-1/jobs", again.encode()).await;
    let id2 = peer.job("outpost/rt-1/jobs", "echo", json!(3)).await;
    wait_for("a later result", Duration::from_secs(20), || async {
        peer.results().iter().any(|(i, _, _)| *i == id2)
    })
    .await;
    assert_eq!(
        peer.results().iter().filter(|(i, _, _)| *i == id).count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue5_mqtt_bad_input_is_answered_with_errors_and_the_connection_stays_up() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(agent_opts(dir.path(), &broker, "bad-1"));
    let peer = Peer::connect(broker.port, "cp-bad", &["outpost/bad-1/results"]).await;
    a.wait_connected("mqtt").await;
    let jobs = "outpost/bad-1/jobs";
    peer.publish(jobs, b"{not json".to_vec()).await;
    peer.publish(jobs, br#"{"v":1,"type":"self_destruct"}"#.to_vec())
        .await;
    peer.publish(jobs, vec![b' '; 2 << 20]).await;
    peer.publish(jobs, br#"{"v":9,"type":"job"}"#.to_vec())
        .await;
    let unknown = peer.job(jobs, "launch.missiles", json!({})).await;
    peer.publish(
        jobs,
        Message::Job {
            id: "not-a-uuid".into(),
            kind: "echo".into(),
            params: json!(1),
            timeout_ms: None,
        }
        .encode(),
    )
    .await;
    let bad_params = peer.job(jobs, "sleep", json!({"ms": "soon"})).await;
    let good = peer.job(jobs, "echo", json!("still here")).await;
    wait_for(
        "errors for every bad message and the good result",
        Duration::from_secs(20),
        || async { peer.errors().len() >= 7 && peer.results().iter().any(|(i, _, _)| *i == good) },
    )
    .await;
    let codes: Vec<(String, Option<String>)> =
        peer.errors().into_iter().map(|(c, a, _)| (c, a)).collect();
    for want in [
        "malformed",
        "unknown_type",
        "too_large",
        "unsupported_version",
        "unknown_kind",
        "invalid",
        "bad_params",
    ] {
        assert!(
            codes.iter().any(|(c, _)| c == want),
            "no `{want}` error in {codes:?}"
        );
    }
    assert!(codes.contains(&("unknown_kind".into(), Some(unknown))));
    assert!(codes.contains(&("bad_params".into(), Some(bad_params))));
    let m = a.metrics().await;
    assert_eq!(
        metric(&m, "outpost_uplink_reconnects_total{uplink=\"mqtt\"}"),
        0.0,
        "the connection stayed up: {m}"
    );
    assert_eq!(
        metric(
            &m,
            "outpost_uplink_rejected_total{uplink=\"mqtt\",code=\"unknown_type\"}"
        ),
        1.0,
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue5_mqtt_broker_restarted_5_times_during_10000_results_loses_none() {
    let mut broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(agent_opts(dir.path(), &broker, "restart-1"));
    let peer = Peer::connect(broker.port, "cp-restart", &["outpost/restart-1/results"]).await;
    a.wait_connected("mqtt").await;
    let total = 10_000;
    let mut ids = Vec::new();
    for round in 0..5 {
        ids.extend(a.submit_echo_many(total / 5, 32).await);
        // Restart while this round's results are still streaming out.
        let in_flight = ids.len() - peer.results().len().min(ids.len());
        broker.restart();
        eprintln!(
            "broker restart {} with about {in_flight} results not yet seen by the peer",
            round + 1
        );
        // The next restart must cut a live uplink, not one still backing off.
        wait_for(
            "the agent to reconnect",
            Duration::from_secs(30),
            || async {
                let m = a.metrics().await;
                metric(&m, "outpost_uplink_reconnects_total{uplink=\"mqtt\"}") >= (round + 1) as f64
                    && metric(&m, "outpost_uplink_connected{uplink=\"mqtt\"}") == 1.0
            },
        )
        .await;
    }
    assert_eq!(ids.len(), total, "every submission was accepted");
    let end = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let got: std::collections::HashSet<String> =
            peer.results().into_iter().map(|r| r.0).collect();
        if ids.iter().all(|i| got.contains(i)) {
            break;
        }
        if std::time::Instant::now() > end {
            let m = a.metrics().await;
            let uplink: Vec<&str> = m
                .lines()
                .filter(|l| l.starts_with("outpost_uplink") || l.starts_with("outpost_outbox"))
                .collect();
            panic!(
                "only {} of {total} results arrived; agent: {uplink:?}",
                got.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Each restart may resend one window (512) from the agent, and the broker may redeliver
    // to the peer what it had not acknowledged.
    check_delivery(peer.results(), &ids, 5 * 2 * 512);
    let m = a.metrics().await;
    assert!(
        metric(&m, "outpost_uplink_reconnects_total{uplink=\"mqtt\"}") >= 5.0,
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue5_mqtt_agent_killed_during_a_stream_loses_nothing() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let mut a = Agent::start(agent_opts(dir.path(), &broker, "kill-1"));
    let peer = Peer::connect(broker.port, "cp-kill", &["outpost/kill-1/results"]).await;
    a.wait_connected("mqtt").await;
    let mut ids = a.submit_echo_many(3000, 32).await;
    wait_for("part of the stream", Duration::from_secs(30), || async {
        peer.results().len() >= 500
    })
    .await;
    a.kill9();
    let a = Agent::start(agent_opts(dir.path(), &broker, "kill-1"));
    ids.extend(a.submit_echo_many(1000, 32).await);
    wait_for(
        "every result, including those buffered when the agent died",
        Duration::from_secs(90),
        || async {
            let got: std::collections::HashSet<String> =
                peer.results().into_iter().map(|r| r.0).collect();
            ids.iter().all(|i| got.contains(i))
        },
    )
    .await;
    check_delivery(peer.results(), &ids, 2 * 512);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue5_mqtt_pool_jobs_spread_across_two_agents() {
    pool_spread("3.1.1").await;
}

/// Shared subscriptions are an MQTT 5 feature; the pool must work in the protocol that
/// defines them, too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue5_mqtt5_pool_jobs_spread_across_two_agents() {
    pool_spread("5").await;
}

async fn pool_spread(protocol: &str) {
    let broker = Broker::start();
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let pool_opts = |d: &std::path::Path, id: &str| {
        agent_opts(d, &broker, id)
            .env("OUTPOST_UPLINK_MQTT_POOL", "p1")
            .env("OUTPOST_UPLINK_MQTT_PROTOCOL", protocol)
    };
    let a1 = Agent::start(pool_opts(d1.path(), "pool-a"));
    let a2 = Agent::start(pool_opts(d2.path(), "pool-b"));
    let peer = Peer::connect(broker.port, "cp-pool", &["outpost/+/results"]).await;
    a1.wait_connected("mqtt").await;
    a2.wait_connected("mqtt").await;
    let mut ids = vec![];
    for i in 0..200 {
        ids.push(peer.job("outpost/pool/p1/jobs", "echo", json!(i)).await);
    }
    wait_for("200 pool results", Duration::from_secs(30), || async {
        peer.results().len() >= 200
    })
    .await;
    let mut by_agent: HashMap<String, usize> = HashMap::new();
    for (topic, m) in peer.messages() {
        if matches!(m, Message::Result { .. }) {
            *by_agent.entry(topic).or_default() += 1;
        }
    }
    let a = by_agent.get("outpost/pool-a/results").copied().unwrap_or(0);
    let b = by_agent.get("outpost/pool-b/results").copied().unwrap_or(0);
    assert_eq!(a + b, 200, "each pool job ran exactly once: {by_agent:?}");
    assert!(
        a >= 40 && b >= 40,
        "the broker spread the pool's jobs: {by_agent:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue5_mqtt_bad_credentials_are_reported_and_retried_with_backoff() {
    let broker_dir = tempfile::tempdir().unwrap();
    let pw = broker_dir.path().join("passwd");
    let st = std::process::Command::new("mosquitto_passwd")
        .args(["-c", "-b"])
        .arg(&pw)
        .args(["agent", "right-password"])
        .status()
        .expect("mosquitto_passwd");
    assert!(st.success());
    let broker = Broker::start_with(&format!(
        "allow_anonymous false\npassword_file {}\n",
        pw.display()
    ));
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(
        agent_opts(dir.path(), &broker, "cred-1")
            .env("OUTPOST_UPLINK_MQTT_USERNAME", "agent")
            .env("OUTPOST_UPLINK_MQTT_PASSWORD", "wrong-password"),
    );
    a.wait_metric(
        "three refused attempts",
        "outpost_uplink_reconnects_total{uplink=\"mqtt\"}",
        |v| v >= 3.0,
    )
    .await;
    let log = a.log_text();
    assert!(log.contains("refused the connection"), "{log}");
    assert!(log.contains("reconnecting after backoff"), "{log}");
    assert!(
        !log.contains("wrong-password"),
        "the password must never be logged"
    );
    assert_eq!(
        metric(
            &a.metrics().await,
            "outpost_uplink_connected{uplink=\"mqtt\"}"
        ),
        0.0
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all as PEM files.
fn pki(dir: &std::path::Path) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let write = |name: &str, text: String| std::fs::write(dir.join(name), text).unwrap();
    write("ca.pem", ca.pem());
    for (name, sans) in [
        ("server", vec!["127.0.0.1".to_owned()]),
        ("client", vec!["agent-cert".to_owned()]),
    ] {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(sans).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name}-cn"));
        let cert = params.signed_by(&key, &issuer).unwrap();
        write(&format!("{name}.pem"), cert.pem());
        write(&format!("{name}-key.pem"), key.serialize_pem());
    }
}

/// Brokers that authenticate agents by certificate: the agent presents its client
/// certificate over mqtts (verified against the operator's CA, not blindly) and its jobs
/// round-trip; without a certificate the broker refuses it, which is reported and retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue5_mqtt_client_certificate_auth_over_tls() {
    let certs = tempfile::tempdir().unwrap();
    pki(certs.path());
    let plain = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = |f: &str| certs.path().join(f).display().to_string();
    // The first listener (the agent's) is TLS with required client certificates; a plain
    // one on loopback serves the test's control plane.
    let broker = Broker::start_with(&format!(
        "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\nuse_identity_as_username true\nallow_anonymous true\nlistener {plain} 127.0.0.1\n",
        c("ca.pem"),
        c("server.pem"),
        c("server-key.pem")
    ));
    let url = format!("mqtts://127.0.0.1:{}", broker.port);
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(
        agent_opts(dir.path(), &broker, "tls-1")
            .env("OUTPOST_UPLINK_MQTT_URL", &url)
            .env("OUTPOST_UPLINK_MQTT_CA_FILE", &c("ca.pem"))
            .env("OUTPOST_UPLINK_MQTT_CLIENT_CERT", &c("client.pem"))
            .env("OUTPOST_UPLINK_MQTT_CLIENT_KEY", &c("client-key.pem")),
    );
    let peer = Peer::connect(plain, "cp-tls", &["outpost/tls-1/results"]).await;
    a.wait_connected("mqtt").await;
    let id = peer
        .job("outpost/tls-1/jobs", "echo", json!("over tls"))
        .await;
    wait_for(
        "the echo result over mqtts",
        Duration::from_secs(20),
        || async { peer.results().iter().any(|(i, _, _)| *i == id) },
    )
    .await;

    // The same broker, no client certificate: refused during the handshake, retried.
    let dir2 = tempfile::tempdir().unwrap();
    let b = Agent::start(
        agent_opts(dir2.path(), &broker, "tls-2")
            .env("OUTPOST_UPLINK_MQTT_URL", &url)
            .env("OUTPOST_UPLINK_MQTT_CA_FILE", &c("ca.pem")),
    );
    b.wait_metric(
        "refused attempts without a certificate",
        "outpost_uplink_reconnects_total{uplink=\"mqtt\"}",
        |v| v >= 2.0,
    )
    .await;
    assert_eq!(
        metric(
            &b.metrics().await,
            "outpost_uplink_connected{uplink=\"mqtt\"}"
        ),
        0.0
    );
    assert!(b.log_text().contains("reconnecting after backoff"));

    // And without the CA, the broker's certificate is not trusted: verification is on.
    let dir3 = tempfile::tempdir().unwrap();
    let d = Agent::start(
        agent_opts(dir3.path(), &broker, "tls-3")
            .env("OUTPOST_UPLINK_MQTT_URL", &url)
            .env("OUTPOST_UPLINK_MQTT_CLIENT_CERT", &c("client.pem"))
            .env("OUTPOST_UPLINK_MQTT_CLIENT_KEY", &c("client-key.pem")),
    );
    wait_for(
        "an untrusted broker certificate",
        Duration::from_secs(20),
        || async { d.log_text().to_lowercase().contains("certificate") },
    )
    .await;
    assert_eq!(
        metric(
            &d.metrics().await,
            "outpost_uplink_connected{uplink=\"mqtt\"}"
        ),
        0.0
    );
}

#[test]
fn issue5_mqtt_tls_settings_are_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(["run", "--data-dir"])
        .arg(dir.path())
        .env("OUTPOST_UPLINK_MQTT_URL", "mqtt://127.0.0.1:1")
        .env("OUTPOST_UPLINK_MQTT_CLIENT_CERT", "/nonexistent/cert.pem")
        .env("OUTPOST_UPLINK_MQTT_CLIENT_KEY", "/nonexistent/key.pem")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("uplink.mqtt.url") && err.contains("mqtts"),
        "{err}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_outpost"))
        .args(["run", "--data-dir"])
        .arg(dir.path())
        .env("OUTPOST_UPLINK_MQTT_PROTOCOL", "6")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("uplink.mqtt.protocol"));
}
