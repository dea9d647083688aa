//! Issue 10: logs an operator can use. At debug the agent logs one line per job as it is
//! accepted and one as it finishes (kind, id, state, duration), and one per refusal, with
//! no params (they may carry credentials).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{wait_for, Agent, Options};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue10_debug_log_has_one_line_per_job_with_kind_id_state_and_duration() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(dir.path()).env("LOG_LEVEL", "debug"));
    let (_, ok) = a
        .submit(
            json!({"kind": "echo", "params": {"secret_looking": "hunter2-param"}}),
            Some(5.0),
        )
        .await;
    let ok_id = ok["id"].as_str().unwrap().to_owned();
    let (_, slow) = a
        .submit(
            json!({"kind": "sleep", "params": {"ms": 5000}, "timeout_ms": 50}),
            Some(5.0),
        )
        .await;
    let slow_id = slow["id"].as_str().unwrap().to_owned();
    let refused = a
        .post("/v1/jobs")
        .json(&json!({"kind": "no.such.kind", "params": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    wait_for("the job lines", Duration::from_secs(10), || async {
        let log = a.log_text();
        log.lines().filter(|l| l.contains("job finished")).count() >= 2
            && log.contains("job refused")
    })
    .await;
    let log = a.log_text();
    let line = |id: &str, what: &str| -> String {
        log.lines()
            .find(|l| l.contains(what) && l.contains(id))
            .unwrap_or_else(|| panic!("no {what:?} line for {id}:\n{log}"))
            .to_owned()
    };
    let done = line(&ok_id, "job finished");
    for field in [
        "kind=echo",
        "state=\"succeeded\"",
        "duration_ms=",
        "source=",
    ] {
        assert!(done.contains(field), "{field} missing: {done}");
    }
    assert!(line(&ok_id, "job accepted").contains("kind=echo"));
    let timed_out = line(&slow_id, "job finished");
    for field in ["kind=sleep", "state=\"timed_out\"", "code=timeout"] {
        assert!(timed_out.contains(field), "{field} missing: {timed_out}");
    }
    let refusal = log.lines().find(|l| l.contains("job refused")).unwrap();
    assert!(refusal.contains("code=\"unknown_kind\""), "{refusal}");
    // Params never reach the log.
    assert!(!log.contains("hunter2-param"), "params were logged:\n{log}");
}
