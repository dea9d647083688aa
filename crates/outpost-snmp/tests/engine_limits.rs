//! Engine limits against a trivial echo agent: per-target and global PDU
//! rate limits space requests out; the global in-flight cap holds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_snmp::engine::{Engine, EngineConfig, TargetConfig};
use outpost_snmp::message::{CommunityMessage, Message};
use outpost_snmp::pdu::{AnyPdu, PduType};
use outpost_snmp::{Oid, Security};
use tokio::net::UdpSocket;

/// Answers every GET after `delay`, echoing the varbinds. `open` counts
/// requests being answered (shared by agents to see the engine-wide
/// figure) and `peak` keeps its maximum.
async fn echo_agent(delay: Duration, open: Arc<AtomicUsize>, peak: Arc<AtomicUsize>) -> SocketAddr {
    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let Ok(Message::Community(mut m)) = Message::decode(&buf[..n]) else {
                continue;
            };
            if let AnyPdu::Pdu(p) = &mut m.pdu {
                p.pdu_type = PduType::Response;
            }
            let now = open.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            let (sock, open) = (sock.clone(), open.clone());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                open.fetch_sub(1, Ordering::SeqCst);
                let reply = Message::Community(CommunityMessage { ..m }).encode();
                let _ = sock.send_to(&reply, from).await;
            });
        }
    });
    addr
}

fn cfg(addr: SocketAddr) -> TargetConfig {
    let mut c = TargetConfig::new(addr.to_string().parse().unwrap(), Security::v2c("public"));
    c.max_in_flight = 64;
    c
}

fn oid() -> Vec<Oid> {
    vec![".1.3.6.1.2.1.1.5.0".parse().unwrap()]
}

#[tokio::test]
async fn per_target_rate_limit_spaces_requests() {
    let agent = echo_agent(Duration::ZERO, Arc::default(), Arc::default()).await;
    let engine = Engine::new(EngineConfig::default()).await.unwrap();
    let mut c = cfg(agent);
    c.rate_limit = Some(20.0);
    let s = engine.session(c).await.unwrap();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..11 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move { s.get(&oid()).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // 11 PDUs at 20/s: the last leaves 500 ms after the first.
    assert!(
        started.elapsed() >= Duration::from_millis(490),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn global_in_flight_cap_and_rate_hold_across_targets() {
    let peak = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicUsize::new(0));
    let engine = Engine::new(EngineConfig {
        max_in_flight: 3,
        global_rate: Some(200.0),
        ..EngineConfig::default()
    })
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let agent = echo_agent(Duration::from_millis(30), open.clone(), peak.clone()).await;
        let s = engine.session(cfg(agent)).await.unwrap();
        for _ in 0..5 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move { s.get(&oid()).await }));
        }
    }
    let started = Instant::now();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // Across all four agents, never more than 3 requests outstanding at
    // once; and 20 PDUs at 200/s take at least 95 ms.
    let p = peak.load(Ordering::SeqCst);
    assert!((1..=3).contains(&p), "peak {p}");
    assert!(started.elapsed() >= Duration::from_millis(90));
    assert_eq!(engine.stats().responses_accepted, 20);
}

/// Issue 17 (Towerops' 200 PDUs/s, retries charged): a retransmission is a datagram on the
/// wire like any other, so the engine-wide rate spaces it too. Two requests to a target that
/// never answers, 5 attempts each, at 20 PDUs/s: the silent target sees 10 datagrams, none
/// closer than the limit allows, where unpaced retries would arrive in bursts.
#[tokio::test]
async fn issue17_retransmissions_are_charged_to_the_rate_limit() {
    let (addr, mut arrivals) = outpost_test_support::ports::silent_udp("127.0.0.1").await;
    let engine = Engine::new(EngineConfig {
        global_rate: Some(20.0),
        ..EngineConfig::default()
    })
    .await
    .unwrap();
    let mut c = cfg(addr);
    c.timeout = Duration::from_millis(10);
    c.retries = 4;
    let s = engine.session(c).await.unwrap();
    let oids = oid();
    let (a, b) = tokio::join!(s.get(&oids), s.get(&oids));
    assert!(a.is_err() && b.is_err(), "a silent target times out");
    assert_eq!(engine.stats().requests_sent, 10);
    assert_eq!(engine.stats().retransmits, 8);
    let mut t = Vec::new();
    while t.len() < 10 {
        match tokio::time::timeout(Duration::from_secs(5), arrivals.recv()).await {
            Ok(Some(at)) => t.push(at),
            _ => panic!("{} of 10 datagrams arrived", t.len()),
        }
    }
    // 20/s is one per 50 ms. One send may leave late (a busy scheduler) and close the gap
    // to the next, so the bound is on spans: never three within 50 ms (unpaced retries of
    // two requests come every ~10 ms), and ten over at least 400 ms.
    for w in t.windows(3) {
        assert!(
            w[2] - w[0] >= Duration::from_millis(50),
            "{:?} in {t:?}",
            w[2] - w[0]
        );
    }
    assert!(
        t[9] - t[0] >= Duration::from_millis(400),
        "{:?}",
        t[9] - t[0]
    );
}
