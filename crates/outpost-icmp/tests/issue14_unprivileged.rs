//! Without CAP_NET_RAW: the kernel's unprivileged ping socket where the namespace's
//! `net.ipv4.ping_group_range` allows the process's group, and one clear error naming both
//! fixes where nothing is allowed (never a crash).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::netns::{self, Netns};
use outpost_icmp::{Engine, EngineConfig, Family, IcmpError, Mode, PingSpec};

#[test]
fn issue14_unprivileged_ping_socket_where_ping_group_range_allows() {
    let (a, b) = (Netns::new("na"), Netns::new("nb"));
    let l = netns::link(&a, &b, 1);
    a.sysctl("net.ipv4.ping_group_range", "0 2147483647");
    for v6 in [false, true] {
        let target = l.b(v6);
        let (mode, result, counters) = a.run(move || async move {
            common::drop_net_raw();
            let engine = Engine::new(EngineConfig::default()).unwrap();
            let mode = engine.open(Family::of(&target)).await.unwrap().0;
            let s = PingSpec {
                count: 4,
                interval: Duration::from_millis(10),
                timeout: Duration::from_millis(1000),
                ..PingSpec::new(target)
            };
            (mode, engine.ping(&s).await.unwrap(), engine.counters())
        });
        assert_eq!(mode, Mode::Unprivileged, "v6={v6}");
        assert_eq!((result.sent, result.received), (4, 4), "{result:?}");
        assert_eq!(counters.replies, 4);
    }
}

#[test]
fn issue14_no_raw_and_no_ping_group_is_one_clear_error() {
    let ns = Netns::new("nx");
    // A new namespace's ping_group_range is "1 0": nobody.
    let errors = ns.run(|| async {
        common::drop_net_raw();
        let engine = Engine::new(EngineConfig::default()).unwrap();
        let open = engine.open(Family::V4).await;
        let ping = engine
            .ping(&PingSpec::new("127.0.0.1".parse().unwrap()))
            .await;
        (open.map(|_| ()), ping.map(|_| ()))
    });
    for e in [errors.0, errors.1] {
        let e = e.unwrap_err();
        assert!(matches!(e, IcmpError::NotPermitted { .. }), "{e:?}");
        let text = e.to_string();
        for needle in [
            "CAP_NET_RAW",
            "setcap cap_net_raw+ep",
            "net.ipv4.ping_group_range",
            "sysctl -w",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from: {text}");
        }
    }
}
