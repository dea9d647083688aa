//! Issue 5 benchmarks, against a real Mosquitto on loopback:
//! - job round trip over MQTT (publish a job, receive its result): p50 and p99;
//! - sustained jobs/s with many jobs outstanding;
//! - outbox drain rate: results buffered while the broker is down, delivered on its return.
//!
//! Usage: uplink PATH_TO_OUTPOST [ROUND_TRIPS] [PIPELINED_JOBS] [BUFFERED_RESULTS]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    collections::HashSet,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use futures_util::{stream, StreamExt};
use outpost_proto::Message;
use outpost_test_support::mosquitto::Broker;
use outpost_test_support::ports::free_tcp_port as free_port;
use outpost_test_support::wait::wait_until;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};

fn wait_port(port: u16) {
    wait_until(
        &format!("port {port} to open"),
        Duration::from_secs(10),
        || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
    );
}

async fn control_plane(port: u16, agent: &str) -> (AsyncClient, EventLoop) {
    let mut o = MqttOptions::new(
        format!("bench-cp-{}", uuid::Uuid::now_v7().simple()),
        "127.0.0.1",
        port,
    );
    o.set_clean_session(false);
    o.set_inflight(1000);
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (c, mut el) = AsyncClient::new(o, 100_000);
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    el.set_network_options(net);
    c.subscribe(format!("outpost/{agent}/results"), QoS::AtLeastOnce)
        .await
        .unwrap();
    loop {
        if let Ok(Event::Incoming(Packet::SubAck(_))) = el.poll().await {
            break;
        }
    }
    (c, el)
}

fn job(id: &str) -> Vec<u8> {
    Message::Job {
        id: id.into(),
        kind: "echo".into(),
        params: serde_json::json!({"n": 1}),
        timeout_ms: None,
    }
    .encode()
}

/// Waits for results; returns the ids seen, until `want` distinct ones arrived.
async fn collect(el: &mut EventLoop, want: usize, seen: &mut HashSet<String>) {
    while seen.len() < want {
        match el.poll().await {
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if let Ok(Message::Result { result, .. }) = Message::decode(&p.payload) {
                    seen.insert(result["id"].as_str().unwrap_or_default().to_owned());
                }
            }
            Ok(_) => {}
            Err(e) => panic!("control plane lost the broker: {e}"),
        }
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bin = args
        .get(1)
        .expect("usage: uplink PATH_TO_OUTPOST [ROUND_TRIPS] [PIPELINED] [BUFFERED]")
        .clone();
    let rtts: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let pipelined: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(50_000);
    let buffered: usize = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    // No Nagle delay on the broker's side, and room for many jobs in flight.
    let mut broker = Broker::start_with(
        "allow_anonymous true\nset_tcp_nodelay true\nmax_inflight_messages 1000\n",
    );
    let mq_port = broker.port;
    let api_port = free_port();
    let data = dir.path().join("agent");
    std::fs::create_dir_all(&data).unwrap();
    let mut agent = Command::new(&bin)
        .args(["run", "--data-dir"])
        .arg(&data)
        .args(["--listen", &format!("127.0.0.1:{api_port}")])
        .env("OUTPOST_TOKEN", "bench")
        .env("OUTPOST_AGENT_ID", "bench-1")
        .env(
            "OUTPOST_UPLINK_MQTT_URL",
            format!("mqtt://127.0.0.1:{mq_port}"),
        )
        .env("OUTPOST_UPLINK_BACKOFF_INITIAL_MS", "50")
        .env("OUTPOST_UPLINK_BACKOFF_MAX_MS", "200")
        .env("OUTPOST_JOBS_QUEUE_CAPACITY", "4096")
        .env("LOG_LEVEL", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_port(api_port);
    let (cp, mut el) = control_plane(mq_port, "bench-1").await;
    // Warm-up: the agent's subscription must be live before timing anything.
    let mut seen = HashSet::new();
    for _ in 0..50 {
        let id = uuid::Uuid::now_v7().to_string();
        cp.publish("outpost/bench-1/jobs", QoS::AtLeastOnce, false, job(&id))
            .await
            .unwrap();
        let t = Instant::now();
        while !seen.contains(&id) {
            tokio::select! {
                ev = el.poll() => if let Ok(Event::Incoming(Packet::Publish(p))) = ev {
                    if let Ok(Message::Result { result, .. }) = Message::decode(&p.payload) { seen.insert(result["id"].as_str().unwrap_or_default().to_owned()); }
                },
                _ = tokio::time::sleep(Duration::from_millis(200)) => {
                    if t.elapsed() > Duration::from_secs(1) { cp.publish("outpost/bench-1/jobs", QoS::AtLeastOnce, false, job(&id)).await.unwrap(); }
                }
            }
        }
    }

    // 1. Round trip, one job at a time.
    let mut lat = Vec::with_capacity(rtts);
    for _ in 0..rtts {
        let id = uuid::Uuid::now_v7().to_string();
        let t = Instant::now();
        cp.publish("outpost/bench-1/jobs", QoS::AtLeastOnce, false, job(&id))
            .await
            .unwrap();
        let mut one = HashSet::new();
        while !one.contains(&id) {
            collect(&mut el, one.len() + 1, &mut one).await;
        }
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    println!("round trip over MQTT, {rtts} sequential echo jobs: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms", pct(&lat, 0.5), pct(&lat, 0.99), lat[lat.len() - 1]);

    // 2. Sustained: keep up to 1,000 jobs outstanding.
    let t = Instant::now();
    let mut seen = HashSet::new();
    let mut sent = 0;
    while seen.len() < pipelined {
        while sent < pipelined && sent - seen.len() < 1000 {
            let id = uuid::Uuid::now_v7().to_string();
            cp.publish("outpost/bench-1/jobs", QoS::AtLeastOnce, false, job(&id))
                .await
                .unwrap();
            sent += 1;
        }
        // Refill in bursts: collecting one result per publish starves rumqttc's own request
        // queue behind the incoming results, and measures the client instead of the agent.
        let want = (seen.len() + 500).min(sent).min(pipelined);
        collect(&mut el, want, &mut seen).await;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "sustained: {pipelined} echo jobs over MQTT in {secs:.2} s = {:.0} jobs/s",
        pipelined as f64 / secs
    );

    // 3. Drain: broker down, results pile up in the outbox, broker back.
    broker.stop();
    let http = reqwest::Client::new();
    let t = Instant::now();
    let accepted: usize = stream::iter(0..buffered)
        .map(|i| {
            let http = http.clone();
            async move {
                let r = http
                    .post(format!("http://127.0.0.1:{api_port}/v1/jobs"))
                    .bearer_auth("bench")
                    .json(&serde_json::json!({"kind": "echo", "params": {"i": i}}))
                    .send()
                    .await;
                usize::from(matches!(r, Ok(r) if r.status() == 202))
            }
        })
        .buffer_unordered(64)
        .fold(0, |a, b| async move { a + b })
        .await;
    assert_eq!(accepted, buffered, "every job accepted while offline");
    // All results stored: the queue is empty.
    loop {
        let m = http
            .get(format!("http://127.0.0.1:{api_port}/metrics"))
            .bearer_auth("bench")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if m.lines().any(|l| l == "outpost_queue_depth 0") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "buffered {buffered} results offline in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    broker.restart();
    let t = Instant::now();
    let mut seen = HashSet::new();
    // The control plane reconnects with its persistent session; rumqttc does it on poll.
    loop {
        match tokio::time::timeout(
            Duration::from_secs(120),
            collect_tolerant(&mut el, buffered, &mut seen),
        )
        .await
        {
            Ok(true) => break,
            Ok(false) => continue,
            Err(_) => panic!("drain incomplete: {} of {buffered}", seen.len()),
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!("drain: {buffered} buffered results delivered in {secs:.2} s after the broker returned = {:.0} results/s", buffered as f64 / secs);
    let _ = agent.kill();
    let _ = agent.wait();
    broker.stop();
}

/// Like `collect`, but rides over the control plane's own reconnection.
async fn collect_tolerant(el: &mut EventLoop, want: usize, seen: &mut HashSet<String>) -> bool {
    while seen.len() < want {
        match el.poll().await {
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if let Ok(Message::Result { result, .. }) = Message::decode(&p.payload) {
                    seen.insert(result["id"].as_str().unwrap_or_default().to_owned());
                }
            }
            Ok(_) => {}
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                return false;
            }
        }
    }
    true
}
