//! Issue 2: crashes, shutdowns, files on disk, TLS, the OpenAPI document and the CLI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    collections::HashMap,
    os::unix::fs::PermissionsExt,
    process::Command,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::{wait_for, Agent, Options, BIN};
use serde_json::json;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue2_kill9_during_running_jobs_loses_no_acknowledged_result() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Agent::start(Options::new(dir.path()));
    // Long sleeps are certainly running when the kill lands.
    let mut sleeping = vec![];
    for _ in 0..5 {
        sleeping.push(
            a.submit_accepted(
                json!({"kind": "sleep", "params": {"ms": 600_000}, "timeout_ms": 900_000}),
            )
            .await,
        );
    }
    // Writers keep submitting and recording every result the agent acknowledged.
    let acked: Arc<Mutex<HashMap<String, serde_json::Value>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = vec![];
    for w in 0..8 {
        let (client, url, token) = (a.client.clone(), a.url.clone(), a.token.clone());
        let (acked, stop) = (Arc::clone(&acked), Arc::clone(&stop));
        writers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let r = client
                    .post(format!("{url}/v1/jobs?wait=5"))
                    .bearer_auth(&token)
                    .json(&json!({"kind": "echo", "params": {"writer": w, "n": n}}))
                    .send()
                    .await;
                let Ok(r) = r else { break };
                if r.status() != 200 {
                    continue;
                }
                let Ok(body) = r.json::<serde_json::Value>().await else {
                    break;
                };
                acked
                    .lock()
                    .unwrap()
                    .insert(body["id"].as_str().unwrap().to_owned(), body);
            }
        }));
    }
    wait_for(
        "300 acknowledged results",
        Duration::from_secs(30),
        || async { acked.lock().unwrap().len() >= 300 },
    )
    .await;
    a.kill9();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();

    // The store opens cleanly and is consistent.
    {
        let db = rusqlite::Connection::open(dir.path().join("outpost.db")).unwrap();
        let check: String = db
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }
    let a = Agent::start(Options::new(dir.path()));
    for (id, before) in &acked {
        let after = a.job(id).await;
        assert_eq!(after["state"], "succeeded", "{id}");
        assert_eq!(after["output"], before["output"], "{id}");
        assert_eq!(after["finished_at"], before["finished_at"], "{id}");
    }
    // Every job the crash caught mid-run has its one result: interrupted, never re-run.
    for id in &sleeping {
        let rec = a.job(id).await;
        assert_eq!(rec["state"], "interrupted", "{rec}");
        assert_eq!(rec["error"]["code"], "interrupted");
    }
    for st in ["queued", "running"] {
        let list: serde_json::Value = a.get_json(&format!("/v1/jobs?state={st}")).await;
        assert_eq!(list["jobs"].as_array().unwrap().len(), 0, "{st}: {list}");
    }
    // The interruptions reached the outbox, after the results acknowledged before them.
    let mut ws = a.events(0).await;
    let mut seen_interrupted = 0;
    let mut seen_acked = 0;
    while seen_interrupted < sleeping.len() {
        use futures_util::StreamExt;
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("outbox rows")
            .unwrap()
            .unwrap();
        let row: serde_json::Value = serde_json::from_str(&msg.into_text().unwrap()).unwrap();
        let id = row["item"]["id"].as_str().unwrap_or_default();
        if acked.contains_key(id) {
            seen_acked += 1;
        }
        if row["item"]["state"] == "interrupted" {
            seen_interrupted += 1;
        }
    }
    assert_eq!(
        seen_acked,
        acked.len(),
        "every acknowledged result is in the outbox before the interruptions"
    );
}

#[tokio::test]
async fn issue2_sigterm_drains_running_jobs_within_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Agent::start(Options::new(dir.path()).env("OUTPOST_SHUTDOWN_GRACE_MS", "10000"));
    let mut ids = vec![];
    for _ in 0..4 {
        let (st, b) = a
            .submit(json!({"kind": "sleep", "params": {"ms": 700}}), None)
            .await;
        assert_eq!(st, 202);
        ids.push(b["id"].as_str().unwrap().to_owned());
    }
    let t = Instant::now();
    a.sigterm();
    let st = a.wait_exit(Duration::from_secs(15));
    assert!(st.success(), "exit status {st:?}; log:\n{}", a.log_text());
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "drained in {:?}",
        t.elapsed()
    );
    let log = a.log_text();
    assert!(
        log.contains("shutting down") && log.contains("stopped"),
        "{log}"
    );
    drop(a);
    let a = Agent::start(Options::new(dir.path()));
    for id in &ids {
        assert_eq!(
            a.job(id).await["state"],
            "succeeded",
            "drained jobs finish, not interrupted"
        );
    }
}

#[tokio::test]
async fn issue2_sigterm_interrupts_what_outlives_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Agent::start(Options::new(dir.path()).env("OUTPOST_SHUTDOWN_GRACE_MS", "300"));
    let (_, b) = a
        .submit(
            json!({"kind": "sleep", "params": {"ms": 600_000}, "timeout_ms": 900_000}),
            None,
        )
        .await;
    let id = b["id"].as_str().unwrap().to_owned();
    wait_for("sleep running", Duration::from_secs(10), || async {
        a.job(&id).await["state"] == "running"
    })
    .await;
    let t = Instant::now();
    a.sigterm();
    assert!(a.wait_exit(Duration::from_secs(10)).success());
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    drop(a);
    let a = Agent::start(Options::new(dir.path()));
    let rec = a.job(&id).await;
    assert_eq!(rec["state"], "interrupted", "{rec}");
    assert!(
        rec["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shut down"),
        "{rec}"
    );
}

#[tokio::test]
async fn issue2_token_key_and_store_files_have_mode_0600_and_tls_pins() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(dir.path()).arg("--tls"));
    assert!(a.url.starts_with("https://"), "{}", a.url);
    assert_eq!(mode(&dir.path().join("token")), 0o600);
    assert_eq!(mode(&dir.path().join("tls/key.pem")), 0o600);
    assert_eq!(mode(&dir.path().join("outpost.db")), 0o600);
    assert_eq!(a.token.len(), 64);

    // The logged fingerprint is the served certificate's, so a client can pin it.
    let pem = std::fs::read(dir.path().join("tls/cert.pem")).unwrap();
    let der = rustls_pem_cert(&pem);
    use sha2::Digest;
    let fp: Vec<String> = sha2::Sha256::digest(&der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    assert!(a.log_text().contains(&fp.join(":")), "{}", a.log_text());

    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let r = client
        .get(format!(
            "{}/v1/jobs",
            a.url.replace("127.0.0.1", "localhost")
        ))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // An unpinned client refuses the self-signed certificate.
    assert!(reqwest::get(format!("{}/healthz", a.url)).await.is_err());
}

fn rustls_pem_cert(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).unwrap();
    let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64_decode(&b64)
}

fn base64_decode(s: &str) -> Vec<u8> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = vec![];
    let (mut buf, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| *c != b'=') {
        buf = (buf << 6) | T.iter().position(|t| *t == c).unwrap() as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

#[tokio::test]
async fn issue2_non_loopback_listen_turns_tls_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Agent::start(Options::new(dir.path()).arg("--listen").arg("0.0.0.0:0"));
    assert!(a.url.starts_with("https://"), "{}", a.url);
    a.kill9();
    let a = Agent::start(
        Options::new(dir.path())
            .arg("--listen")
            .arg("0.0.0.0:0")
            .arg("--insecure-plaintext"),
    );
    assert!(a.url.starts_with("http://"), "{}", a.url);
}

#[tokio::test]
async fn issue2_openapi_document_is_valid_and_covers_the_routes() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(dir.path()));
    let doc: serde_json::Value = a.get_json("/v1/openapi.json").await;
    for p in [
        "/v1/jobs",
        "/v1/jobs/{id}",
        "/v1/events",
        "/metrics",
        "/healthz",
        "/ws",
    ] {
        assert!(
            doc["paths"].get(p).is_some(),
            "{p} missing from the document"
        );
    }
    // The document is built apart from the router (lazily, so an idle agent does not hold
    // it): every operation it lists must be served, and answer with something other than
    // the router's own 404 (no route) or 405.
    let mut operations = 0;
    // Restart and shutdown end the agent under test: served, checked last (shutdown), and
    // covered whole by issue13_lifecycle.
    let last = ["/v1/agent/restart", "/v1/agent/shutdown"];
    for (path, item) in doc["paths"].as_object().unwrap() {
        if last.contains(&path.as_str()) {
            continue;
        }
        let url = format!(
            "{}{}",
            a.url,
            path.replace("{id}", "01a201a1-c8cf-7166-8382-26c7b4925f57")
        );
        for method in item.as_object().unwrap().keys() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let m: reqwest::Method = method.to_uppercase().parse().unwrap();
            operations += 1;
            let r = a
                .client
                .request(m, &url)
                .bearer_auth(&a.token)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            assert!(
                status != 405 && !body.contains("no route"),
                "{method} {path} is documented but not served: {status} {body}"
            );
        }
    }
    assert!(operations >= 6, "{operations} operations");
    for p in last {
        assert!(doc["paths"][p].get("post").is_some(), "{p} missing");
    }
    let r = a.post("/v1/agent/shutdown").send().await.unwrap();
    assert_eq!(r.status(), 202);
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let venv = std::env::var("OUTPOST_TEST_VENV")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../venv").into());
    let validator = format!("{venv}/bin/openapi-spec-validator");
    let out = Command::new(&validator)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("{validator}: {e}; run scripts/test, which installs it"));
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn outpost(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("OUTPOST_CONFIG");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn issue2_cli_exit_codes_and_config_commands() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[api]\nlisten = \"127.0.0.1:7071\"\ntoken = \"s3cret-token\"\n",
    )
    .unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[api]\nlisten = \"127.0.0.1:7071\"\n\n[jobs]\nqueue_capacty = 5\n",
    )
    .unwrap();

    let (code, out, _) = outpost(
        &["config", "check", "--config", good.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 0, "{out}");
    let (code, _, err) = outpost(&["config", "check", "--config", bad.to_str().unwrap()], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("jobs.queue_capacty")
            && err.contains(":5")
            && err.contains("jobs.queue_capacity"),
        "{err}"
    );
    let (code, _, err) = outpost(&["config", "check", "--config", "/nonexistent.toml"], &[]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.matches("No such file").count(), 1, "{err}");

    let (code, out, _) = outpost(
        &[
            "config",
            "show",
            "--json",
            "--config",
            good.to_str().unwrap(),
        ],
        &[("OUTPOST_JOBS_QUEUE_CAPACITY", "7")],
    );
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["api.token"]["value"], "[redacted]");
    assert!(!out.contains("s3cret-token"));
    assert_eq!(v["jobs.queue_capacity"]["value"], 7);
    assert_eq!(
        v["jobs.queue_capacity"]["origin"],
        "environment OUTPOST_JOBS_QUEUE_CAPACITY"
    );
    assert_eq!(v["api.listen"]["value"], "127.0.0.1:7071");

    let (code, _, err) = outpost(&["run", "--listen", "nowhere"], &[]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = outpost(
        &["run"],
        &[
            ("OUTPOST_API_LISTEN", "nowhere"),
            ("OUTPOST_DATA_DIR", dir.path().to_str().unwrap()),
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("OUTPOST_API_LISTEN"), "{err}");
    let (code, _, _) = outpost(&["frobnicate"], &[]);
    assert_eq!(code, 2);
    let (code, out, _) = outpost(&["version", "--json"], &[]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let (code, out, _) = outpost(&["run", "--help"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("Examples:"));
}

#[test]
fn issue2_readme_config_reference_is_current() {
    let (code, keys, _) = outpost(&["config", "keys"], &[]);
    assert_eq!(code, 0);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let begin = readme.find("<!-- config-keys:begin").unwrap();
    let begin = begin + readme[begin..].find('\n').unwrap() + 1;
    let end = readme.find("<!-- config-keys:end -->").unwrap();
    assert_eq!(
        readme[begin..end].trim(),
        keys.trim(),
        "README's reference is stale: paste `outpost config keys`"
    );
}

#[test]
fn issue11_runtime_worker_threads_out_of_range_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[runtime]\nworker_threads = 0\n").unwrap();
    let (code, _, err) = outpost(&["config", "check", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("runtime.worker_threads"), "{err}");
    std::fs::write(&cfg, "[runtime]\nworker_threads = 2\n").unwrap();
    let (code, out, err) = outpost(&["config", "check", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{out}{err}");
}
