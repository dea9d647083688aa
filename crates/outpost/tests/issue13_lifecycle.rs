//! Issue 13, lifecycle over the API and uplink job kinds: `GET/PUT /v1/config` (secrets
//! redacted; a change validated like `config check`, written atomically with the file's
//! comments and mode kept, applied live where it can be, the rest reported as needing a
//! restart), `POST /v1/agent/restart` (graceful stop, then the same binary again: same PID),
//! and `agent.shutdown` as a job.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    os::unix::fs::PermissionsExt,
    time::{Duration, Instant},
};

use common::{Agent, Options};
use serde_json::{json, Value};

const CONFIG: &str = "# operator's note: keep this comment\n[uplink.ws]\ntoken = \"hunter2-token\"\n\n[log]\nlevel = \"info\"\n";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn put_config(a: &Agent, body: &str) -> (u16, Value) {
    let r = a
        .client
        .put(format!("{}/v1/config", a.url))
        .bearer_auth(&a.token)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

async fn wait_for(what: &str, deadline: Duration, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn issue13_config_is_read_redacted_and_changed_with_validation_live_or_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("outpost.toml");
    std::fs::write(&file, CONFIG).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let a = Agent::start(
        Options::new(&data)
            .arg("--config")
            .arg(file.to_str().unwrap())
            .env("OUTPOST_API_LISTEN", &format!("127.0.0.1:{port}"))
            .unset("LOG_LEVEL"),
    );

    // Read: every key with its origin, the secret redacted.
    let r = a.get("/v1/config").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(!text.contains("hunter2"), "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["values"]["uplink.ws.token"]["value"], "[redacted]", "{v}");
    assert_eq!(v["values"]["log.level"]["value"], "info");
    assert!(v["values"]["log.level"]["origin"]
        .as_str()
        .unwrap()
        .contains("outpost.toml"));

    // Bad changes: each a 422 naming the key, 400 for bad JSON; the file untouched.
    for (body, field) in [
        (r#"{"no.such_key": 1}"#, "no.such_key"),
        (r#"{"jobs.queue_capacity": "many"}"#, "jobs.queue_capacity"),
        (r#"{"log.level": "loud"}"#, "log.level"),
        (r#"{"log.level": null}"#, "log.level"),
        (r#"{"commands.rm.argv": ["/bin/rm"]}"#, "commands.rm.argv"),
    ] {
        let (st, e) = put_config(&a, body).await;
        assert_eq!(st, 422, "{body}: {e}");
        assert_eq!(e["error"]["field"], field, "{body}: {e}");
        assert!(
            !e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("outpost-new"),
            "errors name the operator's file: {e}"
        );
    }
    let (st, e) = put_config(&a, "{not json").await;
    assert_eq!(st, 400, "{e}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), CONFIG);

    // log.level applies live: debug lines appear after the change, not before.
    let (st, _) = a
        .submit(json!({"kind": "echo", "params": {}}), Some(10.0))
        .await;
    assert_eq!(st, 200);
    assert!(!a.log_text().contains("job accepted"));
    let (st, applied) = put_config(
        &a,
        r#"{"log.level": "debug", "jobs.queue_capacity": 77, "api.listen": "127.0.0.1:1"}"#,
    )
    .await;
    assert_eq!(st, 200, "{applied}");
    assert_eq!(applied["applied_live"], json!(["log.level"]), "{applied}");
    assert_eq!(
        applied["restart_required"],
        json!(["jobs.queue_capacity"]),
        "{applied}"
    );
    // The environment outranks the file: said, not silently ignored.
    assert_eq!(applied["overridden"][0]["key"], "api.listen", "{applied}");
    assert!(
        applied["overridden"][0]["by"]
            .as_str()
            .unwrap()
            .contains("OUTPOST_API_LISTEN"),
        "{applied}"
    );
    let (st, _) = a
        .submit(json!({"kind": "echo", "params": {}}), Some(10.0))
        .await;
    assert_eq!(st, 200);
    wait_for("a debug line", Duration::from_secs(10), || {
        a.log_text().contains("job accepted")
    })
    .await;
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(
        written.contains("# operator's note: keep this comment"),
        "{written}"
    );
    assert!(written.contains("level = \"debug\""), "{written}");
    assert!(written.contains("queue_capacity = 77"), "{written}");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert!(!dir.path().join("outpost.toml.outpost-new").exists());

    // Restart: same PID, a second start in the log, the changed value now in effect.
    let pid = a.pid();
    let before = a.log_text().matches("listening on").count();
    let r = a.post("/v1/agent/restart").send().await.unwrap();
    assert_eq!(r.status(), 202);
    wait_for("the restarted agent", Duration::from_secs(30), || {
        a.log_text().matches("listening on").count() > before
    })
    .await;
    assert_eq!(a.healthz().await.status(), 200);
    assert_eq!(a.pid(), pid);
    assert!(std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
        .unwrap()
        .contains("run"));
    let v = a.get_json("/v1/config").await;
    assert_eq!(v["values"]["jobs.queue_capacity"]["value"], 77, "{v}");
    let (st, job) = a
        .submit(json!({"kind": "echo", "params": {"x": 1}}), Some(10.0))
        .await;
    assert_eq!(st, 200, "{job}");
}

#[tokio::test]
async fn issue13_agent_shutdown_as_a_job_stores_its_result_then_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut a = Agent::start(Options::new(&data));
    // Without a config file there is nothing to write: 409, said plainly.
    let (st, e) = put_config(&a, r#"{"log.level": "debug"}"#).await;
    assert_eq!(st, 409, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("--config"));
    // A typo in the params is refused, not a shutdown.
    let (st, e) = a
        .submit(
            json!({"kind": "agent.shutdown", "params": {"now": true}}),
            Some(10.0),
        )
        .await;
    assert_eq!(st, 422, "{e}");

    let id = a
        .submit_accepted(json!({"kind": "agent.shutdown", "params": {}}))
        .await;
    let status = a.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    // The result was stored before the exit.
    let a = Agent::start(Options::new(&data));
    let job = a.job(&id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["output"]["action"], "shutdown", "{job}");
}
