//! Issue 17: the Towerops adapter's connection against the in-suite Towerops server
//! (Phoenix v1 over WebSocket, written from the reference): off by default, the join with
//! the token (and a wrong one refused), both heartbeats, `restart`, config errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{wait_for, Agent, Options, BIN};
use outpost_proto::towerops::{AgentJob, AgentJobList};
use outpost_test_support::towerops::Server;

const TOKEN: &str = "tok-3e9f1c0d-issue17";

fn opts(dir: &std::path::Path, server: &Server, token: &str) -> Options {
    Options::new(dir)
        .env("TOWEROPS_API_URL", &server.api_url())
        .env("TOWEROPS_AGENT_TOKEN", token)
        .env("TOWEROPS_INSECURE", "true")
}

async fn joined(s: &Server, n: usize) {
    wait_for("the agent to join", Duration::from_secs(20), || async {
        s.accepted_joins() >= n
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn issue17_towerops_joins_with_its_token_then_sends_both_heartbeats() {
    let server = Server::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(opts(dir.path(), &server, TOKEN));
    joined(&server, 1).await;
    let j = &server.joins()[0];
    assert!(j.topic.starts_with("agent:agent-"), "{}", j.topic);
    assert_eq!(j.msg_ref.as_deref(), Some("1"));
    assert_eq!(j.token, TOKEN);
    {
        let st = server.state.lock().unwrap();
        assert_eq!(st.handshakes[0].0, "/socket/agent/websocket");
        assert!(
            st.handshakes[0].1.starts_with("outpost/"),
            "{:?}",
            st.handshakes[0]
        );
    }
    // The application heartbeat right after the join, every field the agent knows filled.
    wait_for(
        "the application heartbeat",
        Duration::from_secs(10),
        || async { !server.heartbeats().is_empty() },
    )
    .await;
    let (_, hb) = server.heartbeats()[0].clone();
    assert!(!hb.version.is_empty());
    assert!(!hb.hostname.is_empty());
    assert_eq!(hb.ip_address, "127.0.0.1");
    assert!(!hb.arch.is_empty() && hb.arch != "x86_64", "{}", hb.arch);
    // A job's answer is followed by a Phoenix heartbeat (the acknowledgement by order).
    let list = AgentJobList {
        jobs: vec![AgentJob {
            job_id: "sweep:0".into(),
            job_type: 6,
            device_id: "d1".into(),
            ..Default::default()
        }],
    };
    assert!(server.send_jobs(&list));
    wait_for(
        "the error for NETWORK_SWEEP",
        Duration::from_secs(10),
        || async { !server.errors().is_empty() },
    )
    .await;
    let e = &server.errors()[0];
    assert_eq!(e.message, "unsupported job type 6");
    assert_eq!((e.job_id.as_str(), e.device_id.as_str()), ("sweep:0", "d1"));
    wait_for(
        "a Phoenix heartbeat after the error",
        Duration::from_secs(10),
        || async {
            let st = server.state.lock().unwrap();
            let at = st.order.iter().position(|(_, ev, _)| ev == "error");
            at.is_some_and(|i| {
                st.order[i..]
                    .iter()
                    .any(|(_, ev, topic)| ev == "heartbeat" && topic == "phoenix")
            })
        },
    )
    .await;
    // That heartbeat's reply moved the cursor past the error: after a reconnect it is not
    // sent again, while what comes next is.
    assert!(server.send_event("restart", serde_json::json!({})));
    joined(&server, 2).await;
    let sweep = AgentJobList {
        jobs: vec![AgentJob {
            job_id: "sweep:1".into(),
            job_type: 6,
            ..Default::default()
        }],
    };
    assert!(server.send_jobs(&sweep));
    wait_for(
        "the error for NETWORK_SWEEP",
        Duration::from_secs(10),
        || async { server.errors().iter().any(|e| e.job_id == "sweep:1") },
    )
    .await;
    let errors = server.pushes("error");
    assert_eq!(errors.len(), 2, "the acknowledged error was sent again");
    assert_eq!(errors[1].conn, server.joins()[1].conn);
    // The token is never logged.
    assert!(!agent.log_text().contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread")]
async fn issue17_towerops_a_wrong_token_is_refused_logged_and_retried() {
    let server = Server::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(opts(dir.path(), &server, "wrong-token-xyz"));
    wait_for("two refused joins", Duration::from_secs(30), || async {
        server.joins().len() >= 2
    })
    .await;
    assert_eq!(server.accepted_joins(), 0);
    assert!(server.heartbeats().is_empty());
    // Each connection has its own topic.
    let j = server.joins();
    assert_ne!(j[0].topic, j[1].topic);
    wait_for(
        "the rejection in the log",
        Duration::from_secs(10),
        || async {
            agent
                .log_text()
                .contains("join rejected: error (invalid token)")
        },
    )
    .await;
    assert!(!agent.log_text().contains("wrong-token-xyz"));
}

#[tokio::test(flavor = "multi_thread")]
async fn issue17_towerops_restart_reconnects_at_once_with_a_new_topic() {
    let server = Server::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let _agent = Agent::start(opts(dir.path(), &server, TOKEN));
    joined(&server, 1).await;
    let sent = Instant::now();
    assert!(server.send_event("restart", serde_json::json!({})));
    joined(&server, 2).await;
    // No backoff: the original reconnects at once after `restart`.
    assert!(
        sent.elapsed() < Duration::from_millis(900),
        "{:?}",
        sent.elapsed()
    );
    let j = server.joins();
    assert_ne!(j[0].topic, j[1].topic);
    assert_ne!(j[0].conn, j[1].conn);
}

#[tokio::test(flavor = "multi_thread")]
async fn issue17_towerops_is_off_without_its_variables_and_a_bad_one_is_named() {
    // Off: no URL, no connection, the daemon runs as before.
    let server = Server::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(Options::new(dir.path()).env("TOWEROPS_AGENT_TOKEN_UNUSED", "x"));
    let (st, body) = agent
        .submit(serde_json::json!({"kind": "agent.info"}), Some(5.0))
        .await;
    assert_eq!(st, 200, "{body}");
    let listed = body["output"]["components"].as_array().unwrap().clone();
    assert!(
        listed.contains(&serde_json::json!({"name": "towerops", "state": "off"})),
        "{listed:?}"
    );
    assert_eq!(server.state.lock().unwrap().connections, 0);
    drop(agent);
    // A URL without a token: exit 2 naming the variable.
    let d2 = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN)
        .args(["run", "--data-dir"])
        .arg(d2.path())
        .env("OUTPOST_API_LISTEN", "127.0.0.1:0")
        .env("TOWEROPS_API_URL", server.api_url())
        .env_remove("TOWEROPS_AGENT_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TOWEROPS_AGENT_TOKEN"), "{err}");
    // ws:// without TOWEROPS_INSECURE: refused, naming the URL variable.
    let out = std::process::Command::new(BIN)
        .args(["run", "--data-dir"])
        .arg(d2.path())
        .env("OUTPOST_API_LISTEN", "127.0.0.1:0")
        .env("TOWEROPS_API_URL", server.api_url())
        .env("TOWEROPS_AGENT_TOKEN", TOKEN)
        .env_remove("TOWEROPS_INSECURE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TOWEROPS_API_URL"), "{err}");
    assert!(!err.contains(TOKEN), "{err}");
    // --token-file: the token comes from the file, and joins.
    let tf = d2.path().join("token.txt");
    std::fs::write(&tf, format!("{TOKEN}\n")).unwrap();
    let d3 = tempfile::tempdir().unwrap();
    let _agent = Agent::start(
        Options::new(d3.path())
            .env("TOWEROPS_API_URL", &server.api_url())
            .env("TOWEROPS_INSECURE", "1")
            .arg("--token-file")
            .arg(tf.to_str().unwrap()),
    );
    joined(&server, 1).await;
    assert_eq!(server.joins()[0].token, TOKEN);
}

#[tokio::test(flavor = "multi_thread")]
async fn issue17_towerops_ping_answers_with_a_monitoring_check() {
    use outpost_proto::towerops::{MonitoringCheck, SnmpDevice};
    let server = Server::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let _agent = Agent::start(opts(dir.path(), &server, TOKEN));
    joined(&server, 1).await;
    let ping = |dev: &str, ip: &str, timeout_ms: u32| AgentJob {
        job_id: format!("ping:{dev}"),
        job_type: 4,
        device_id: dev.into(),
        snmp_device: Some(SnmpDevice {
            ip: ip.into(),
            ..Default::default()
        }),
        ping_timeout_ms: timeout_ms,
        ..Default::default()
    };
    let list = AgentJobList {
        jobs: vec![
            ping("up", "127.0.0.1", 0),
            // The IPv6 documentation prefix: never answers.
            ping("down", "2001:db8::1", 300),
            AgentJob {
                job_id: "ping:none".into(),
                job_type: 4,
                device_id: "none".into(),
                ..Default::default()
            },
        ],
    };
    assert!(server.send_jobs(&list));
    wait_for(
        "both monitoring checks",
        Duration::from_secs(20),
        || async { server.decoded::<MonitoringCheck>("monitoring_check").len() >= 2 },
    )
    .await;
    let checks = server.decoded::<MonitoringCheck>("monitoring_check");
    let up = checks.iter().find(|c| c.device_id == "up").unwrap();
    assert_eq!(up.status, "success");
    assert!(
        up.response_time_ms > 0.0 && up.response_time_ms < 1000.0,
        "{up:?}"
    );
    assert!(up.timestamp > 1_600_000_000);
    let down = checks.iter().find(|c| c.device_id == "down").unwrap();
    assert_eq!(down.status, "failure");
    assert_eq!(down.response_time_ms, 0.0);
    // No target: an error naming the job.
    wait_for(
        "the error for a PING without a target",
        Duration::from_secs(10),
        || async { server.errors().iter().any(|e| e.job_id == "ping:none") },
    )
    .await;
}
