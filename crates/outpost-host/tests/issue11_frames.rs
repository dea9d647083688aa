//! Issue 11: socktop replies served from cache are the stored frame (the same bytes, shared by
//! reference count, not serialized or gzipped again), a value past its TTL is collected and
//! encoded anew, and concurrent misses collect and encode once. Against the real /proc.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use flate2::read::GzDecoder;
use outpost_host::socktop::{self, answer, cached_reply, Frame, Reply, Request};
use outpost_host::{CacheGroup, Host, HostConfig};

const HOUR: Duration = Duration::from_secs(3600);

fn host(metrics: Duration, disks: Duration, processes: Duration) -> Host {
    Host::new(HostConfig {
        metrics_ttl: metrics,
        disks_ttl: disks,
        processes_ttl: processes,
        ..HostConfig::default()
    })
}

const CASES: [(&str, Request, CacheGroup); 3] = [
    ("get_metrics", Request::Metrics, CacheGroup::Metrics),
    ("get_disks", Request::Disks, CacheGroup::Disks),
    ("get_processes", Request::Processes, CacheGroup::Processes),
];

/// Where the frame's bytes live: equal pointers mean one shared buffer.
fn ptr(r: &Reply) -> *const u8 {
    r.bytes().as_ptr()
}

fn sampled_at_ms(r: &Reply) -> u64 {
    let json = match r {
        Reply::Text(t) => t.to_string(),
        Reply::Binary(b) => {
            let mut s = String::new();
            GzDecoder::new(&b[..]).read_to_string(&mut s).unwrap();
            s
        }
    };
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["sampled_at_ms"].as_u64().unwrap()
}

#[test]
fn issue11_cache_hit_is_the_stored_frame_not_a_re_encode() {
    let host = host(HOUR, HOUR, HOUR);
    for (name, request, group) in CASES {
        let first = answer(&host, Frame::Text(name));
        assert!(
            !matches!(&first, Reply::Text(t) if t.contains("\"error\"")),
            "{name}: {first:?}"
        );
        for _ in 0..50 {
            let again = answer(&host, Frame::Text(name));
            assert_eq!(again, first, "{name}: a hit changed the bytes");
            assert_eq!(ptr(&again), ptr(&first), "{name}: a hit copied the frame");
            let inline = cached_reply(&host, request).expect("a fresh value is served inline");
            assert_eq!(ptr(&inline), ptr(&first), "{name}");
        }
        assert_eq!(
            host.frame_encodes(group),
            1,
            "{name} encoded again on a hit"
        );
        assert_eq!(
            host.collections(group),
            1,
            "{name} collected again on a hit"
        );
    }
}

#[test]
fn issue11_after_the_ttl_a_fresh_value_is_collected_and_encoded() {
    let ttl = Duration::from_millis(40);
    let host = host(ttl, ttl, ttl);
    for (name, request, group) in CASES {
        let first = answer(&host, Frame::Text(name));
        let t0 = Instant::now();
        // Served from the frame until the TTL runs out, then a new one: wait for the change
        // (get_disks' frame also changes with the metrics it took temperatures from).
        let deadline = t0 + Duration::from_secs(10);
        let next = loop {
            let r = answer(&host, Frame::Text(name));
            if ptr(&r) != ptr(&first) && host.collections(group) >= 2 {
                break r;
            }
            assert!(Instant::now() < deadline, "{name}: never refreshed");
            std::thread::yield_now();
        };
        assert!(t0.elapsed() >= ttl / 2, "{name}: refreshed before its TTL");
        if request == Request::Disks {
            // Its frame also follows the metrics it took temperatures from.
            assert!(host.frame_encodes(group) >= 2, "{name}");
        } else {
            assert_eq!(host.frame_encodes(group), 2, "{name}");
        }
        assert!(host.collections(group) >= 2, "{name}");
        if request == Request::Metrics {
            assert!(
                sampled_at_ms(&next) > sampled_at_ms(&first),
                "stale metrics served"
            );
        }
        // The new frame is the one now served from cache.
        if let Some(hit) = cached_reply(&host, request) {
            assert_eq!(ptr(&hit), ptr(&next), "{name}");
        }
    }

    // TTL 0: nothing is served from cache, every request collects and encodes.
    let host = host_uncached();
    for (name, request, group) in CASES {
        for _ in 0..3 {
            answer(&host, Frame::Text(name));
            assert!(cached_reply(&host, request).is_none(), "{name}");
        }
        assert_eq!(host.frame_encodes(group), 3, "{name}");
    }
}

fn host_uncached() -> Host {
    host(Duration::ZERO, Duration::ZERO, Duration::ZERO)
}

#[test]
fn issue11_concurrent_misses_collect_and_encode_once() {
    for (name, _, group) in CASES {
        let host = host(HOUR, HOUR, HOUR);
        let barrier = Arc::new(Barrier::new(8));
        let replies: Vec<Reply> = (0..8)
            .map(|_| {
                let (host, barrier) = (host.clone(), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    answer(&host, Frame::Text(name))
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert!(
            replies.iter().all(|r| ptr(r) == ptr(&replies[0])),
            "{name}: concurrent callers got different frames"
        );
        assert_eq!(host.collections(group), 1, "{name} collected twice");
        assert_eq!(host.frame_encodes(group), 1, "{name} encoded twice");
    }
}

#[test]
fn issue11_stored_frames_decode_as_socktop_expects() {
    // The stored frame is the encoder's output, byte for byte, on the first request and on hits.
    let host = host(HOUR, HOUR, HOUR);
    let list = host.processes().unwrap();
    let fresh = socktop::processes_reply(&list);
    for _ in 0..2 {
        assert_eq!(answer(&host, Frame::Text("get_processes")), fresh);
    }
    let metrics = host.metrics().unwrap();
    for _ in 0..2 {
        assert_eq!(
            answer(&host, Frame::Text("get_metrics")),
            socktop::metrics_reply(&metrics)
        );
    }
}
