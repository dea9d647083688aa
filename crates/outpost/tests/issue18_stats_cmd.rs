//! Issue 18: a `cmd` in the collector's answer to a stats upload (SocketMan's
//! `process_response` popened it as root). The real agent uploads to a test server that
//! answers 200 with a body: an allowlisted command runs (a script records it) and is
//! audited, from the multipart upload and from `no-cache`'s JSON POST alike; shell text is
//! refused and audited, and never runs; a body that is not JSON, or longer than the read
//! cap, is ignored: nothing is submitted and the agent carries on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Agent, Options};
use outpost_test_support::recorder::Recorder;

const MAC: &str = "AA-BB-CC-00-11-3A";

struct Run {
    dir: tempfile::TempDir,
    agent: Agent,
    server: Recorder,
}

impl Run {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// What the allowlisted script recorded.
    fn ran(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("ran")).unwrap_or_default()
    }
}

/// The audit log's lines for commands from stats replies.
fn audit(data: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(data.join("audit.log")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| {
            v["who"]
                .as_str()
                .is_some_and(|w| w.starts_with("socketman-stats:"))
        })
        .collect()
}

/// The agent in SocketMan mode (MQTT off), uploading to a server that answers every POST
/// 200 with `reply`; `extra` config.json keys.
async fn start(reply: &[u8], extra: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let server = Recorder::start(None).await;
    server.answer_with(200, reply);
    let script = dir.path().join("note.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$1\" >> {}\n",
            dir.path().join("ran").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let toml = dir.path().join("outpost.toml");
    std::fs::write(
        &toml,
        format!(
            "[exec]\nenabled = true\n\n[commands.note]\nargv = [\"{}\", \"{{word}}\"]\n\
             params.word = {{ type = \"string\", pattern = \"[a-z]+\" }}\nuser = 0\nlandlock = \"off\"\n",
            script.display()
        ),
    )
    .unwrap();
    let json = dir.path().join("config.json");
    std::fs::write(
        &json,
        format!(
            r#"{{"disable_mqtt":1,"mac":"{MAC}","token":"tok","health_url":"127.0.0.1","health_port":9,"stats_url":"{}/stats"{extra}}}"#,
            server.base()
        ),
    )
    .unwrap();
    let agent = Agent::start(
        Options::new(&dir.path().join("data"))
            .env("DEBUG", "1")
            .arg("--config")
            .arg(toml.to_str().unwrap())
            .arg("--socketman-config")
            .arg(json.to_str().unwrap()),
    );
    Run { dir, agent, server }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_stats_cmd_allowlisted_runs_audited_from_both_uploads() {
    for extra in ["", r#","no-cache":1"#] {
        let r = start(br#"{"cmd":"note stats"}"#, extra).await;
        common::wait_until("the reply's command ran", Duration::from_secs(60), || {
            r.ran() == "stats\n"
        });
        let data = r.data();
        common::wait_until("its audit lines", Duration::from_secs(10), || {
            audit(&data).len() >= 2
        });
        let lines = audit(&data);
        assert_eq!(lines[0]["who"], "socketman-stats:stats_url", "{lines:?}");
        assert_eq!(lines[0]["decision"], "allowed", "{lines:?}");
        assert_eq!(lines[0]["command"], "note", "{lines:?}");
        assert_eq!(r.server.requests().len(), 1, "{}", r.agent.log_text());
        let head = &r.server.requests()[0].head;
        let json = head.contains("content-type: application/json");
        assert_eq!(json, !extra.is_empty(), "{head}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_stats_cmd_shell_text_is_refused_and_audited() {
    let r = start(br#"{"cmd":"note x; touch pwned"}"#, "").await;
    let data = r.data();
    common::wait_until("the refusal audited", Duration::from_secs(60), || {
        !audit(&data).is_empty()
    });
    let lines = audit(&data);
    assert_eq!(lines[0]["decision"], "refused", "{lines:?}");
    assert_eq!(lines[0]["who"], "socketman-stats:stats_url", "{lines:?}");
    let text = std::fs::read_to_string(data.join("audit.log")).unwrap();
    assert!(text.contains("note x; touch pwned"), "{text}");
    assert!(r.ran().is_empty(), "nothing ran");
    assert!(outpost_exec::verify(data.join("audit.log")).is_ok());
}

/// Not JSON, and a JSON `cmd` padded past the read cap: both ignored (logged), nothing
/// submitted, and the agent still answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_stats_cmd_non_json_or_oversized_reply_is_ignored() {
    let big = format!(
        r#"{{"cmd":"note big","pad":"{}"}}"#,
        "x".repeat(outpost::adapters::socketman::stats::REPLY_LIMIT)
    );
    for (reply, why) in [
        (b"<html>OK</html>".to_vec(), "not JSON"),
        (big.into_bytes(), "longer than 16384 bytes"),
    ] {
        let r = start(&reply, "").await;
        common::wait_until("the reply ignored", Duration::from_secs(60), || {
            r.agent.log_text().contains("stats reply ignored")
        });
        let log = r.agent.log_text();
        assert!(log.contains(why), "{log}");
        assert!(r.agent.healthz().await.status().is_success());
        assert!(audit(&r.data()).is_empty());
        assert!(r.ran().is_empty());
        assert!(
            !r.data().join("socketman/stats/stats.jsonl").exists(),
            "the upload itself was delivered"
        );
    }
}
