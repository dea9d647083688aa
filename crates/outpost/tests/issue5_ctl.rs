//! Issue 5: `outpost ctl` over MQTT and over the local API, against the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{mosquitto::Broker, Agent, Options, BIN};

async fn ctl(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(BIN)
            .arg("ctl")
            .args(&args)
            .env_remove("OUTPOST_TOKEN")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue5_ctl_runs_jobs_over_mqtt_and_the_api() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(
        Options::new(dir.path())
            .env("OUTPOST_UPLINK_MQTT_URL", &broker.url())
            .env("OUTPOST_AGENT_ID", "ctl-1"),
    );
    a.wait_connected("mqtt").await;
    let (code, out, err) = ctl(s(&[
        "--broker",
        &broker.url(),
        "--agent",
        "ctl-1",
        "run",
        "echo",
        "--params",
        "{\"over\":\"mqtt\"}",
    ]))
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["state"].as_str(), &v["output"]),
        (Some("succeeded"), &serde_json::json!({"over": "mqtt"}))
    );

    let (code, out, err) = ctl(s(&[
        "--broker",
        &broker.url(),
        "--agent",
        "ctl-1",
        "run",
        "sleep",
        "--params",
        "{\"ms\":5000}",
        "--timeout-ms",
        "50",
    ]))
    .await;
    assert_eq!(code, 1, "a job that did not succeed exits 1: {out}{err}");
    assert!(out.contains("timed_out"), "{out}");
    let (code, _, err) = ctl(s(&[
        "--broker",
        &broker.url(),
        "--agent",
        "ctl-1",
        "run",
        "nope",
    ]))
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("unknown_kind"), "{err}");

    let (code, out, err) = ctl(s(&[
        "--api", &a.url, "--token", &a.token, "run", "echo", "--params", "[1,2]",
    ]))
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let id = v["id"].as_str().unwrap().to_owned();
    let (code, out, _) = ctl(s(&["--api", &a.url, "--token", &a.token, "get", &id])).await;
    assert_eq!(code, 0);
    assert!(out.contains(&id));
    let (code, _, err) = ctl(s(&["--api", &a.url, "--token", "wrong", "get", &id])).await;
    assert_eq!(code, 1, "{err}");

    for bad in [
        s(&["run", "echo"]),
        s(&[
            "--api", &a.url, "--token", "t", "run", "echo", "--params", "{",
        ]),
        s(&["--broker", "http://x", "--agent", "a", "run", "echo"]),
    ] {
        let (code, _, err) = ctl(bad.clone()).await;
        assert_eq!(code, 2, "{bad:?}: {err}");
    }
}
