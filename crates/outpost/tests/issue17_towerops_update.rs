//! Issue 17 (`update`): the Towerops server's `update {url, checksum}` goes to the signed
//! updater as an `agent.update` job. A checksum-only update is refused unless
//! `update.allow_unsigned_checksum` is on; a malformed one is refused at once; a download
//! that fails is reported. Each outcome reaches the server as an AgentError (the original
//! failed silently), and the agent keeps serving.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{wait_for, Agent, Options};
use outpost_proto::towerops::AgentError;
use outpost_test_support::towerops::Server;
use serde_json::json;

const TOKEN: &str = "tok-issue17-update";
const SHA: &str = "0f343b0931126a20f133d67c2b018a3b5ef4b5f5b1f3d5c0ef8a8f6e4a1b2c3d";

async fn agent(server: &Server, dir: &std::path::Path, allow: bool) -> Agent {
    let mut o = Options::new(dir)
        .env("TOWEROPS_API_URL", &server.api_url())
        .env("TOWEROPS_AGENT_TOKEN", TOKEN)
        .env("TOWEROPS_INSECURE", "true");
    if allow {
        o = o.env("OUTPOST_UPDATE_ALLOW_UNSIGNED_CHECKSUM", "true");
    }
    let a = Agent::start(o);
    wait_for("the join", Duration::from_secs(20), || async {
        server.accepted_joins() >= 1
    })
    .await;
    a
}

async fn update_error(server: &Server, n: usize) -> AgentError {
    wait_for(
        &format!("{n} update errors"),
        Duration::from_secs(30),
        || async {
            server
                .errors()
                .iter()
                .filter(|e| e.job_id == "update")
                .count()
                >= n
        },
    )
    .await;
    server
        .errors()
        .into_iter()
        .filter(|e| e.job_id == "update")
        .nth(n - 1)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_towerops_update_is_refused_unsigned_and_reported() {
    let server = Server::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let a = agent(&server, dir.path(), false).await;
    assert!(server.send_event(
        "update",
        json!({"url": "https://127.0.0.1:9/outpost", "checksum": SHA})
    ));
    let e = update_error(&server, 1).await;
    assert!(e.message.starts_with("update failed: "), "{e:?}");
    assert!(e.message.contains("allow_unsigned_checksum"), "{e:?}");
    // A checksum that is no SHA-256: refused before it becomes a job.
    assert!(server.send_event(
        "update",
        json!({"url": "https://127.0.0.1:9/outpost", "checksum": "abc"})
    ));
    let e = update_error(&server, 2).await;
    assert!(e.message.starts_with("update refused: "), "{e:?}");
    assert!(e.message.contains("checksum"), "{e:?}");
    assert_eq!(a.healthz().await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_towerops_update_opted_in_reports_a_failed_download() {
    let server = Server::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let a = agent(&server, dir.path(), true).await;
    // Nothing listens there: the download fails, and the server hears it.
    let port = outpost_test_support::ports::free_port();
    let url = format!("https://127.0.0.1:{port}/outpost");
    assert!(server.send_event("update", json!({"url": url, "checksum": SHA})));
    let e = update_error(&server, 1).await;
    assert!(e.message.starts_with("update failed: "), "{e:?}");
    assert!(!e.message.contains("allow_unsigned_checksum"), "{e:?}");
    assert!(
        a.log_text().contains("unsigned"),
        "the opt-in is logged at every update"
    );
    assert_eq!(a.healthz().await.status(), 200);
}
