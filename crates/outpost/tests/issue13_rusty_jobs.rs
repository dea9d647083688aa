//! Issue 13: rusty_agent's saved jobs (`/agent/job`, `/agent/jobs`) through `outpost run`:
//! each becomes a schedule running an inline script.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::wait_until;
use outpost_test_support::rusty::{b64, Rusty};
use serde_json::json;

/// Saved jobs become schedules (id = script_name) running inline scripts: saved, listed,
/// read back as sent, run on their cron expression, paused and resumed, updated, deleted;
/// rusty_agent's replies and codes for duplicates, missing records and bad expressions
/// (which, unlike rusty_agent, save nothing).
#[tokio::test]
async fn issue13_rusty_saved_jobs_become_schedules() {
    let r = Rusty::start(true);
    let job = |name: &str, content: &str, cron: &str| {
        json!({"script_name": name, "content": b64(content), "arguments": "FS", "cron_expression": cron,
               "script_type": 1, "async_exec": false, "opensearch_index": "idx", "opensearch_enabled": true})
    };
    let saved = json!({"success": true, "message": "Script saved successfully"});
    let (st, v) = r
        .call(
            "POST",
            "/agent/job",
            Some(job("tick", "echo ran-by-schedule\r\n", "* * * ? * * *")),
        )
        .await;
    assert_eq!((st, &v), (200, &saved), "{v}");
    let (st, v) = r
        .call(
            "POST",
            "/agent/job",
            Some(job("tick", "true", "0 0 6,14 ? * * *")),
        )
        .await;
    assert_eq!(
        (st, v),
        (
            500,
            json!({"success": false, "message": "Unable to save script tick. Record already present."})
        )
    );
    let (st, v) = r
        .call(
            "POST",
            "/agent/job",
            Some(job("bad", "true", "61 * * * * *")),
        )
        .await;
    assert_eq!(st, 500, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("Error parsing the cron expression"),
        "{v}"
    );
    assert_eq!(
        r.call("GET", "/agent/jobs?name=bad", None).await,
        (500, json!("Script does not exist"))
    );
    assert_eq!(
        r.call("GET", "/agent/jobs", None).await,
        (200, json!(["tick"]))
    );
    let (st, v) = r.call("GET", "/agent/jobs?name=tick", None).await;
    assert_eq!(st, 200);
    assert_eq!(
        v,
        json!({"script_name": "tick", "content": b64("echo ran-by-schedule\n"), "arguments": "FS",
               "cron_expression": "* * * ? * * *", "script_type": 1, "opensearch_index": "idx",
               "opensearch_enabled": true})
    );
    assert_eq!(
        r.call("GET", "/agent/metric", None).await.1["jobs"],
        json!(["tick"])
    );

    // It runs, every second, as an audited inline script from the schedule.
    let ran = |r: &Rusty| {
        r.audit()
            .iter()
            .filter(|l| {
                l["decision"] == "allowed" && l["phase"] == "decision" && l["kind"] == "inline"
            })
            .count()
    };
    wait_until("the saved job ran", Duration::from_secs(20), || {
        ran(&r) >= 1
    });

    assert_eq!(
        r.call("PUT", "/agent/jobs/stop", None).await,
        (200, json!("Job execution stopped"))
    );
    assert_eq!(
        r.call("PUT", "/agent/jobs/start", None).await,
        (200, json!("Job execution started"))
    );

    let (st, v) = r
        .call(
            "PUT",
            "/agent/job",
            Some(job("tick", "echo changed", "0 0 6,14 ? * * *")),
        )
        .await;
    assert_eq!((st, &v), (200, &saved));
    assert_eq!(
        r.call("GET", "/agent/jobs?name=tick", None).await.1["cron_expression"],
        "0 0 6,14 ? * * *"
    );
    let (st, v) = r
        .call(
            "PUT",
            "/agent/job",
            Some(job("nope", "true", "0 0 6 ? * * *")),
        )
        .await;
    assert_eq!(
        (st, v),
        (
            500,
            json!({"success": false, "message": "Unable to update script nope. Record not present."})
        )
    );
    assert_eq!(
        r.call("DELETE", "/agent/job?script_name=tick", None).await,
        (200, json!("Script deleted successfully"))
    );
    let (st, _) = r.call("DELETE", "/agent/job?script_name=tick", None).await;
    assert_eq!(st, 500);
    assert_eq!(r.call("GET", "/agent/jobs", None).await, (200, json!([])));
}

/// Without `exec.allow_inline` a saved job could never run: refused, nothing saved.
#[tokio::test]
async fn issue13_rusty_saved_jobs_need_inline_scripts() {
    let r = Rusty::start(false);
    let (st, v) = r
        .call(
            "POST",
            "/agent/job",
            Some(json!({"script_name": "s", "content": b64("true"), "arguments": "", "cron_expression": "0 0 6 ? * * *",
                        "script_type": 1, "async_exec": false, "opensearch_index": "", "opensearch_enabled": false})),
        )
        .await;
    assert_eq!(st, 500, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("exec.allow_inline"),
        "{v}"
    );
    assert_eq!(r.call("GET", "/agent/jobs", None).await, (200, json!([])));
}
