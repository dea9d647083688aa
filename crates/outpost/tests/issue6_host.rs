//! Issue 6: host metrics through the real binary. socktop's `/ws` (raw WebSocket and
//! socktop's own `socktop_connector`), node_exporter names on `/metrics`, the `metrics` job,
//! `outpost metrics --json`, and the stats push wired from config. Values are compared with
//! /proc, read here independently.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    process::Command,
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{metric, wait_for, ws_request, Agent, Options, Ws, BIN};
use futures_util::{SinkExt, StreamExt};
use outpost_test_support::http::{read_request, reply, Request};
use outpost_test_support::kernel::{cpu_cores as proc_cores, mem_total_bytes as proc_mem_total};
use prost::Message as _;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{self, Message};

fn ws_url(a: &Agent, token: Option<&str>) -> String {
    let base = a.url.replacen("http://", "ws://", 1);
    match token {
        Some(t) => format!("{base}/ws?token={t}"),
        None => format!("{base}/ws"),
    }
}

use outpost_test_support::gzip::gunzip;

/// Sends one request and returns the reply's payload, checking socktop's framing rule:
/// text up to 768 bytes, gzip in a binary frame beyond.
async fn ask(ws: &mut Ws, request: &str) -> (bool, Vec<u8>) {
    match ws_request(ws, request).await {
        Message::Text(t) => {
            assert!(t.len() <= 768, "text reply over 768 bytes: {}", t.len());
            (false, t.as_bytes().to_vec())
        }
        Message::Binary(b) => {
            assert_eq!(&b[..2], &[0x1f, 0x8b], "binary replies are gzip");
            let plain = gunzip(&b);
            assert!(
                plain.len() > 768,
                "gzipped a reply of {} bytes",
                plain.len()
            );
            (true, plain)
        }
        other => panic!("unexpected frame {other:?}"),
    }
}

#[tokio::test]
async fn issue6_ws_speaks_socktop_protocol_with_query_token() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(dir.path()));
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&a, Some(&a.token)))
        .await
        .unwrap();

    for req in ["get_metrics", r#"{"type":"metrics"}"#] {
        let (_, body) = ask(&mut ws, req).await;
        let m: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(m["mem_total"], proc_mem_total(), "{m}");
        assert_eq!(m["cpu_per_core"].as_array().unwrap().len(), proc_cores());
        for field in [
            "cpu_total",
            "mem_used",
            "swap_total",
            "swap_used",
            "hostname",
            "cpu_temp_c",
            "disks",
            "networks",
            "top_processes",
            "gpus",
        ] {
            assert!(m.get(field).is_some(), "no {field} in {m}");
        }
        assert!(m["networks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["name"] == "lo" && n["received"].is_u64() && n["transmitted"].is_u64()));
    }

    for req in ["get_disks", r#"{"type":"disks"}"#] {
        let (_, body) = ask(&mut ws, req).await;
        let disks: Vec<Value> = serde_json::from_slice(&body).unwrap();
        for d in &disks {
            assert!(d["available"].as_u64().unwrap() <= d["total"].as_u64().unwrap());
        }
    }

    for req in ["get_processes", r#"{"type":"processes"}"#] {
        ws.send(Message::text(req)).await.unwrap();
        let reply = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let Message::Binary(b) = reply else {
            panic!("processes come as protobuf in a binary frame: {reply:?}")
        };
        let raw = if b.starts_with(&[0x1f, 0x8b]) {
            gunzip(&b)
        } else {
            assert!(b.len() <= 768);
            b.to_vec()
        };
        let p = outpost_host::socktop::Processes::decode(raw.as_slice()).unwrap();
        assert_eq!(p.process_count as usize, p.rows.len());
        let me = p.rows.iter().find(|r| r.pid == a.child.id()).unwrap();
        assert_eq!(me.name, "outpost");
        assert!(me.mem_bytes > 0);
    }

    // Unknown requests get an error frame, and the session stays usable.
    let (_, body) = ask(&mut ws, "get_everything").await;
    assert!(serde_json::from_slice::<Value>(&body).unwrap()["error"].is_string());
    let (_, body) = ask(&mut ws, "get_metrics").await;
    assert!(serde_json::from_slice::<Value>(&body).unwrap()["cpu_total"].is_number());
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn issue6_ws_without_or_with_wrong_token_is_401() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(dir.path()));
    for url in [ws_url(&a, None), ws_url(&a, Some("wrong-token"))] {
        match tokio_tungstenite::connect_async(&url).await {
            Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401, "{url}"),
            other => panic!("{url}: expected 401, got {other:?}"),
        }
    }
    // `?token=` is for /ws only: other paths still want the header.
    let r = a
        .client
        .get(format!("{}/metrics?token={}", a.url, a.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        !a.log_text().contains(&a.token),
        "the token reached the log"
    );
}

#[tokio::test]
async fn issue6_socktop_connector_reads_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(dir.path()));
    let mut c = socktop_connector::connect_to_socktop_agent(ws_url(&a, Some(&a.token)))
        .await
        .unwrap();
    use socktop_connector::{AgentRequest, AgentResponse};
    let AgentResponse::Metrics(m) = c.request(AgentRequest::Metrics).await.unwrap() else {
        panic!("not metrics")
    };
    assert_eq!(m.mem_total, proc_mem_total());
    assert_eq!(m.cpu_per_core.len(), proc_cores());
    assert_eq!(
        m.hostname,
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim()
    );
    let AgentResponse::Disks(d) = c.request(AgentRequest::Disks).await.unwrap() else {
        panic!("not disks")
    };
    assert!(d.iter().all(|x| x.available <= x.total));
    let AgentResponse::Processes(p) = c.request(AgentRequest::Processes).await.unwrap() else {
        panic!("not processes")
    };
    assert_eq!(p.process_count, p.top_processes.len());
    assert!(p.top_processes.iter().any(|r| r.pid == a.child.id()));
    assert!(p.top_processes.iter().any(|r| r.pid == std::process::id()));
}

#[tokio::test]
async fn issue6_metrics_endpoint_has_node_exporter_names_beside_the_agents_own() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(dir.path()));
    let text = a.metrics().await;
    assert_eq!(
        metric(&text, "node_memory_MemTotal_bytes") as u64,
        proc_mem_total(),
        "{text}"
    );
    let btime: f64 = std::fs::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
        .unwrap();
    assert_eq!(metric(&text, "node_boot_time_seconds"), btime);
    for cpu in 0..proc_cores() {
        assert!(
            text.contains(&format!(
                "node_cpu_seconds_total{{cpu=\"{cpu}\",mode=\"idle\"}}"
            )) || text.contains(&format!(
                "node_cpu_seconds_total{{mode=\"idle\",cpu=\"{cpu}\"}}"
            )),
            "no idle seconds for cpu {cpu}:\n{text}"
        );
    }
    assert!(
        text.contains("node_network_receive_bytes_total{device=\"lo\"}"),
        "{text}"
    );
    assert!(text.contains("node_filesystem_size_bytes{"), "{text}");
    // The agent's own figures are still there, unprefixed names beside prefixed ones.
    assert!(text.contains("outpost_uptime_seconds"), "{text}");
    assert!(text.contains("outpost_build_info"), "{text}");
    assert!(text.trim_end().ends_with("# EOF"));
}

#[tokio::test]
async fn issue6_metrics_job_with_selected_groups() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(dir.path()));

    let (st, body) = a
        .submit(
            json!({"kind": "metrics", "params": {"groups": ["memory", "processes"]}}),
            Some(5.0),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["state"], "succeeded", "{body}");
    let out = &body["output"];
    assert_eq!(out["memory"]["total_bytes"], proc_mem_total());
    let rows = out["processes"]["rows"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["pid"] == a.child.id()), "{out}");
    for absent in ["cpu", "disks", "network", "load"] {
        assert!(
            out.get(absent).is_none(),
            "{absent} was not asked for: {out}"
        );
    }

    // No groups: everything but processes.
    let (st, body) = a.submit(json!({"kind": "metrics"}), Some(5.0)).await;
    assert_eq!(st, 200, "{body}");
    let out = &body["output"];
    assert_eq!(
        out["cpu"]["per_core_percent"].as_array().unwrap().len(),
        proc_cores()
    );
    assert!(out["disks"].is_array() && out["network"].is_array() && out["load"].is_object());
    assert!(out.get("processes").is_none());

    // A bad group is refused at the edge, naming the field.
    let (st, body) = a
        .submit(
            json!({"kind": "metrics", "params": {"groups": ["bogus"]}}),
            Some(5.0),
        )
        .await;
    assert_eq!(st, 422, "{body}");
    assert!(
        body["error"]["field"]
            .as_str()
            .unwrap()
            .starts_with("params.groups"),
        "{body}"
    );

    let (_, info) = a.submit(json!({"kind": "agent.info"}), Some(5.0)).await;
    assert!(info["output"]["kinds"]
        .as_array()
        .unwrap()
        .contains(&json!("metrics")));
}

#[test]
fn issue6_metrics_command_prints_a_snapshot() {
    let out = Command::new(BIN)
        .args(["metrics", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["memory"]["total_bytes"], proc_mem_total());
    assert_eq!(
        v["cpu"]["per_core_percent"].as_array().unwrap().len(),
        proc_cores()
    );
    assert!(v["disks"].is_array() && v.get("processes").is_none(), "{v}");

    let out = Command::new(BIN)
        .args(["metrics", "--json", "--group", "processes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["processes"]["rows"].as_array().unwrap().len() > 1);
    assert!(v.get("memory").is_none());

    let out = Command::new(BIN).arg("metrics").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("memory") && text.contains("cpu"), "{text}");

    let out = Command::new(BIN)
        .args(["metrics", "--group", "bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

/// A loopback HTTP server answering `status` to every request and keeping what it saw.
async fn http_server(status: u16) -> (String, Arc<Mutex<Vec<Request>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/ingest?key=k", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<Request>>> = Arc::default();
    let seen2 = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let seen = Arc::clone(&seen2);
            tokio::spawn(async move {
                if let Some(r) = read_request(&mut sock).await {
                    seen.lock().unwrap().push(r);
                    reply(&mut sock, status).await;
                }
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn issue6_stats_push_from_config_posts_a_gzipped_batch_to_the_backup() {
    let (primary, primary_seen) = http_server(503).await;
    let (backup, backup_seen) = http_server(200).await;
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(
        Options::new(dir.path())
            .env("OUTPOST_STATS_URL", &primary)
            .env("OUTPOST_STATS_BACKUP_URL", &backup)
            .env("OUTPOST_STATS_INTERVAL_SECS", "1"),
    );
    wait_for("a batch at the backup", Duration::from_secs(20), || async {
        !backup_seen.lock().unwrap().is_empty()
    })
    .await;
    assert!(
        !primary_seen.lock().unwrap().is_empty(),
        "the primary is tried first"
    );
    {
        let seen = backup_seen.lock().unwrap();
        let req = &seen[0];
        assert!(req.head.starts_with("post /ingest?key=k "), "{}", req.head);
        assert!(req.head.contains("content-encoding: gzip"), "{}", req.head);
        let text = String::from_utf8(gunzip(&req.body)).unwrap();
        let line: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(line["memory"]["total_bytes"], proc_mem_total(), "{line}");
        assert!(line["hostname"].is_string());
    }
    // Delivered (2xx) batches leave the cache.
    let cache = dir.path().join("stats/stats.jsonl");
    wait_for(
        "the delivered batch to leave the cache",
        Duration::from_secs(10),
        || {
            let cache = cache.clone();
            async move { !cache.exists() }
        },
    )
    .await;
    // The push's counters are on /metrics.
    let text = a.metrics().await;
    assert!(
        metric(&text, "outpost_stats_batches_sent_total") >= 1.0,
        "{text}"
    );
    assert!(
        metric(&text, "outpost_stats_posts_failed_total") >= 1.0,
        "{text}"
    );
    assert!(
        metric(&text, "outpost_stats_lines_cached_total") >= 1.0,
        "{text}"
    );
    // URLs may carry keys: neither reaches the log.
    assert!(!a.log_text().contains("key=k"), "{}", a.log_text());
    assert!(a.log_text().contains("stats push: on"));
}

#[tokio::test]
async fn issue6_stats_push_refuses_plain_http_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["run", "--data-dir"])
        .arg(dir.path())
        .env("OUTPOST_API_LISTEN", "127.0.0.1:0")
        .env("OUTPOST_STATS_URL", "http://192.0.2.1/ingest?key=secret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("https"), "{err}");
    assert!(!err.contains("secret"), "{err}");
}
