//! Issue 14: `check.nagios` runs Debian's `monitoring-plugins-basic` (`check_tcp`,
//! `check_http`, `check_disk`, `check_dummy`) as allowlisted commands through `outpost run`:
//! the exit code is the state, the output and perfdata are read, every run is audited, and a
//! plugin nobody allowed does not run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Agent, Options};
use outpost_test_support::http::{read_request, reply};
use serde_json::{json, Value};
use tokio::net::TcpListener;

const PLUGINS: &str = "/usr/lib/nagios/plugins";

fn config() -> String {
    for p in ["check_tcp", "check_http", "check_disk", "check_dummy"] {
        assert!(
            std::path::Path::new(PLUGINS).join(p).exists(),
            "{PLUGINS}/{p} missing: install monitoring-plugins-basic (scripts/deps/60-probes.sh)"
        );
    }
    format!(
        r#"
[exec]
enabled = true

[commands.check_tcp]
argv = ["{PLUGINS}/check_tcp", "-H", "127.0.0.1", "-p", "{{port}}", "-w", "{{warn}}", "-c", "10"]
params.port = {{ type = "integer", min = 1, max = 65535 }}
params.warn = {{ type = "string", pattern = "[0-9.]+" }}

[commands.check_http]
argv = ["{PLUGINS}/check_http", "-H", "127.0.0.1", "-p", "{{port}}", "-u", "{{path}}"]
params.port = {{ type = "integer", min = 1, max = 65535 }}
params.path = {{ type = "string", pattern = "/[a-z]*" }}

[commands.check_disk]
argv = ["{PLUGINS}/check_disk", "-w", "{{warn}}", "-c", "{{crit}}", "-p", "/"]
params.warn = {{ type = "string", pattern = "[0-9]+%" }}
params.crit = {{ type = "string", pattern = "[0-9]+%" }}

[commands.check_dummy]
argv = ["{PLUGINS}/check_dummy", "{{code}}", "{{text}}"]
params.code = {{ type = "integer", min = 0, max = 9 }}
params.text = {{ type = "string", pattern = "[a-z ]+" }}

[commands.slow_plugin]
argv = ["/bin/sleep", "30"]
timeout_ms = 300
"#
    )
}

async fn check(a: &Agent, command: &str, params: Value) -> Value {
    let (st, job) = a
        .submit(
            json!({"kind": "check.nagios", "params": {"command": command, "params": params}}),
            Some(30.0),
        )
        .await;
    assert_eq!(st, 200, "{job}");
    assert_eq!(
        job["state"], "succeeded",
        "a plugin's verdict is a result: {job}"
    );
    job["output"].clone()
}

fn assert_state(out: &Value, status: u64, state: &str, output_has: &str) {
    assert_eq!(out["status"], status, "{out}");
    assert_eq!(out["state"], state, "{out}");
    let text = out["output"].as_str().unwrap();
    assert!(text.contains(output_has), "{output_has:?} not in {out}");
    assert!(!text.contains('|'), "perfdata left in the output: {out}");
}

fn perf<'a>(out: &'a Value, label: &str) -> &'a Value {
    out["perfdata"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["label"] == label)
        .unwrap_or_else(|| panic!("no perfdata {label:?} in {out}"))
}

/// A plain HTTP server answering by path: `/ok` 200, `/missing` 404, anything else 500.
async fn http_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let Some(req) = read_request(&mut s).await else {
                    return;
                };
                let path = req.head.split_whitespace().nth(1).unwrap_or("").to_owned();
                let status = match path.as_str() {
                    "/ok" => 200,
                    "/missing" => 404,
                    _ => 500,
                };
                reply(&mut s, status).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn issue14_check_nagios_runs_monitoring_plugins_and_reads_state_output_and_perfdata() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("outpost.toml");
    std::fs::write(&cfg, config()).unwrap();
    let data = dir.path().join("data");
    let a = Agent::start(
        Options::new(&data)
            .arg("--config")
            .arg(cfg.to_str().unwrap()),
    );

    // check_tcp: a listener of ours (OK), a warning threshold no connect can meet
    // (WARNING), a closed port (CRITICAL).
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open_port = open.local_addr().unwrap().port();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = check(&a, "check_tcp", json!({"port": open_port, "warn": "5"})).await;
    assert_state(&out, 0, "OK", "TCP OK");
    let time = perf(&out, "time");
    assert_eq!(time["uom"], "s", "{out}");
    assert!(time["value"].as_f64().unwrap() < 5.0, "{out}");
    assert_eq!(time["warn"], "5.000000", "{out}");
    let out = check(
        &a,
        "check_tcp",
        json!({"port": open_port, "warn": "0.0000001"}),
    )
    .await;
    assert_state(&out, 1, "WARNING", "TCP WARNING");
    let out = check(&a, "check_tcp", json!({"port": closed_port, "warn": "5"})).await;
    assert_state(&out, 2, "CRITICAL", "");
    drop(open);

    // check_http against a server of the test's own: 200 OK, 404 WARNING, 500 CRITICAL.
    let port = http_server().await;
    let out = check(&a, "check_http", json!({"port": port, "path": "/ok"})).await;
    assert_state(&out, 0, "OK", "HTTP OK");
    assert_eq!(perf(&out, "size")["uom"], "B", "{out}");
    let out = check(&a, "check_http", json!({"port": port, "path": "/missing"})).await;
    assert_state(&out, 1, "WARNING", "404");
    let out = check(&a, "check_http", json!({"port": port, "path": "/boom"})).await;
    assert_state(&out, 2, "CRITICAL", "500");

    // check_disk on /: thresholds that cannot, must warn, and must go critical.
    let out = check(&a, "check_disk", json!({"warn": "0%", "crit": "0%"})).await;
    assert_state(&out, 0, "OK", "DISK OK");
    let root = perf(&out, "/");
    assert!(root["max"].as_f64().unwrap() > 0.0, "{out}");
    let out = check(&a, "check_disk", json!({"warn": "100%", "crit": "0%"})).await;
    assert_state(&out, 1, "WARNING", "DISK WARNING");
    let out = check(&a, "check_disk", json!({"warn": "100%", "crit": "100%"})).await;
    assert_state(&out, 2, "CRITICAL", "DISK CRITICAL");

    // Exit codes outside 0..=3 are UNKNOWN; a plugin past its timeout is CRITICAL.
    let out = check(&a, "check_dummy", json!({"code": 3, "text": "no idea"})).await;
    assert_state(&out, 3, "UNKNOWN", "no idea");
    let out = check(&a, "check_dummy", json!({"code": 7, "text": "odd"})).await;
    assert_eq!(out["state"], "UNKNOWN", "{out}");
    let out = check(&a, "slow_plugin", json!({})).await;
    assert_state(&out, 2, "CRITICAL", "timed out");
    assert_eq!(out["details"]["timed_out"], true, "{out}");

    // Not allowlisted, or a parameter outside its pattern: the job fails, nothing runs.
    for (command, params) in [
        ("check_ssh", json!({})),
        ("check_http", json!({"port": port, "path": "/ok -H evil"})),
    ] {
        let (st, job) = a
            .submit(
                json!({"kind": "check.nagios", "params": {"command": command, "params": params}}),
                Some(20.0),
            )
            .await;
        assert_eq!(st, 200, "{job}");
        assert_eq!(job["state"], "failed", "{job}");
    }
    // A malformed job is a 422 naming the field.
    let (st, body) = a
        .submit(
            json!({"kind": "check.nagios", "params": {"command": "check_tcp", "argv": ["/bin/sh"]}}),
            Some(5.0),
        )
        .await;
    assert_eq!(st, 422, "{body}");
    assert_eq!(body["error"]["field"], "params.argv", "{body}");

    // Every attempt is in the audit log (12 runs: a decision and an outcome each; 2
    // refusals), and the chain is intact.
    let report = outpost_exec::verify(data.join("audit.log")).unwrap();
    assert_eq!(report.lines, 12 * 2 + 2, "{report:?}");
}
