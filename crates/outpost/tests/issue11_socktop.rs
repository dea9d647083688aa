//! Issue 11, socktop with caches on, through the real `outpost run`: while a value is cached,
//! `/ws` answers every request with the same stored frame (byte for byte, the same collection),
//! including many sessions asking at once, and socktop's own `socktop_connector` 1.60 decodes
//! those frames. With the TTL at 0 every request is a new collection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Agent, Options};
use futures_util::{SinkExt, StreamExt};
use outpost_test_support::gzip::gunzip;
use socktop_connector::{AgentRequest, AgentResponse};
use tokio_tungstenite::tungstenite::Message;

fn ws_url(a: &Agent) -> String {
    format!(
        "{}/ws?token={}",
        a.url.replacen("http://", "ws://", 1),
        a.token
    )
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ask(ws: &mut Ws, request: &str) -> Message {
    ws.send(Message::text(request)).await.unwrap();
    ws.next().await.unwrap().unwrap()
}

fn long_ttl_agent(dir: &std::path::Path) -> Agent {
    // An hour: nothing expires during the test, so every reply must be the stored frame.
    Agent::start(
        Options::new(dir)
            .env("OUTPOST_METRICS_TTL_MS", "3600000")
            .env("OUTPOST_METRICS_DISKS_TTL_MS", "3600000")
            .env("OUTPOST_METRICS_PROCESSES_TTL_MS", "3600000"),
    )
}

#[tokio::test]
async fn issue11_socktop_cached_replies_are_one_stored_frame_across_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let a = long_ttl_agent(dir.path());
    let url = ws_url(&a);
    for request in ["get_metrics", "get_processes", "get_disks"] {
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        let first = ask(&mut ws, request).await;
        assert!(
            matches!(&first, Message::Text(_) | Message::Binary(_)),
            "{request}: {first:?}"
        );
        if let Message::Text(t) = &first {
            assert!(!t.contains("\"error\""), "{request}: {t}");
        }
        for _ in 0..20 {
            assert_eq!(
                ask(&mut ws, request).await,
                first,
                "{request}: a hit differed"
            );
        }
        // Eight sessions at once get the same frame too.
        let sessions = (0..8).map(|_| {
            let (url, request) = (url.clone(), request.to_owned());
            tokio::spawn(async move {
                let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
                ask(&mut ws, &request).await
            })
        });
        for s in sessions.collect::<Vec<_>>() {
            assert_eq!(
                s.await.unwrap(),
                first,
                "{request}: another session differed"
            );
        }
    }

    // socktop's client library decodes the stored frames, first request and hits alike.
    let mut c = socktop_connector::connect_to_socktop_agent(url)
        .await
        .unwrap();
    for _ in 0..2 {
        let AgentResponse::Metrics(m) = c.request(AgentRequest::Metrics).await.unwrap() else {
            panic!("metrics: unexpected response");
        };
        assert!(!m.cpu_per_core.is_empty() && m.mem_total > 0);
        let AgentResponse::Processes(p) = c.request(AgentRequest::Processes).await.unwrap() else {
            panic!("processes: unexpected response");
        };
        assert!(p.process_count > 0 && !p.top_processes.is_empty());
        assert!(
            p.top_processes.iter().any(|r| r.pid == a.pid() as u32),
            "the agent itself is in the list"
        );
        let AgentResponse::Disks(_) = c.request(AgentRequest::Disks).await.unwrap() else {
            panic!("disks: unexpected response");
        };
    }
}

#[tokio::test]
async fn issue11_socktop_ttl_zero_collects_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(
        Options::new(dir.path())
            .env("OUTPOST_METRICS_TTL_MS", "0")
            .env("OUTPOST_METRICS_PROCESSES_TTL_MS", "0"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(&a)).await.unwrap();
    // Each reply is a new collection: its sample time never goes back, and over 2 s of
    // requests it moves on (a stored frame would keep the first one forever).
    // The reply is text up to 768 bytes and gzip beyond: which one depends on the host's
    // cores and interfaces (a CI runner with many veths gets gzip).
    let sampled = |m: Message| -> u64 {
        let json = match m {
            Message::Text(t) => t.as_bytes().to_vec(),
            Message::Binary(b) => gunzip(&b),
            other => panic!("unexpected frame {other:?}"),
        };
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        v["sampled_at_ms"].as_u64().unwrap()
    };
    let first = sampled(ask(&mut ws, "get_metrics").await);
    let end = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let mut last = first;
    while last == first {
        assert!(
            std::time::Instant::now() < end,
            "get_metrics stayed cached at TTL 0"
        );
        let now = sampled(ask(&mut ws, "get_metrics").await);
        assert!(now >= last);
        last = now;
    }
}

/// Idle RSS (issue 11): the agent does not load libm.so. Its three libm calls are defined in
/// the binary (`src/libm_shim.rs`); libm's mappings were about 0.5 MiB of every agent's RSS.
/// Checked on the running agent after it served socktop requests on its multi-thread runtime
/// (whose scheduler statistics are the `pow` caller), so the shim has been called and the
/// agent still answers.
#[tokio::test]
async fn issue11_the_agent_does_not_load_libm() {
    let dir = tempfile::tempdir().unwrap();
    let a = long_ttl_agent(dir.path());
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url(&a)).await.unwrap();
    for _ in 0..5 {
        let reply = ask(&mut ws, "get_metrics").await;
        assert!(
            matches!(reply, Message::Text(_) | Message::Binary(_)),
            "{reply:?}"
        );
    }
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", a.pid())).unwrap();
    assert!(
        maps.contains("libc.so"),
        "maps read from the wrong process:\n{maps}"
    );
    let libm: Vec<&str> = maps.lines().filter(|l| l.contains("/libm.so")).collect();
    assert!(
        libm.is_empty(),
        "the agent loaded libm (a dependency calls a libm function the shim lacks: \
         `nm -D --undefined-only` on the binary names it):\n{}",
        libm.join("\n")
    );
}
