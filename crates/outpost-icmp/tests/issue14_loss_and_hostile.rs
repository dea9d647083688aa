//! Exact loss accounting behind a peer that drops a known share of requests (the test's own
//! raw-socket responder; the peer's kernel echo replies are off), and hostile replies
//! (another identifier, truncated, forged payload, wrong source, replays) dropped and counted
//! without costing the genuine reply its credit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::netns::{self, Netns};
use common::Behaviour;
use outpost_icmp::{Counters, Engine, EngineConfig, Family, Outcome, PingSpec};

fn lossy(v6: bool) {
    let (a, b) = (Netns::new("la"), Netns::new("lb"));
    let l = netns::link(&a, &b, 1);
    common::silence_kernel(&b);
    let family = if v6 { Family::V6 } else { Family::V4 };
    let peer = common::respond(&b, family, Behaviour::DropEvery(4));
    let target = l.b(v6);
    let (result, counters) = a.run(move || async move {
        let engine = Engine::new(EngineConfig::default()).unwrap();
        let s = PingSpec {
            count: 20,
            interval: Duration::from_millis(5),
            timeout: Duration::from_millis(500),
            ..PingSpec::new(target)
        };
        (engine.ping(&s).await.unwrap(), engine.counters())
    });
    // Requests 0, 4, 8, 12, 16 dropped: exactly 5 of 20.
    assert_eq!(peer.requests.load(std::sync::atomic::Ordering::Relaxed), 20);
    assert_eq!((result.sent, result.received), (20, 15), "{result:?}");
    assert_eq!(result.loss_pct, 25.0);
    for (i, p) in result.probes.iter().enumerate() {
        if i % 4 == 0 {
            assert_eq!(*p, Outcome::Timeout, "probe {i}");
        } else {
            assert!(matches!(p, Outcome::Reply { .. }), "probe {i}: {p:?}");
        }
    }
    assert_eq!((counters.sent, counters.replies), (20, 15));
    assert_eq!(
        counters.unmatched + counters.bad_payload + counters.malformed,
        0
    );
}

#[test]
fn issue14_lossy_peer_v4_exact_loss() {
    lossy(false);
}

#[test]
fn issue14_lossy_peer_v6_exact_loss() {
    lossy(true);
}

#[test]
fn issue14_hostile_replies_are_dropped_and_counted() {
    let (a, b) = (Netns::new("ha"), Netns::new("hb"));
    let l = netns::link(&a, &b, 1);
    common::silence_kernel(&b);
    // A second address on the peer: replies from it carry a waiting probe's identifier and
    // sequence, but not its target's source.
    let alt: IpAddr = "10.1.0.3".parse().unwrap();
    b.ip(&["addr", "add", "10.1.0.3/24", "dev", "vB1"]);
    let _peer = common::respond(&b, Family::V4, Behaviour::Hostile { alt_source: alt });
    let target = l.b(false);
    let (result, counters) = a.run(move || async move {
        let engine = Engine::new(EngineConfig::default()).unwrap();
        let s = PingSpec {
            count: 5,
            interval: Duration::from_millis(20),
            timeout: Duration::from_millis(1000),
            ..PingSpec::new(target)
        };
        let r = engine.ping(&s).await.unwrap();
        // The replays of the last probe trail its genuine reply: wait until they are counted.
        outpost_test_support::wait::wait_for("the last replays", Duration::from_secs(5), || {
            let c = engine.counters();
            async move { c.unmatched >= 15 }
        })
        .await;
        (r, engine.counters())
    });
    // Every genuine reply credited, to the right probe, despite what came before it.
    assert_eq!((result.sent, result.received), (5, 5), "{result:?}");
    assert_eq!(
        counters,
        Counters {
            sent: 5,
            replies: 5,
            foreign: 5,      // another identifier
            malformed: 10,   // bad checksum, truncated quote
            bad_payload: 15, // flipped cookie (reply, quoted in an unreachable), payload cut
            unmatched: 15,   // from the wrong source, then two replays
            ..Counters::default()
        }
    );
}
