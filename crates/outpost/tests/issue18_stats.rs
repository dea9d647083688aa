//! Issue 18, part 2: SocketMan's stats collection and upload against a real HTTP(S) server
//! that records each POST; the tests read the multipart body and the gzip NDJSON in it as
//! SocketMan's collector would. The whole cache arrives (SocketMan sent its first 32 KiB),
//! a 500 goes to the backup, a 401 to re-provisioning and not to the backup, nothing is
//! deleted before a 2xx, TLS is verified against `cacrt`; the line's fields come from a
//! recorded /proc tree and the score from real TCP checks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Agent, Options};
use outpost::adapters::socketman::{
    collect::Paths,
    config,
    score::Targets,
    stats::{Sent, Stats},
};
use outpost_test_support::{https::TestCa, multipart, recorder::Recorder};

const MAC: &str = "AA-BB-CC-00-11-2F";

/// SocketMan settings with these `extra` keys (MQTT off: the upload needs no broker).
fn settings(dir: &Path, extra: &str) -> config::Settings {
    let path = dir.join("config.json");
    let text = format!(
        r#"{{"disable_mqtt":1,"mac":"{MAC}","token":"tok","health_url":"127.0.0.1","health_port":9{extra}}}"#
    );
    std::fs::write(&path, &text).unwrap();
    config::load(&path).unwrap()
}

/// A line of about 1 KB, numbered, like a collection.
fn line(n: usize) -> String {
    format!(
        r#"{{"device":{{"mac":"{MAC}","n":{n},"pad":"{}"}}}}"#,
        "x".repeat(1000)
    )
}

fn stats(dir: &Path, extra: &str) -> Stats {
    Stats::new(&settings(dir, extra), &dir.join("cache"), Paths::under(dir))
        .unwrap()
        .unwrap()
}

fn request_line(r: &outpost_test_support::http::Request) -> String {
    r.raw_head.lines().next().unwrap().to_owned()
}

/// More than 32 KiB of cache reaches the server whole, as the multipart file field `data`
/// of a POST to `stats_url?access_token=…&mac=…`, gzip NDJSON inside; the multipart body
/// itself is not labelled gzip; the cache is deleted after the 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_stats_whole_cache_over_32k_arrives_as_multipart_data() {
    let dir = tempfile::tempdir().unwrap();
    let server = Recorder::start(None).await;
    let s = stats(
        dir.path(),
        &format!(r#","stats_url":"{}/api/v2/stats""#, server.base()),
    );
    for n in 0..60 {
        s.append(&line(n)).unwrap();
    }
    let cache = s.cache_path();
    assert!(std::fs::metadata(&cache).unwrap().len() > 60_000);
    assert_eq!(s.upload().await.unwrap(), Sent::Delivered);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        request_line(&reqs[0]),
        format!("POST /api/v2/stats?access_token=tok&mac={MAC} HTTP/1.1")
    );
    assert!(
        !reqs[0].head.contains("content-encoding"),
        "the multipart body is not gzip: {}",
        reqs[0].head
    );
    let parts = multipart::parts(&reqs[0]);
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].name, "data");
    assert!(
        parts[0].filename.is_some(),
        "a file part: {:?}",
        parts[0].filename
    );
    let lines = multipart::gzip_ndjson(&reqs[0], "data");
    assert_eq!(lines.len(), 60, "every line, not the first 32 KiB");
    for (n, l) in lines.iter().enumerate() {
        assert_eq!(l["device"]["n"], n);
    }
    assert!(!cache.exists(), "deleted after the 200");
    assert_eq!(s.upload().await.unwrap(), Sent::Empty);
    assert_eq!(server.requests().len(), 1, "an empty cache is not sent");
}

/// A 500 from `stats_url` sends the same batch to `backup_stats_url`; while neither takes
/// it, the cache is kept (and grows); the next upload that gets a 2xx sends it all, then
/// deletes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_stats_500_goes_to_backup_and_nothing_is_deleted_before_a_2xx() {
    let dir = tempfile::tempdir().unwrap();
    let (main, backup) = (Recorder::start(None).await, Recorder::start(None).await);
    main.answer(500);
    backup.answer(503);
    let s = stats(
        dir.path(),
        &format!(
            r#","stats_url":"{}/stats","backup_stats_url":"{}/backup""#,
            main.base(),
            backup.base()
        ),
    );
    s.append(&line(0)).unwrap();
    match s.upload().await.unwrap() {
        Sent::Kept(r) => {
            let codes: Vec<_> = r.answers.iter().map(|a| a.status).collect();
            assert_eq!(codes, vec![Some(500), Some(503)]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(main.requests().len(), 1);
    assert_eq!(backup.requests().len(), 1);
    assert_eq!(
        request_line(&backup.requests()[0]),
        format!("POST /backup?access_token=tok&mac={MAC} HTTP/1.1")
    );
    assert_eq!(
        main.requests()[0].body,
        backup.requests()[0].body,
        "the same batch"
    );
    assert!(s.cache_path().exists(), "kept after a 500 and a 503");

    s.append(&line(1)).unwrap();
    backup.answer(201);
    assert_eq!(s.upload().await.unwrap(), Sent::Delivered);
    let last = backup.requests().pop().unwrap();
    let lines = multipart::gzip_ndjson(&last, "data");
    assert_eq!(lines.len(), 2, "the kept line and the new one");
    assert_eq!(
        main.requests().len(),
        2,
        "the main URL is still tried first"
    );
    assert!(!s.cache_path().exists());
}

/// A 401 means the token is no longer good: the upload says so (the loop then provisions
/// again), the backup is not tried, and the cache is kept for after provisioning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_stats_401_means_reprovision_not_backup() {
    let dir = tempfile::tempdir().unwrap();
    let (main, backup) = (Recorder::start(None).await, Recorder::start(None).await);
    main.answer(401);
    let s = stats(
        dir.path(),
        &format!(
            r#","stats_url":"{}/stats","backup_stats_url":"{}/backup""#,
            main.base(),
            backup.base()
        ),
    );
    s.append(&line(0)).unwrap();
    assert_eq!(s.upload().await.unwrap(), Sent::Unauthorized);
    assert_eq!(main.requests().len(), 1);
    assert!(
        backup.requests().is_empty(),
        "401 is not sent to the backup"
    );
    assert!(s.cache_path().exists(), "kept after a 401");
}

/// HTTPS is verified against `cacrt` (SocketMan never verified): a server whose
/// certificate chains to it gets the batch; one from another CA gets a failed handshake
/// and the cache is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_stats_tls_verified_against_cacrt() {
    let dir = tempfile::tempdir().unwrap();
    let (ours, stranger) = (TestCa::new(), TestCa::new());
    let good = Recorder::start(Some(ours.localhost())).await;
    let bad = Recorder::start(Some(stranger.localhost())).await;
    let keys = |base: &str| {
        format!(
            r#","stats_url":"{base}/stats","cacrt":"{}""#,
            ours.ca_file.display()
        )
    };
    let s = stats(dir.path(), &keys(&bad.base()));
    s.append(&line(0)).unwrap();
    match s.upload().await.unwrap() {
        Sent::Kept(r) => assert!(
            r.answers[0].error.as_deref().unwrap_or("").contains("tls"),
            "{r:?}"
        ),
        other => panic!("{other:?}"),
    }
    common::wait_for("the refused handshake", Duration::from_secs(10), || async {
        bad.handshake_failures() >= 1
    })
    .await;
    assert!(bad.requests().is_empty());
    assert!(s.cache_path().exists());

    let dir2 = tempfile::tempdir().unwrap();
    let s = stats(dir2.path(), &keys(&good.base()));
    s.append(&line(0)).unwrap();
    assert_eq!(s.upload().await.unwrap(), Sent::Delivered);
    assert_eq!(good.requests().len(), 1);
}

/// `no-cache`: the line is POSTed as JSON itself, with SocketMan's headers; nothing is
/// cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_stats_no_cache_posts_the_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = Recorder::start(None).await;
    let s = stats(
        dir.path(),
        &format!(r#","stats_url":"{}/stats","no-cache":1"#, server.base()),
    );
    assert_eq!(s.post(&line(7)).await, Sent::Delivered);
    let r = &server.requests()[0];
    assert!(
        r.head.contains("content-type: application/json"),
        "{}",
        r.head
    );
    assert!(r.head.contains("accept: application/json"), "{}", r.head);
    assert_eq!(String::from_utf8(r.body.clone()).unwrap(), line(7));
    assert!(!s.cache_path().exists());
}

/// A recorded tree (/proc/net/route, fib_trie, dev; dnsmasq leases; OpenWrt's version and
/// model files) gives `device{}` and `dhcp[]` in SocketMan's keys, order and types; the
/// score is measured: a route (+1) and a health check that connects (+3), the web check
/// refused: 4.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_stats_line_from_a_recorded_tree_with_the_score() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let w = |p: &str, text: &str| {
        let f: PathBuf = root.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    };
    w(
        "proc/net/route",
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
         wan\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
         wan\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n",
    );
    w(
        "proc/net/fib_trie",
        "Local:\n  +-- 10.0.0.0/24 2 0 2\n     |-- 10.0.0.42\n        /32 host LOCAL\n",
    );
    w(
        "proc/net/dev",
        "Inter-| Receive | Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n  \
         wan: 5000 10 0 0 0 0 0 0 7000 20 0 0 0 0 0 0\n",
    );
    w(
        "tmp/dhcp.leases",
        "1900000000 11:22:33:44:55:66 192.168.1.50 phone 01:11:22:33:44:55:66\n\
         1900000001 aa:bb:cc:dd:ee:01 192.168.1.51 * *\n",
    );
    w("etc/openwrt_version", "r7258-5eb055306f\n");
    w("tmp/sysinfo/model", "TP-Link Archer C7 v2\n");

    let health = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = common::free_tcp_port();
    let server = Recorder::start(None).await;
    let s = stats(
        dir.path(),
        &format!(r#","stats_url":"{}/stats""#, server.base()),
    )
    .with_sources(
        Paths::under(&root),
        Targets {
            health: ("127.0.0.1".into(), health.local_addr().unwrap().port()),
            web: ("127.0.0.1".into(), closed),
        },
    );
    let text = s.collect().await;
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let at = |k: &str| {
        text.find(&format!("\"{k}\":"))
            .unwrap_or_else(|| panic!("{k} in {text}"))
    };
    assert_eq!(v.as_object().unwrap().len(), 5, "{text}");
    for pair in ["ssids", "survey", "stations", "dhcp", "device"].windows(2) {
        assert!(
            at(pair[0]) < at(pair[1]),
            "{} before {}: {text}",
            pair[0],
            pair[1]
        );
    }
    let order = [
        "firmware",
        "wan_name",
        "wan_gateway",
        "wan_ip",
        "machine_type",
        "smv",
        "mac",
        "tx_bytes",
        "rx_bytes",
        "uptime",
        "load_1",
        "load_5",
        "load_15",
        "total_ram",
        "free_ram",
        "procs",
        "v",
        "status",
        "connected",
        "created_at",
    ];
    let device = &text[at("device")..];
    let at = |k: &str| {
        device
            .find(&format!("\"{k}\":"))
            .unwrap_or_else(|| panic!("{k} in {text}"))
    };
    for pair in order.windows(2) {
        assert!(
            at(pair[0]) < at(pair[1]),
            "{} before {}: {text}",
            pair[0],
            pair[1]
        );
    }
    let d = &v["device"];
    assert_eq!(d["firmware"], "r7258-5eb055306f");
    assert_eq!(d["wan_name"], "wan");
    assert_eq!(d["wan_gateway"], "10.0.0.1");
    assert_eq!(d["wan_ip"], "10.0.0.42");
    assert_eq!(d["machine_type"], "TP-Link Archer C7 v2");
    assert_eq!(d["mac"], MAC);
    assert_eq!(
        (d["tx_bytes"].as_u64(), d["rx_bytes"].as_u64()),
        (Some(7000), Some(5000))
    );
    assert_eq!(d["v"], "4");
    assert_eq!(d["status"], 4, "route + health, no web");
    assert_eq!(d["connected"], 0);
    assert!(d["total_ram"].is_f64() && d["load_1"].is_f64(), "{d}");
    assert!(d["uptime"].as_i64().unwrap() > 0);
    assert!(d["created_at"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(v["dhcp"][0]["mac"], "11:22:33:44:55:66");
    assert_eq!(v["dhcp"][0]["ip"], "192.168.1.50");
    assert_eq!(v["dhcp"][0]["name"], "phone");
    assert_eq!(v["dhcp"].as_array().unwrap().len(), 2);

    // `scan` off: no Wi-Fi arrays; no default route: status 0.
    std::fs::write(root.join("proc/net/route"), "Iface\tDestination\n").unwrap();
    let s = stats(
        dir.path(),
        &format!(r#","stats_url":"{}/stats","scan":0"#, server.base()),
    )
    .with_sources(
        Paths::under(&root),
        Targets {
            health: ("127.0.0.1".into(), health.local_addr().unwrap().port()),
            web: ("127.0.0.1".into(), closed),
        },
    );
    let v: serde_json::Value = serde_json::from_str(&s.collect().await).unwrap();
    assert!(
        v.get("ssids").is_none() && v.get("stations").is_none(),
        "{v}"
    );
    assert_eq!(v["device"]["status"], 0);
    assert_eq!(v["device"]["wan_name"], "");
}

/// End to end: `outpost run --socketman-config` with a `stats_url` uploads on its first
/// pass (as SocketMan), a cache left from before (over 32 KiB) included whole, followed
/// by the new collection of this device.
#[test]
fn issue18_stats_agent_uploads_the_kept_cache_and_a_new_line() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(Recorder::start(None));
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("config.json");
    std::fs::write(
        &json,
        format!(
            r#"{{"disable_mqtt":1,"mac":"{MAC}","token":"tok","health_url":"127.0.0.1","health_port":9,"stats_url":"{}/stats"}}"#,
            server.base()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let cache = data.join("socketman/stats");
    std::fs::create_dir_all(&cache).unwrap();
    let kept: String = (0..40).map(|n| line(n) + "\n").collect();
    std::fs::write(cache.join("stats.jsonl"), &kept).unwrap();
    let a = Agent::start(
        Options::new(&data)
            .env("DEBUG", "1")
            .arg("--socketman-config")
            .arg(json.to_str().unwrap()),
    );
    common::wait_until("a stats POST", Duration::from_secs(60), || {
        !server.requests().is_empty()
    });
    let lines = multipart::gzip_ndjson(&server.requests()[0], "data");
    assert_eq!(lines.len(), 41, "{}", a.log_text());
    assert_eq!(lines[39]["device"]["n"], 39);
    let d = &lines[40]["device"];
    assert_eq!(d["mac"], MAC);
    assert_eq!(d["v"], "4");
    assert!(lines[40]["ssids"].is_array(), "{}", lines[40]);
    common::wait_until("the cache deleted", Duration::from_secs(10), || {
        !cache.join("stats.jsonl").exists()
    });
    drop(a);
}
