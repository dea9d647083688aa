//! Issue 16 §5, small builds: the crate's optional features are listed by the binary
//! (`outpost version --verbose`), and the default build has every one of them. The router
//! build's size is a benchmark (`scripts/build-router.sh`, bench/RESULTS.md), not measured
//! here; what it must still do is: this suite also runs on it,
//! `cargo test -p outpost --no-default-features --test issue16_router_build`, where the
//! agent under test is the router build (SNMP, MQTT, metrics and the stats push, HTTP/1.1
//! only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{collections::BTreeSet, process::Command, time::Duration};

use common::{mosquitto::Broker, mqtt_peer::Peer, wait_for, Agent, Options, BIN};
use futures_util::StreamExt;
use outpost_test_support::http::{read_request, reply};
use outpost_test_support::snmpd::Snmpd;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The `[features]` table of crates/outpost/Cargo.toml: each feature and what it enables.
fn manifest_features() -> toml::Table {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let manifest: toml::Table = text.parse().unwrap();
    manifest["features"].as_table().unwrap().clone()
}

fn outpost(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(out.status.success(), "outpost {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn issue16_version_verbose_lists_every_default_feature() {
    let features = manifest_features();
    let default: BTreeSet<String> = features["default"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    let v: serde_json::Value =
        serde_json::from_str(&outpost(&["version", "--verbose", "--json"])).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let listed: BTreeSet<String> = v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    // The default build: all of them, and no more (release-tool is not a default feature).
    // The router build (`--no-default-features`, this library built the same way): none.
    let expected = if outpost::version::features().is_empty() {
        BTreeSet::new()
    } else {
        default
    };
    assert_eq!(listed, expected);

    // The text form lists the same, on one line.
    let text = outpost(&["version", "--verbose"]);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("features: "))
        .unwrap();
    let words: BTreeSet<String> = line
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(words, expected);

    // Without --verbose, the output is what it always was.
    let plain: serde_json::Value = serde_json::from_str(&outpost(&["version", "--json"])).unwrap();
    assert!(plain.get("features").is_none(), "{plain}");
}

/// A feature added to Cargo.toml but not to `version::FEATURES` would be invisible to
/// operators; one listed there but gone from Cargo.toml would never be on.
#[test]
fn issue16_every_cargo_feature_is_reported() {
    let declared: BTreeSet<String> = manifest_features()
        .keys()
        .filter(|k| *k != "default")
        .cloned()
        .collect();
    let reported: BTreeSet<String> = outpost::version::FEATURES
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    assert_eq!(declared, reported);
}

/// What the router build is for, end to end against real peers: a control plane sends an
/// `snmp.poll` over MQTT, the agent polls snmpd and delivers the result over MQTT; the
/// stats push (its own HTTP client, no reqwest) delivers a metrics snapshot to a collector;
/// the local API answers HTTP/1.1 (the events WebSocket included), and HTTP/2 only when the
/// `http2` feature is in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue16_router_build_polls_snmpd_and_delivers_over_mqtt() {
    let snmpd = Snmpd::start().await;
    let broker = Broker::start();
    // The stats collector: takes one POST, answers 200, hands over the request.
    let collector = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stats_url = format!("http://{}/stats", collector.local_addr().unwrap());
    let (posted_tx, mut posted) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = collector.accept().await {
            if let Some(req) = read_request(&mut sock).await {
                reply(&mut sock, 200).await;
                let _ = posted_tx.send(req).await;
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(
        Options::new(dir.path())
            .mqtt_uplink(&broker.url(), "router-1")
            .env("OUTPOST_STATS_URL", &stats_url)
            .env("OUTPOST_STATS_INTERVAL_SECS", "1"),
    );
    let peer = Peer::connect(broker.port, "cp-router", &["outpost/router-1/results"]).await;
    a.wait_connected("mqtt").await;

    // Numeric OIDs: the router build has no built-in MIB names.
    let id = peer
        .job(
            "outpost/router-1/jobs",
            "snmp.poll",
            json!({"target": snmpd.udp(), "version": "2c", "community": "public",
                   "get": [".1.3.6.1.2.1.1.6.0"], "walk": [".1.3.6.1.2.1.1.9"]}),
        )
        .await;
    wait_for(
        "the snmp.poll result over MQTT",
        Duration::from_secs(30),
        || async { peer.results().iter().any(|(i, _, _)| *i == id) },
    )
    .await;
    let (_, _, body) = peer
        .results()
        .into_iter()
        .find(|(i, _, _)| *i == id)
        .unwrap();
    assert_eq!(body["state"], "succeeded", "{body}");
    assert_eq!(body["source"], "uplink:mqtt");
    let get = &body["output"]["get"][0];
    assert_eq!(
        get["oid"].as_str().unwrap().trim_start_matches('.'),
        "1.3.6.1.2.1.1.6.0",
        "{body}"
    );
    // sysLocation, as the harness's snmpd.conf sets it.
    assert!(get.to_string().contains("Test lab"), "{body}");
    // sysORTable: net-snmp registers several entries there.
    let walked = body["output"]["walks"][0]["varbinds"].as_array().unwrap();
    assert!(walked.len() > 3, "{body}");

    // The stats push: a gzipped NDJSON metrics snapshot.
    let req = tokio::time::timeout(Duration::from_secs(20), posted.recv())
        .await
        .expect("no stats POST within 20 s")
        .unwrap();
    assert!(req.head.starts_with("post /stats http/1.1"), "{}", req.head);
    assert!(req.head.contains("content-encoding: gzip"), "{}", req.head);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&req.body[..]), &mut text)
        .unwrap();
    let snapshot: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert!(snapshot.is_object(), "{text}");

    // The events stream (a WebSocket upgrade, which the HTTP/1.1-only server must allow)
    // replays the job's result from the outbox.
    let mut ws = a.events(0).await;
    let row = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let msg = ws.next().await.expect("the events stream open").unwrap();
            let Ok(text) = msg.into_text() else { continue };
            let row: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            if row["item"]["id"] == id.as_str() {
                return row;
            }
        }
    })
    .await
    .expect("the job's result on /v1/events within 20 s");
    assert_eq!(row["item"]["type"], "result", "{row}");
    assert_eq!(row["item"]["state"], "succeeded", "{row}");

    // HTTP/1.1 always; HTTP/2 with prior knowledge (h2c) only with the http2 feature.
    assert_eq!(a.healthz().await.status(), 200);
    let addr = a.url.trim_start_matches("http://").to_owned();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    sock.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    // The first 9 bytes of the answer, or fewer if the server closes first.
    let mut head = [0u8; 9];
    let mut n = 0;
    tokio::time::timeout(Duration::from_secs(10), async {
        while n < head.len() {
            match sock.read(&mut head[n..]).await {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k,
            }
        }
    })
    .await
    .expect("no answer to the HTTP/2 preface within 10 s");
    // An HTTP/2 server's first frame is its SETTINGS (frame type 4, stream 0).
    let settings = n == 9 && head[3] == 4;
    assert_eq!(
        settings,
        cfg!(feature = "http2"),
        "answer to the HTTP/2 preface: {:?}",
        &head[..n]
    );
}
