//! Issue 13: the OpenSearch `_bulk` sink (`sink.opensearch`) through `outpost run`, against
//! a test peer written from OpenSearch's bulk API documentation (no OpenSearch server
//! installs on this machine; see `outpost_test_support::opensearch`). The peer checks the
//! NDJSON format (action and document lines paired, the trailing newline, the content
//! type), the Basic credentials, and serves HTTPS that the sink must verify.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{collections::BTreeSet, time::Duration};

use common::{metric, wait_for, Agent, Options};
use outpost_test_support::opensearch::OpenSearchPeer;
use serde_json::{json, Value};

fn start_agent(dir: &std::path::Path, peer: &OpenSearchPeer, data: &std::path::Path) -> Agent {
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, peer.ca_pem()).unwrap();
    let cfg = dir.join("outpost.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[sink.opensearch]
url = "{}"
index = "rust_agent_application_logs_dev"
user = "osuser"
password = "OS-pass_word"
ca_file = "{}"
batch_max = 7

[uplink]
backoff_initial_ms = 50
backoff_max_ms = 300
"#,
            peer.url(),
            ca.display()
        ),
    )
    .unwrap();
    let a = Agent::start(
        Options::new(data)
            .arg("--config")
            .arg(cfg.to_str().unwrap()),
    );
    sink_ready(&a);
    a
}

/// A consumer registered for the first time starts at the outbox's head: wait for it
/// before making rows the test expects in OpenSearch.
fn sink_ready(a: &Agent) {
    common::wait_until("the sink's cursor", Duration::from_secs(20), || {
        a.log_text()
            .contains("opensearch sink: sending outbox rows after seq")
    });
}

async fn submit_echoes(a: &Agent, n: usize, tag: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let (st, job) = a
            .submit(
                json!({"kind": "echo", "params": {"tag": tag, "i": i}}),
                Some(10.0),
            )
            .await;
        assert_eq!(st, 200, "{job}");
        ids.push(job["id"].as_str().unwrap().to_owned());
    }
    ids
}

/// The job ids of the result documents the peer holds, each checked for rusty_agent's
/// field names and timestamp format.
fn stored_results(peer: &OpenSearchPeer) -> Vec<String> {
    let seen = peer.seen();
    let mut ids = Vec::new();
    for ((index, id), doc) in &seen.docs {
        assert_eq!(index, "rust_agent_application_logs_dev");
        for k in [
            "agentId",
            "hostname",
            "jobname",
            "level",
            "loggerName",
            "message",
            "timestamp",
        ] {
            assert!(doc.get(k).is_some(), "{k} missing: {doc}");
        }
        let ts = doc["timestamp"].as_str().unwrap();
        let b = ts.as_bytes();
        assert!(
            ts.len() == 24 && b[4] == b'-' && b[10] == b'T' && b[19] == b'.' && ts.ends_with('Z'),
            "{ts}"
        );
        assert_eq!(
            id,
            &format!("{}-{}", doc["agentId"].as_str().unwrap(), doc["seq"])
        );
        if doc["type"] == "result" {
            let data: Value = serde_json::from_str(doc["data"].as_str().unwrap()).unwrap();
            assert_eq!(doc["jobname"], data["kind"]);
            ids.push(data["id"].as_str().unwrap().to_owned());
        }
    }
    ids
}

/// Results reach OpenSearch; while it is down (stopped, then started again on the same
/// port) they wait in the outbox at the sink's own cursor; a 429 on every item resends the
/// batch; after the agent restarts, the cursor holds. How duplicates are counted: the
/// peer keys documents by (index, `_id`), and the sink's `_id` is AGENT-SEQ, so a batch sent
/// again overwrites the same documents; the peer also counts every item it received. The
/// test asserts each job's result is exactly one document (nothing lost, no copies) and
/// that items received exceed documents only by resent batches (at-least-once).
#[tokio::test]
async fn issue13_rusty_bulk_sink_loses_nothing_while_opensearch_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut peer = OpenSearchPeer::start(Some(("osuser", "OS-pass_word"))).await;
    let a = start_agent(dir.path(), &peer, &data);

    let mut want: BTreeSet<String> = submit_echoes(&a, 10, "up").await.into_iter().collect();
    wait_for(
        "the first results in OpenSearch",
        Duration::from_secs(30),
        || {
            let got: BTreeSet<String> = stored_results(&peer).into_iter().collect();
            let w = want.clone();
            async move { w.is_subset(&got) }
        },
    )
    .await;
    assert!(peer.seen().requests >= 2, "batch_max 7 splits 10 results");

    // Down: what happens now waits in the outbox.
    peer.stop();
    want.extend(submit_echoes(&a, 15, "down").await);
    a.wait_metric(
        "a failed batch",
        "outpost_opensearch_batches_failed_total",
        |v| v >= 2.0,
    )
    .await;
    let sent_before = peer.seen().docs.len();
    peer.restart().await;
    // Transient failures per item: the batch is sent again, not acknowledged.
    peer.fail_items(429, 2);
    wait_for(
        "every result in OpenSearch after it came back",
        Duration::from_secs(60),
        || {
            let got: BTreeSet<String> = stored_results(&peer).into_iter().collect();
            let w = want.clone();
            async move { w.is_subset(&got) }
        },
    )
    .await;
    let seen = peer.seen();
    assert!(seen.failed_items > 0, "the 429s were served");
    assert!(seen.docs.len() > sent_before);
    assert!(seen.violations.is_empty(), "{:?}", seen.violations);
    let results = stored_results(&peer);
    let unique: BTreeSet<&String> = results.iter().collect();
    assert_eq!(unique.len(), results.len(), "a result stored twice");
    assert_eq!(unique.len(), want.len());
    // Every item received beyond the stored documents is a resend of a whole batch (the
    // 429s) or a batch whose reply was lost; never more than the failed items plus a batch.
    assert!(
        seen.items as usize <= seen.docs.len() + seen.failed_items as usize + 7,
        "items {} docs {} failed {}",
        seen.items,
        seen.docs.len(),
        seen.failed_items
    );
    let metrics = a.metrics().await;
    assert!(metric(&metrics, "outpost_opensearch_docs_sent_total") >= want.len() as f64);
    assert_eq!(
        metric(&metrics, "outpost_opensearch_docs_dropped_total"),
        0.0
    );
    // The password never shows in the log.
    assert!(!a.log_text().contains("OS-pass_word"));

    // The cursor is durable: after a restart of the agent only new rows are sent.
    let (items_before, docs_before) = (peer.seen().items, peer.seen().docs.len());
    let mut a = a;
    a.sigterm();
    assert!(a.wait_exit(Duration::from_secs(30)).success());
    let a = start_agent(dir.path(), &peer, &data);
    let last = submit_echoes(&a, 1, "after").await;
    want.extend(last);
    wait_for("the new result", Duration::from_secs(30), || {
        let got: BTreeSet<String> = stored_results(&peer).into_iter().collect();
        let w = want.clone();
        async move { w.is_subset(&got) }
    })
    .await;
    // Every item sent since the restart was a new document: nothing was sent again.
    let seen = peer.seen();
    assert_eq!(
        seen.items - items_before,
        (seen.docs.len() - docs_before) as u64,
        "rows sent again after the restart: the cursor was not kept"
    );
}

/// The sink verifies TLS: without the peer's CA the batches fail and nothing is
/// acknowledged (the outbox keeps the rows).
#[tokio::test]
async fn issue13_rusty_bulk_sink_verifies_the_servers_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let peer = OpenSearchPeer::start(None).await;
    let cfg = dir.path().join("outpost.toml");
    std::fs::write(
        &cfg,
        format!(
            "[sink.opensearch]\nurl = \"{}\"\n[uplink]\nbackoff_initial_ms = 50\nbackoff_max_ms = 200\n",
            peer.url()
        ),
    )
    .unwrap();
    let a = Agent::start(
        Options::new(&dir.path().join("d"))
            .arg("--config")
            .arg(cfg.to_str().unwrap()),
    );
    sink_ready(&a);
    submit_echoes(&a, 2, "tls").await;
    a.wait_metric(
        "refused TLS",
        "outpost_opensearch_batches_failed_total",
        |v| v >= 2.0,
    )
    .await;
    assert_eq!(peer.seen().requests, 0);
    assert_eq!(
        metric(&a.metrics().await, "outpost_opensearch_docs_sent_total"),
        0.0
    );
}

/// Bad sink config is a usage error naming the key.
#[tokio::test]
async fn issue13_rusty_bulk_sink_refuses_plaintext_to_a_remote_host() {
    let dir = tempfile::tempdir().unwrap();
    for (url, want) in [
        ("http://example.org:9200", "sink.opensearch.url"),
        ("https://u:p@example.org", "sink.opensearch.url"),
        ("ftp://x", "sink.opensearch.url"),
    ] {
        let cfg = dir.path().join("c.toml");
        std::fs::write(&cfg, format!("[sink.opensearch]\nurl = \"{url}\"\n")).unwrap();
        let out = std::process::Command::new(common::BIN)
            .args(["run", "--data-dir"])
            .arg(dir.path().join("d"))
            .arg("--config")
            .arg(&cfg)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{url}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{err}");
        assert!(!err.contains("u:p@"), "{err}");
    }
}
