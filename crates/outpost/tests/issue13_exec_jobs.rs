//! Issue 13: the `exec` job kind through `outpost run`: allowlisted commands from the config
//! file's `[commands.NAME]`, refusals as failed jobs with their reason, every attempt in the
//! audit log and, as `exec.audit` events, in the outbox.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{Agent, Options, BIN};
use futures_util::StreamExt;
use serde_json::json;

const CONFIG: &str = r#"
[exec]
enabled = true

[commands.hello]
argv = ["/bin/echo", "{word}"]
params.word = { type = "string", pattern = "[a-z]+" }
"#;

#[tokio::test]
async fn issue13_exec_jobs_run_allowlisted_commands_refuse_the_rest_and_audit_every_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("outpost.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let data = dir.path().join("data");
    let a = Agent::start(
        Options::new(&data)
            .arg("--config")
            .arg(config.to_str().unwrap()),
    );

    let (st, ok) = a
        .submit(
            json!({"kind": "exec", "params": {"command": "hello", "params": {"word": "abc"}}}),
            Some(20.0),
        )
        .await;
    assert_eq!(st, 200, "{ok}");
    assert_eq!(ok["state"], "succeeded", "{ok}");
    assert_eq!(ok["output"]["stdout"], "abc\n", "{ok}");
    assert_eq!(ok["output"]["exit"]["code"], 0, "{ok}");

    // A shell metacharacter in a parameter, and a command nobody allowed.
    let mut refused = Vec::new();
    for params in [
        json!({"command": "hello", "params": {"word": "abc; touch /tmp/pwned"}}),
        json!({"command": "rm", "params": {}}),
    ] {
        let (st, job) = a
            .submit(json!({"kind": "exec", "params": params}), Some(20.0))
            .await;
        assert_eq!(st, 200, "{job}");
        assert_eq!(job["state"], "failed", "{job}");
        let code = job["error"]["code"].as_str().unwrap().to_owned();
        assert_ne!(code, "exec_failed", "{job}");
        refused.push(code);
    }
    assert_ne!(refused[0], refused[1], "each refusal says why: {refused:?}");

    // The audit log: a decision and an outcome for the run, a line for each refusal, and an
    // intact chain.
    let log = data.join("audit.log");
    let report = outpost_exec::verify(&log).unwrap();
    assert_eq!(report.lines, 4);
    let verify_cli = |path: &std::path::Path| {
        std::process::Command::new(BIN)
            .args(["audit", "verify"])
            .arg(path)
            .output()
            .unwrap()
    };
    let out = verify_cli(&log);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok, 4 lines"));
    // `outpost audit verify` names the line an edit touched.
    let tampered = dir.path().join("tampered.log");
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert!(lines[1].contains("\"who\":\"api\""), "{}", lines[1]);
    lines[1] = lines[1].replacen("\"who\":\"api\"", "\"who\":\"ops\"", 1);
    std::fs::write(&tampered, lines.join("\n") + "\n").unwrap();
    let out = verify_cli(&tampered);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 2"),
        "{out:?}"
    );

    // The same lines as events in the outbox.
    let mut ws = a.events(0).await;
    let mut audits = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    while audits.len() < 4 {
        let left = end.saturating_duration_since(Instant::now());
        let msg = tokio::time::timeout(left, ws.next())
            .await
            .expect("four exec.audit events within 10 s")
            .unwrap()
            .unwrap();
        let row: serde_json::Value = serde_json::from_str(&msg.into_text().unwrap()).unwrap();
        if row["item"]["kind"] == "exec.audit" {
            audits.push(row["item"]["payload"].clone());
        }
    }
    let decisions: Vec<_> = audits.iter().map(|a| a["decision"].clone()).collect();
    assert_eq!(
        decisions.iter().filter(|d| **d == "refused").count(),
        2,
        "{audits:?}"
    );
    assert!(audits.iter().all(|a| a["source"] == "api"), "{audits:?}");

    // agent.info shows the component on.
    let (_, info) = a.submit(json!({"kind": "agent.info"}), Some(5.0)).await;
    let exec = info["output"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "exec")
        .cloned();
    assert_eq!(exec, Some(json!({"name": "exec", "state": "running"})));
}

/// Scripts by name and inline scripts through `outpost run`: a script from `exec.scripts_dir`
/// runs from the file checked; an inline script is refused (and audited) while
/// `exec.allow_inline` is off, and runs once it is on, with a warning at every start.
#[tokio::test]
async fn issue13_scripts_and_inline_scripts_through_the_agent_follow_the_config() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let scripts = dir.path().join("scripts");
    std::fs::create_dir(&scripts).unwrap();
    let script = scripts.join("hello.sh");
    std::fs::write(&script, "#!/bin/sh\necho \"hello $1\"\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path().join("outpost.toml");
    let data = dir.path().join("data");
    let inline = json!({"kind": "exec", "params": {"inline": {
        "content_base64": "ZWNobyBpbmxpbmU=", "interpreter": "sh"}}});

    for allow_inline in [false, true] {
        std::fs::write(
            &config,
            format!(
                "[exec]\nenabled = true\nallow_inline = {allow_inline}\nscripts_dir = \"{}\"\n",
                scripts.display()
            ),
        )
        .unwrap();
        let mut a = Agent::start(
            Options::new(&data)
                .arg("--config")
                .arg(config.to_str().unwrap()),
        );
        let (st, job) = a
            .submit(
                json!({"kind": "exec", "params": {"script": "hello.sh", "args": ["world"]}}),
                Some(20.0),
            )
            .await;
        assert_eq!(st, 200, "{job}");
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(job["output"]["stdout"], "hello world\n", "{job}");

        let (st, job) = a.submit(inline.clone(), Some(20.0)).await;
        assert_eq!(st, 200, "{job}");
        let warned = a.log_text().contains("inline");
        if allow_inline {
            assert_eq!(job["state"], "succeeded", "{job}");
            assert_eq!(job["output"]["stdout"], "inline\n", "{job}");
            assert!(warned, "allow_inline is logged at start:\n{}", a.log_text());
        } else {
            assert_eq!(job["state"], "failed", "{job}");
            assert!(
                job["error"]["message"].as_str().unwrap().contains("inline"),
                "{job}"
            );
        }
        a.sigterm();
        assert!(a.wait_exit(Duration::from_secs(20)).success());
    }
    // Both refusals and runs are in one intact chain across the two agents.
    let log = data.join("audit.log");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("\"decision\":\"refused\""), "{text}");
    assert!(outpost_exec::verify(&log).is_ok());
}

/// `outpost config show` lists the allowlist with the keys (it is part of the effective
/// config), every command's environment value redacted.
#[test]
fn issue13_config_show_lists_the_commands_with_their_env_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("outpost.toml");
    std::fs::write(
        &config,
        format!("{CONFIG}env = {{ API_KEY = \"s3cret-value\" }}\n"),
    )
    .unwrap();
    for json in [false, true] {
        let mut cmd = std::process::Command::new(BIN);
        cmd.args(["config", "show", "--config"]).arg(&config);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert!(!text.contains("s3cret-value"), "{text}");
        if json {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                v["commands"]["hello"]["argv"],
                json!(["/bin/echo", "{word}"])
            );
            assert_eq!(v["commands"]["hello"]["env"]["API_KEY"], "[redacted]");
        } else {
            assert!(text.contains("[commands.hello]"), "{text}");
            assert!(text.contains("API_KEY = \"[redacted]\""), "{text}");
        }
    }
}
