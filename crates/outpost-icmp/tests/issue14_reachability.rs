//! The engine against real hosts in network namespaces the test creates: a reachable host
//! (v4 and v6, kernel echo replies), a silent host (every probe times out), a router that
//! answers "unreachable" and "time exceeded" (each probe fails fast), and the
//! packets-per-second cap.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::netns::{self, Netns};
use outpost_icmp::{Counters, Engine, EngineConfig, Mode, Outcome, PingSpec};

fn spec(target: IpAddr, count: u32, interval_ms: u64, timeout_ms: u64) -> PingSpec {
    PingSpec {
        count,
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(timeout_ms),
        ..PingSpec::new(target)
    }
}

fn reachable(v6: bool) {
    let (a, b) = (Netns::new("ra"), Netns::new("rb"));
    let l = netns::link(&a, &b, 1);
    let target = l.b(v6);
    let (result, counters, mode) = a.run(move || async move {
        let engine = Engine::new(EngineConfig::default()).unwrap();
        let r = engine.ping(&spec(target, 5, 20, 1000)).await.unwrap();
        let mode = engine
            .open(outpost_icmp::Family::of(&target))
            .await
            .unwrap()
            .0;
        (r, engine.counters(), mode)
    });
    assert_eq!(mode, Mode::Raw, "root gets a raw socket");
    assert_eq!((result.sent, result.received), (5, 5), "{result:?}");
    assert_eq!(result.loss_pct, 0.0);
    assert_eq!(result.rtts().len(), 5);
    assert!(result
        .probes
        .iter()
        .all(|p| matches!(p, Outcome::Reply { .. })));
    let (min, avg, max) = (
        result.rtt_min_ms.unwrap(),
        result.rtt_avg_ms.unwrap(),
        result.rtt_max_ms.unwrap(),
    );
    assert!(
        0.0 < min && min <= avg && avg <= max && max < 1000.0,
        "{result:?}"
    );
    assert!(result.rtt_stddev_ms.unwrap() >= 0.0);
    assert_eq!(counters.sent, 5);
    assert_eq!(counters.replies, 5);
    assert_eq!(
        Counters {
            sent: 0,
            replies: 0,
            ..counters
        },
        Counters::default(),
        "nothing dropped on a clean link"
    );
}

#[test]
fn issue14_reachable_host_v4_answers_every_probe() {
    reachable(false);
}

#[test]
fn issue14_reachable_host_v6_answers_every_probe() {
    reachable(true);
}

#[test]
fn issue14_silent_host_times_out_every_probe() {
    let (a, b) = (Netns::new("sa"), Netns::new("sb"));
    let l = netns::link(&a, &b, 1);
    common::silence_kernel(&b);
    for v6 in [false, true] {
        let target = l.b(v6);
        let (result, took) = a.run(move || async move {
            let engine = Engine::new(EngineConfig::default()).unwrap();
            let t = Instant::now();
            let r = engine.ping(&spec(target, 3, 50, 300)).await.unwrap();
            (r, t.elapsed())
        });
        assert_eq!((result.sent, result.received), (3, 0), "{result:?}");
        assert_eq!(result.loss_pct, 100.0);
        assert!(result.probes.iter().all(|p| *p == Outcome::Timeout));
        assert_eq!(result.rtt_min_ms, None);
        // Last probe at 100 ms waits its 300 ms: done at ~400 ms, not count x timeout.
        assert!(took >= Duration::from_millis(390), "{took:?}");
        assert!(took < Duration::from_millis(900), "{took:?}");
    }
}

/// prober A --(10.1.0.0/24)-- router R --(10.2.0.0/24)-- host B; A routes everything via R.
fn routed() -> (Netns, Netns, Netns, netns::Link, netns::Link) {
    let (a, r, b) = (Netns::new("ua"), Netns::new("ur"), Netns::new("ub"));
    let ar = netns::link(&a, &r, 1);
    let rb = netns::link(&r, &b, 2);
    r.sysctl("net.ipv4.ip_forward", "1");
    r.sysctl("net.ipv4.icmp_ratelimit", "0");
    a.ip(&["route", "add", "default", "via", &ar.b4.to_string()]);
    b.ip(&["route", "add", "default", "via", &rb.a4.to_string()]);
    (a, r, b, ar, rb)
}

#[test]
fn issue14_router_unreachable_fails_each_probe_fast() {
    let (a, _r, _b, ar, _rb) = routed();
    // R has no route to 10.99.0.0/8: it answers each probe "net unreachable" at once.
    let (result, took, counters) = a.run(move || async move {
        let engine = Engine::new(EngineConfig::default()).unwrap();
        let t = Instant::now();
        let r = engine
            .ping(&spec("10.99.0.1".parse().unwrap(), 3, 20, 5000))
            .await
            .unwrap();
        (r, t.elapsed(), engine.counters())
    });
    assert_eq!((result.sent, result.received), (3, 0), "{result:?}");
    for p in &result.probes {
        assert_eq!(
            *p,
            Outcome::Unreachable {
                from: ar.b4.into(),
                code: 0
            }
        );
    }
    assert!(
        took < Duration::from_secs(2),
        "not the 5 s timeout: {took:?}"
    );
    assert_eq!(counters.errors_matched, 3);
}

#[test]
fn issue14_ttl_exceeded_at_the_router_is_reported_as_such() {
    let (a, _r, _b, ar, rb) = routed();
    let target: IpAddr = rb.b4.into();
    let (short, full) = a.run(move || async move {
        let engine = Engine::new(EngineConfig::default()).unwrap();
        let mut s = spec(target, 2, 20, 5000);
        s.ttl = Some(1);
        let short = engine.ping(&s).await.unwrap();
        s.ttl = None;
        let full = engine.ping(&s).await.unwrap();
        (short, full)
    });
    assert_eq!(short.received, 0, "{short:?}");
    for p in &short.probes {
        assert_eq!(
            *p,
            Outcome::TimeExceeded {
                from: ar.b4.into(),
                code: 0
            }
        );
    }
    // The TTL was per target: the same socket's next probes get the default again.
    assert_eq!(full.received, 2, "{full:?}");
}

#[test]
fn issue14_packets_per_second_cap_spaces_every_callers_probes() {
    let (a, b) = (Netns::new("pa"), Netns::new("pb"));
    let l = netns::link(&a, &b, 1);
    let target = l.b(false);
    let (results, took) = a.run(move || async move {
        let engine = Engine::new(EngineConfig {
            max_pps: 100,
            ..EngineConfig::default()
        })
        .unwrap();
        // Four callers of 15 probes each, asking for 1 ms intervals: 60 packets at 100/s.
        let specs: Vec<PingSpec> = (0..4).map(|_| spec(target, 15, 1, 2000)).collect();
        let t = Instant::now();
        let r = engine.ping_many(&specs).await;
        (r, t.elapsed())
    });
    for r in results {
        assert_eq!(r.unwrap().received, 15);
    }
    // 60 slots 10 ms apart: the last leaves at >= 590 ms.
    assert!(
        took >= Duration::from_millis(590),
        "cap not applied: {took:?}"
    );
}
