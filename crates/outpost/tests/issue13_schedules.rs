//! Issue 13: schedules through the real agent. CRUD over `/v1/schedules` with bad input;
//! jobs tagged with their schedule; the missed-run policies across a real restart of
//! `outpost run`; overlap control with a slow job (`sleep`); the `schedule.*` job kinds
//! the uplinks carry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{wait_for, wait_until, Agent, Options};
use serde_json::{json, Value};

async fn send(a: &Agent, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{}{path}", a.url);
    let mut req = a
        .client
        .request(method.parse().unwrap(), url)
        .bearer_auth(&a.token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Jobs the schedule `id` submitted, oldest first.
async fn jobs_of(a: &Agent, id: &str) -> Vec<Value> {
    let all = a.get_json("/v1/jobs?limit=1000").await;
    let mut jobs: Vec<Value> = all["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["schedule"] == id)
        .cloned()
        .collect();
    jobs.sort_by_key(|j| j["created_at"].as_i64());
    jobs
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn issue13_schedules_crud_over_the_api_with_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(dir.path()));

    // Bad input: each names its field.
    let r = a.post_body("/v1/schedules", b"{not json".to_vec()).await;
    assert_eq!(r.status(), 400);
    let cases = [
        (
            json!({"when": {"cron": "61 * * * *"}, "job": {"kind": "echo"}}),
            "when.cron",
        ),
        (
            json!({"when": {"cron": "every day"}, "job": {"kind": "echo"}}),
            "when.cron",
        ),
        (
            json!({"when": {"cron": "* * * * *", "tz": "Nowhere/City"}, "job": {"kind": "echo"}}),
            "when.tz",
        ),
        (
            json!({"when": {"every_ms": 0}, "job": {"kind": "echo"}}),
            "when.every_ms",
        ),
        (json!({"when": {}, "job": {"kind": "echo"}}), "when"),
        (
            json!({"when": {"every_ms": 1000}, "job": {"kind": "no.such.kind"}}),
            "job.kind",
        ),
        (
            json!({"when": {"every_ms": 1000}, "job": {"kind": "sleep", "params": {"ms": "long"}}}),
            "job.params.ms",
        ),
        (
            json!({"when": {"every_ms": 1000}, "job": {"kind": "echo", "timeout_ms": 999999999}}),
            "job.timeout_ms",
        ),
        (
            json!({"when": {"every_ms": 1000}, "job": {"kind": "echo"}, "overlap": "maybe"}),
            "overlap",
        ),
        (
            json!({"when": {"every_ms": 1000}, "job": {"kind": "echo"}, "missed": 3}),
            "missed",
        ),
        (
            json!({"id": "../etc", "when": {"every_ms": 1000}, "job": {"kind": "echo"}}),
            "id",
        ),
        (
            json!({"when": {"every_ms": 1000}, "job": {"kind": "echo"}, "colour": "red"}),
            "",
        ),
        (
            json!({"when": {"every_ms": 1000}, "job": {"kind": "schedule.list"}}),
            "job.kind",
        ),
    ];
    for (body, field) in cases {
        let (status, err) = send(&a, "POST", "/v1/schedules", Some(body.clone())).await;
        assert_eq!(status, 422, "{body}: {err}");
        assert_eq!(err["error"]["code"], "invalid_field", "{err}");
        if field.is_empty() {
            assert!(
                err["error"]["message"].as_str().unwrap().contains("colour"),
                "{err}"
            );
        } else {
            assert_eq!(err["error"]["field"], field, "{body}: {err}");
        }
    }
    assert_eq!(a.get_json("/v1/schedules").await["schedules"], json!([]));

    // Add, with a caller-chosen id and a generated one.
    let (status, s) = send(
        &a,
        "POST",
        "/v1/schedules",
        Some(json!({"id": "tick", "when": {"every_ms": 1000}, "job": {"kind": "echo", "params": {"n": 1}},
                    "labels": {"site": "north"}})),
    )
    .await;
    assert_eq!(status, 201, "{s}");
    assert_eq!(s["id"], "tick");
    assert_eq!(s["when"], json!({"every_ms": 1000}));
    assert_eq!(s["overlap"], "skip");
    assert_eq!(s["missed"], "skip");
    assert_eq!(s["source"], "api");
    assert!(s["next_due"].as_i64().unwrap() > s["created_at"].as_i64().unwrap());
    let (status, again) = send(
        &a,
        "POST",
        "/v1/schedules",
        Some(json!({"id": "tick", "when": {"every_ms": 1000}, "job": {"kind": "echo"}})),
    )
    .await;
    assert_eq!(status, 409, "{again}");
    let (status, gen) = send(
        &a,
        "POST",
        "/v1/schedules",
        Some(json!({"when": {"cron": "0 0 1 1 *", "tz": "Europe/Oslo"}, "job": {"kind": "echo"}})),
    )
    .await;
    assert_eq!(status, 201, "{gen}");
    let gen_id = gen["id"].as_str().unwrap().to_owned();
    assert!(gen_id.starts_with("s-"), "{gen_id}");

    // Its jobs run, tagged with the schedule, from the source `schedule`.
    wait_for("two jobs of `tick`", Duration::from_secs(10), || async {
        jobs_of(&a, "tick").await.len() >= 2
    })
    .await;
    let jobs = jobs_of(&a, "tick").await;
    for j in &jobs {
        assert_eq!(j["source"], "schedule", "{j}");
        assert_eq!(j["kind"], "echo", "{j}");
    }
    // Other jobs say so too: `schedule` is null.
    let id = a
        .submit_accepted(json!({"kind": "echo", "params": {}}))
        .await;
    assert_eq!(a.job(&id).await["schedule"], Value::Null);

    // Read, replace, list, remove.
    let (status, got) = send(&a, "GET", "/v1/schedules/tick", None).await;
    assert_eq!(status, 200);
    assert_eq!(got["labels"], json!({"site": "north"}));
    assert!(got["handled_through"].as_i64().is_some(), "{got}");
    let (status, put) = send(
        &a,
        "PUT",
        "/v1/schedules/tick",
        Some(json!({"when": {"cron": "*/30 * * * * *"}, "job": {"kind": "echo"}, "overlap": "allow"})),
    )
    .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["when"], json!({"cron": "*/30 * * * * *"}));
    assert_eq!(put["overlap"], "allow");
    assert_eq!(
        put["created_at"], s["created_at"],
        "created_at survives an update"
    );
    let (status, bad) = send(
        &a,
        "PUT",
        "/v1/schedules/tick",
        Some(json!({"when": {"cron": "* * * * * * * *"}, "job": {"kind": "echo"}})),
    )
    .await;
    assert_eq!(
        (status, &bad["error"]["field"]),
        (422, &json!("when.cron")),
        "{bad}"
    );
    let (status, _) = send(
        &a,
        "PUT",
        "/v1/schedules/nope",
        Some(json!({"when": {"every_ms": 1000}, "job": {"kind": "echo"}})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = send(
        &a,
        "PUT",
        "/v1/schedules/tick",
        Some(json!({"id": "other", "when": {"every_ms": 1000}, "job": {"kind": "echo"}})),
    )
    .await;
    assert_eq!(status, 422);
    let list = a.get_json("/v1/schedules").await;
    let ids: Vec<&str> = list["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    let mut want = vec!["tick", gen_id.as_str()];
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(send(&a, "GET", "/v1/schedules/nope", None).await.0, 404);
    assert_eq!(send(&a, "DELETE", "/v1/schedules/tick", None).await.0, 204);
    assert_eq!(send(&a, "DELETE", "/v1/schedules/tick", None).await.0, 404);
    assert_eq!(send(&a, "GET", "/v1/schedules/tick", None).await.0, 404);

    // A removed schedule submits nothing more.
    let before = jobs_of(&a, "tick").await.len();
    let until = now_ms() + 2_500;
    wait_until("2.5 s to pass", Duration::from_secs(5), || now_ms() > until);
    assert_eq!(jobs_of(&a, "tick").await.len(), before);

    // The document describes both paths.
    let doc = a.get_json("/v1/openapi.json").await;
    for p in ["/v1/schedules", "/v1/schedules/{id}"] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing");
    }
}

#[tokio::test]
async fn issue13_schedules_secret_params_are_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(dir.path()));
    let community = "s3cret-community-1b9f";
    let (status, s) = send(
        &a,
        "POST",
        "/v1/schedules",
        Some(json!({"id": "poll", "when": {"cron": "0 0 1 1 *"},
                    "job": {"kind": "snmp.get", "params": {"target": "127.0.0.1:9", "version": "2c",
                            "community": community, "oids": ["1.3.6.1.2.1.1.3.0"]}}})),
    )
    .await;
    assert_eq!(status, 201, "{s}");
    let shown = [
        s.to_string(),
        a.get_json("/v1/schedules").await.to_string(),
        a.get_json("/v1/schedules/poll").await.to_string(),
    ];
    for text in shown {
        assert!(!text.contains(community), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }
}

#[tokio::test]
async fn issue13_schedules_missed_runs_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Agent::start(Options::new(dir.path()));
    let period = 5_000;
    for (id, missed) in [("once", "run_once"), ("skip", "skip")] {
        let (status, s) = send(
            &a,
            "POST",
            "/v1/schedules",
            Some(json!({"id": id, "when": {"every_ms": period}, "job": {"kind": "echo"}, "missed": missed})),
        )
        .await;
        assert_eq!(status, 201, "{s}");
    }
    let created = a.get_json("/v1/schedules/once").await["created_at"]
        .as_i64()
        .unwrap();
    let first_due = created + period;
    a.sigterm();
    assert!(a.wait_exit(Duration::from_secs(20)).success());
    assert!(
        now_ms() < first_due,
        "the agent must stop before the first due time"
    );
    // The first due time passes while the agent is stopped.
    wait_until(
        "the first due time to pass",
        Duration::from_secs(10),
        || now_ms() > first_due + 300,
    );
    let a = Agent::start(Options::new(dir.path()));
    let second_due = first_due + period;
    // `run_once`: one run at start, for the missed due time; tagged with it.
    wait_for(
        "the missed run of `once`",
        Duration::from_secs(5),
        || async { !jobs_of(&a, "once").await.is_empty() },
    )
    .await;
    let once = jobs_of(&a, "once").await;
    assert_eq!(once.len(), 1, "{once:?}");
    assert!(
        once[0]["created_at"].as_i64().unwrap() < second_due,
        "ran at start, not at the next due time: {once:?}"
    );
    // `skip`: nothing runs before the next due time (its job for that one may already be
    // recorded: runs are accepted up to 500 ms ahead, and start at the due time).
    assert!(now_ms() < second_due, "the restart took too long to tell");
    assert!(jobs_of(&a, "skip")
        .await
        .iter()
        .all(|j| j["started_at"].is_null()));
    // Both carry on at their due times after the restart.
    wait_for(
        "`skip` to run at its next due time",
        Duration::from_secs(10),
        || async {
            jobs_of(&a, "skip")
                .await
                .iter()
                .any(|j| j["state"] == "succeeded")
        },
    )
    .await;
    let skip = jobs_of(&a, "skip").await;
    assert!(
        skip[0]["started_at"].as_i64().unwrap() >= second_due,
        "{skip:?}"
    );
    wait_for(
        "`once` to run at its next due time",
        Duration::from_secs(5),
        || async { jobs_of(&a, "once").await.len() == 2 },
    )
    .await;
    // The handled due times are stored: a second restart right away misses nothing.
    let s = a.get_json("/v1/schedules/once").await;
    assert!(s["handled_through"].as_i64().unwrap() >= second_due, "{s}");
}

/// Whether any two jobs ran at the same time.
fn overlapping(jobs: &[Value]) -> bool {
    let spans: Vec<(i64, i64)> = jobs
        .iter()
        .filter_map(|j| Some((j["started_at"].as_i64()?, j["finished_at"].as_i64()?)))
        .collect();
    spans.windows(2).any(|w| w[1].0 < w[0].1)
}

#[tokio::test]
async fn issue13_schedules_overlap_control_with_a_slow_job() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(dir.path()));
    for overlap in ["skip", "queue_one", "allow"] {
        let (status, s) = send(
            &a,
            "POST",
            "/v1/schedules",
            Some(
                json!({"id": overlap, "when": {"every_ms": 1000}, "overlap": overlap,
                        "job": {"kind": "sleep", "params": {"ms": 2500}}}),
            ),
        )
        .await;
        assert_eq!(status, 201, "{s}");
    }
    // Long enough for three slow jobs of `skip` to finish.
    wait_for(
        "three finished jobs of `skip`",
        Duration::from_secs(20),
        || async {
            jobs_of(&a, "skip")
                .await
                .iter()
                .filter(|j| j["state"] == "succeeded")
                .count()
                >= 3
        },
    )
    .await;
    let skip = jobs_of(&a, "skip").await;
    let queue = jobs_of(&a, "queue_one").await;
    let allow = jobs_of(&a, "allow").await;
    assert!(!overlapping(&skip), "skip ran two at once: {skip:?}");
    assert!(!overlapping(&queue), "queue_one ran two at once: {queue:?}");
    assert!(overlapping(&allow), "allow never overlapped: {allow:?}");
    // `skip` waits for a due time after the slow job ends; `queue_one` starts the queued
    // run as soon as it ends.
    let gaps = |jobs: &[Value]| -> Vec<i64> {
        jobs.windows(2)
            .filter_map(|w| Some(w[1]["started_at"].as_i64()? - w[0]["finished_at"].as_i64()?))
            .collect()
    };
    let q = gaps(&queue);
    assert!(
        !q.is_empty() && q.iter().all(|g| (0..300).contains(g)),
        "queue_one gaps {q:?}"
    );
    let s = gaps(&skip);
    assert!(
        !s.is_empty() && s.iter().all(|g| *g >= 300),
        "skip gaps {s:?}"
    );
    assert!(
        allow.len() > skip.len(),
        "allow {} skip {}",
        allow.len(),
        skip.len()
    );
}

#[tokio::test]
async fn issue13_schedules_crud_through_the_uplink_job_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(dir.path()));
    let run = |body: Value| {
        let a = &a;
        async move {
            let (status, job) = a.submit(body, Some(10.0)).await;
            (status, job)
        }
    };
    let community = "uplink-secret-77";
    let (status, job) = run(json!({"kind": "schedule.add", "params": {
        "id": "from-uplink", "when": {"cron": "0 0 1 1 *"},
        "job": {"kind": "snmp.get", "params": {"target": "127.0.0.1:9", "version": "2c",
                "community": community, "oids": ["1.3.6.1.2.1.1.3.0"]}}}}))
    .await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["output"]["id"], "from-uplink");
    // Submitted through the API here; an uplink's jobs say `uplink:NAME`.
    assert_eq!(job["output"]["source"], "api");
    // The job's own record keeps no credential: params are redacted by the inner kind.
    assert!(!job.to_string().contains(community), "{job}");
    assert_eq!(job["params"]["job"]["params"]["community"], "[redacted]");

    // A bad schedule is refused at submission, naming the field under `params`.
    let (status, err) = run(json!({"kind": "schedule.add", "params": {
        "when": {"cron": "99 * * * *"}, "job": {"kind": "echo"}}}))
    .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["field"], "params.when.cron");
    let (status, err) = run(json!({"kind": "schedule.update", "params": {
        "when": {"every_ms": 1000}, "job": {"kind": "echo"}}}))
    .await;
    assert_eq!(
        (status, &err["error"]["field"]),
        (422, &json!("params.id")),
        "{err}"
    );
    // A bad inner job is refused when the job runs: the job fails, naming the field.
    let (_, job) = run(json!({"kind": "schedule.add", "params": {
        "when": {"every_ms": 1000}, "job": {"kind": "nope"}}}))
    .await;
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "invalid_field");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("job.kind"),
        "{job}"
    );

    let (_, job) = run(json!({"kind": "schedule.update", "params": {
        "id": "from-uplink", "when": {"every_ms": 60000}, "job": {"kind": "echo"}}}))
    .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["output"]["when"], json!({"every_ms": 60000}));
    let (_, job) = run(json!({"kind": "schedule.list"})).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let listed = job["output"]["schedules"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], "from-uplink");
    let (_, job) = run(json!({"kind": "schedule.remove", "params": {"id": "from-uplink"}})).await;
    assert_eq!(job["output"], json!({"id": "from-uplink", "removed": true}));
    let (_, job) = run(json!({"kind": "schedule.remove", "params": {"id": "from-uplink"}})).await;
    assert_eq!(
        job["output"],
        json!({"id": "from-uplink", "removed": false})
    );
    assert_eq!(a.get_json("/v1/schedules").await["schedules"], json!([]));
}

/// `outpost schedules ...` against the agent, reading its token from the data directory.
fn cli(a: &Agent, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(common::BIN)
        .arg("schedules")
        .args(["--api", &a.url, "--data-dir"])
        .arg(&a.data_dir)
        .args(args)
        .env_remove("OUTPOST_TOKEN")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn issue13_schedules_cli_lists_adds_and_removes_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(dir.path()));
    let (code, out, err) = cli(
        &a,
        &[
            "add",
            "--id",
            "cli-1",
            "--cron",
            "*/5 * * * *",
            "--tz",
            "Europe/Oslo",
            "--kind",
            "echo",
            "--params",
            r#"{"x":1}"#,
            "--overlap",
            "queue_one",
            "--label",
            "site=north",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.trim(), "added cli-1");
    let s = a.get_json("/v1/schedules/cli-1").await;
    assert_eq!(
        s["when"],
        json!({"cron": "*/5 * * * *", "tz": "Europe/Oslo"})
    );
    assert_eq!(s["overlap"], "queue_one");
    assert_eq!(s["labels"], json!({"site": "north"}));
    let (code, out, err) = cli(
        &a,
        &[
            "--json",
            "add",
            "--spec",
            r#"{"id":"cli-2","when":{"every_ms":60000},"job":{"kind":"echo"}}"#,
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["id"], "cli-2");

    let (code, out, _) = cli(&a, &["list"]);
    assert_eq!(code, 0);
    assert!(out.lines().next().unwrap().starts_with("ID"), "{out}");
    assert!(
        out.contains("cli-1") && out.contains("*/5 * * * * (Europe/Oslo)"),
        "{out}"
    );
    assert!(out.contains("every 60000 ms"), "{out}");
    let (code, out, _) = cli(&a, &["--json", "list"]);
    assert_eq!(code, 0);
    let ids: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids, ["cli-1", "cli-2"]);

    // Bad input exits 2 with the field named: the agent's refusal, or the CLI's own.
    let (code, _, err) = cli(&a, &["add", "--cron", "61 * * * *", "--kind", "echo"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("when.cron"), "{err}");
    let (code, _, err) = cli(
        &a,
        &[
            "add",
            "--every-ms",
            "1000",
            "--kind",
            "echo",
            "--params",
            "{",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--params"), "{err}");
    let (code, _, err) = cli(&a, &["add", "--every-ms", "1000"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--kind"), "{err}");
    let (code, _, err) = cli(
        &a,
        &[
            "add",
            "--id",
            "cli-1",
            "--every-ms",
            "1000",
            "--kind",
            "echo",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already exists"), "{err}");
    let (code, _, err) = cli(
        &a,
        &[
            "add",
            "--every-ms",
            "1000",
            "--kind",
            "echo",
            "--label",
            "x",
        ],
    );
    assert_eq!(code, 2, "{err}");

    let (code, out, _) = cli(&a, &["rm", "cli-1"]);
    assert_eq!((code, out.trim()), (0, "removed cli-1"));
    let (code, _, err) = cli(&a, &["rm", "cli-1"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no schedule"), "{err}");
    // Without a token anywhere: a usage error, before any request.
    let out = std::process::Command::new(common::BIN)
        .args([
            "schedules",
            "--api",
            &a.url,
            "--data-dir",
            "/nonexistent",
            "list",
        ])
        .env_remove("OUTPOST_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Over a real MQTT uplink: schedule CRUD as jobs in the envelope, and the scheduled jobs'
/// results delivered through the outbox like any other, tagged with the schedule's id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue13_schedules_crud_and_tagged_results_over_an_mqtt_uplink() {
    use common::{mosquitto::Broker, mqtt_peer::Peer};
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(dir.path()).mqtt_uplink(&broker.url(), "sch-1"));
    let peer = Peer::connect(broker.port, "cp-sch", &["outpost/sch-1/results"]).await;
    a.wait_connected("mqtt").await;
    let jobs = "outpost/sch-1/jobs";
    let result_of = |id: String| {
        let peer = &peer;
        async move {
            wait_for("the job's result", Duration::from_secs(20), || async {
                peer.results().iter().any(|(i, _, _)| *i == id)
            })
            .await;
            peer.results()
                .into_iter()
                .find(|(i, _, _)| *i == id)
                .unwrap()
                .2
        }
    };
    let add = peer
        .job(
            jobs,
            "schedule.add",
            json!({"id": "over-mqtt", "when": {"every_ms": 1000}, "job": {"kind": "echo", "params": {"via": "mqtt"}}}),
        )
        .await;
    let r = result_of(add).await;
    assert_eq!(r["state"], "succeeded", "{r}");
    assert_eq!(r["output"]["source"], "uplink:mqtt", "{r}");
    assert_eq!(
        r["schedule"],
        Value::Null,
        "the add itself is no scheduled job"
    );
    // The schedule's own jobs come back through the uplink, tagged.
    wait_for(
        "a scheduled result over MQTT",
        Duration::from_secs(20),
        || async {
            peer.results()
                .iter()
                .any(|(_, _, r)| r["schedule"] == "over-mqtt")
        },
    )
    .await;
    let (_, _, tagged) = peer
        .results()
        .into_iter()
        .find(|(_, _, r)| r["schedule"] == "over-mqtt")
        .unwrap();
    assert_eq!(tagged["source"], "schedule", "{tagged}");
    assert_eq!(tagged["output"], json!({"via": "mqtt"}), "{tagged}");
    let list = result_of(peer.job(jobs, "schedule.list", json!({})).await).await;
    assert_eq!(list["output"]["schedules"][0]["id"], "over-mqtt", "{list}");
    let rm = result_of(
        peer.job(jobs, "schedule.remove", json!({"id": "over-mqtt"}))
            .await,
    )
    .await;
    assert_eq!(rm["output"]["removed"], true, "{rm}");
    assert_eq!(a.get_json("/v1/schedules").await["schedules"], json!([]));
}

/// The timer hands a due time to the schedules ahead of it (so 10,000 runs are accepted
/// and recorded before their minute), but no run may start early: every job is recorded
/// before its due time and started at or after it.
#[tokio::test(flavor = "multi_thread")]
async fn issue13_schedules_runs_accepted_ahead_never_start_before_their_due_time() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(dir.path()));
    for i in 0..20 {
        let (status, s) = send(
            &a,
            "POST",
            "/v1/schedules",
            Some(
                json!({"id": format!("tick{i:02}"), "when": {"cron": "* * * * * *"},
                        "job": {"kind": "echo", "params": {"i": i}}}),
            ),
        )
        .await;
        assert_eq!(status, 201, "{s}");
    }
    let ticks = || async {
        let all = a.get_json("/v1/jobs?limit=1000").await;
        all["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| {
                j["schedule"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("tick"))
            })
            .filter(|j| j["state"] == "succeeded")
            .cloned()
            .collect::<Vec<Value>>()
    };
    wait_for("100 finished runs", Duration::from_secs(20), || async {
        ticks().await.len() >= 100
    })
    .await;
    let jobs = ticks().await;
    let mut ahead = 0;
    for j in &jobs {
        let created = j["created_at"].as_i64().unwrap();
        let started = j["started_at"].as_i64().unwrap();
        // Started in its due second: one started early would sit in the previous second's
        // last half (the lead is 500 ms). Late by up to half a second tolerates a
        // loaded test machine.
        assert!(
            started % 1000 < 500,
            "a run started {} ms into its second: {j}",
            started % 1000
        );
        assert!(started >= created, "started before it was recorded: {j}");
        if created < started - started % 1000 {
            ahead += 1;
        }
    }
    // Recorded ahead of the due time (schedules added within a due time's lead are the
    // exception, so most, not all).
    assert!(
        ahead * 10 >= jobs.len() * 8,
        "only {ahead} of {} runs were recorded ahead of their due time",
        jobs.len()
    );
}
