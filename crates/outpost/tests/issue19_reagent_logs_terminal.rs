//! Issue 19, part 3: the log procedures and topics, the container terminals and
//! `update_agent`, through `outpost run --reagent-config` against a real Crossbar router,
//! the autobahn backend playing IronFlock (`peers/reagent_backend.py`, which also
//! subscribes and publishes like the platform's frontend) and a real dockerd of the test's
//! own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::dockerd::Dockerd;
use common::{wait_until, Agent};
use outpost_test_support::agent::metric;
use outpost_test_support::crossbar::{Backend, Crossbar};
use outpost_test_support::reagent::{self, canceled, principals, Reply, DENIED};
use serde_json::{json, Value};

const SERIAL: &str = "SER3";

fn flock(dir: &Path, url: &str) -> PathBuf {
    reagent::flock(dir, url, SERIAL, json!({"name": "edge-3"}))
}

fn uri(name: &str) -> String {
    reagent::uri(SERIAL, name)
}

/// Calls `name` until the device has registered it, then returns the outcome.
fn call(b: &mut Backend, name: &str, args: Value) -> Reply {
    reagent::call_registered(b, SERIAL, name, args, json!({}), Duration::from_secs(60))
}

fn start(dir: &Path, router: &Crossbar, d: &Dockerd, toml: &str) -> Agent {
    let path = dir.join("outpost.toml");
    std::fs::write(&path, toml).unwrap();
    let f = flock(dir, &router.url());
    Agent::start(
        d.agent_options(&dir.join("data"))
            .arg("--config")
            .arg(path.to_str().unwrap())
            .arg("--reagent-config")
            .arg(f.to_str().unwrap()),
    )
}

fn metric_now(agent: &Agent, name: &str) -> f64 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    metric(&rt.block_on(agent.metrics()), name)
}

/// The text of every batch published on `topic` so far.
fn batches(b: &Backend, topic: &str) -> Vec<String> {
    b.events(topic)
        .into_iter()
        .filter_map(|a| a[0].as_str().map(str::to_owned))
        .collect()
}

const LOGS_TOML: &str = r#"
[exec]
enabled = true

[reagent]
device_log_file = "DEVICE_LOG"
"#;

#[test]
fn issue19_reagent_log_procedures_and_topics_only_while_subscribed() {
    let dir = tempfile::tempdir().unwrap();
    let d = Dockerd::start();
    // 60 lines of history, then a line every 50 ms.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "prod_1_logger",
        "--network",
        "none",
        d.busybox(),
        "sh",
        "-c",
        "i=0; while [ $i -lt 60 ]; do echo hist$i; i=$((i+1)); done; \
         i=0; while true; do echo live$i; i=$((i+1)); sleep 0.05; done",
    ]);
    let device_log = dir.path().join("agent.log");
    std::fs::write(
        &device_log,
        "2026-01-01T00:00:00Z  INFO outpost: started\n2026-01-01T00:00:01Z  WARN outpost: low disk\n",
    )
    .unwrap();
    let router = Crossbar::start(&principals());
    let mut backend = Backend::start(&router, &principals()[1], &[DENIED]);
    let toml = LOGS_TOML.replace("DEVICE_LOG", device_log.to_str().unwrap());
    let agent = start(dir.path(), &router, &d, &toml);
    let name = json!([{"containerName": "prod_1_logger"}]);

    // get_app_log_history [READ]: the last 50 lines.
    wait_until("the history to be written", Duration::from_secs(30), || {
        d.docker(&["logs", "prod_1_logger"]).contains("hist59")
    });
    let (a, _) = call(&mut backend, "get_app_log_history", name.clone()).unwrap();
    let lines = a[0].as_array().unwrap();
    assert_eq!(lines.len(), 50, "{a}");
    assert!(lines.iter().all(|l| l.is_string()));

    // query_app_logs [READ]: tail and offset, Reagent's reply shape.
    let (a, _) = call(
        &mut backend,
        "query_app_logs",
        json!([{"containerName": "prod_1_logger", "tail": 3, "offset": 1, "since": "1h"}]),
    )
    .unwrap();
    let r = &a[0];
    assert_eq!(r["returned"], 3, "{r}");
    assert_eq!(r["source"], "docker");
    assert_eq!(r["truncated"], true);
    assert!(r["device_time"].as_str().unwrap().ends_with('Z'));
    let (a, _) = call(
        &mut backend,
        "query_app_logs",
        json!([{"containerName": "prod_1_logger", "tail": 2, "timestamps": true}]),
    )
    .unwrap();
    let first = a[0]["lines"][0].as_str().unwrap();
    assert!(
        first.starts_with("20") && first.contains(" live"),
        "{first}"
    );
    for bad in [
        json!([]),
        json!([{"containerName": ""}]),
        json!([{"containerName": "prod_1_logger", "since": "whenever"}]),
        json!([{"containerName": "prod_1_logger", "tail": "ten"}]),
        json!(["prod_1_logger"]),
    ] {
        let e = canceled(call(&mut backend, "query_app_logs", bad.clone()));
        assert!(!e.is_empty(), "{bad}");
    }
    let e = canceled(call(
        &mut backend,
        "get_app_log_history",
        json!([{"containerName": "no_such_container"}]),
    ));
    assert!(e.contains("not_found") || e.contains("No such"), "{e}");
    // An account without READ is refused.
    let e = canceled(call(
        &mut backend,
        "get_app_log_history",
        json!([{"containerName": "prod_1_logger", "requestor_account_key": DENIED}]),
    ));
    assert!(e.contains("lacks the READ privilege"), "{e}");

    // query_device_logs [READ]: the agent's own log file.
    let (a, _) = call(
        &mut backend,
        "query_device_logs",
        json!([{"level": "warn"}]),
    )
    .unwrap();
    assert_eq!(
        a[0]["lines"],
        json!(["2026-01-01T00:00:01Z  WARN outpost: low disk"])
    );
    assert_eq!(a[0]["files_scanned"], 1);
    let (a, _) = call(&mut backend, "query_device_logs", json!([])).unwrap();
    assert_eq!(a[0]["returned"], 2);
    canceled(call(
        &mut backend,
        "query_device_logs",
        json!([{"level": "loud"}]),
    ));

    // Nobody subscribed: nothing followed.
    let topic = format!("reswarm.logs.{SERIAL}.prod_1_logger");
    assert_eq!(metric_now(&agent, "outpost_reagent_log_streams"), 0.0);
    assert!(batches(&backend, &topic).is_empty());

    // A subscriber: batches of new lines, several lines each (20 lines a second, one
    // batch every 200 ms).
    backend.pubsub(json!({"subscribe": topic}));
    wait_until(
        "batched log lines on the topic",
        Duration::from_secs(30),
        || batches(&backend, &topic).len() >= 5,
    );
    let got = batches(&backend, &topic);
    let lines: usize = got.iter().map(|b| b.lines().count()).sum();
    assert!(
        lines > got.len(),
        "lines are batched: {lines} lines in {} publications: {got:?}",
        got.len()
    );
    assert!(
        got.iter().all(|b| b.lines().all(|l| l.starts_with("live"))),
        "{got:?}"
    );
    assert_eq!(metric_now(&agent, "outpost_reagent_log_streams"), 1.0);
    assert!(metric_now(&agent, "outpost_reagent_log_lines_published_total") >= lines as f64);

    // The last subscriber leaves: the follow stops and nothing more is published.
    backend.pubsub(json!({"unsubscribe": topic}));
    wait_until("the log follow to stop", Duration::from_secs(30), || {
        metric_now(&agent, "outpost_reagent_log_streams") == 0.0
    });
    let published = metric_now(&agent, "outpost_reagent_log_lines_published_total");
    // A round trip through the session later, still nothing.
    call(&mut backend, "get_app_log_history", name.clone()).unwrap();
    call(&mut backend, "get_app_log_history", name).unwrap();
    assert_eq!(
        metric_now(&agent, "outpost_reagent_log_lines_published_total"),
        published
    );
    assert!(agent.log_text().contains("log topic unsubscribed"));

    // Subscribed again: followed again.
    backend.pubsub(json!({"subscribe": topic}));
    wait_until("the follow to start again", Duration::from_secs(30), || {
        metric_now(&agent, "outpost_reagent_log_lines_published_total") > published
    });

    // An agent started while the topic is subscribed already (no on_create for it) finds
    // it with wamp.subscription.match and follows it.
    drop(agent);
    let agent = start(dir.path(), &router, &d, &toml);
    wait_until(
        "the new agent to follow the subscribed topic",
        Duration::from_secs(60),
        || {
            metric_now(&agent, "outpost_reagent_log_streams") == 1.0
                && metric_now(&agent, "outpost_reagent_log_lines_published_total") > 0.0
        },
    );
}

const TERMINAL_TOML: &str = r#"
[exec]
enabled = true

[commands.shell]
argv = ["/bin/sh"]
in_containers = true

[reagent]
terminal_command = "shell"
"#;

/// The output published on `topic`, as text, up to now.
fn terminal_output(b: &Backend, topic: &str) -> String {
    b.events(topic)
        .iter()
        .map(|a| match &a[0] {
            Value::Object(o) => o["bytes"].as_str().unwrap_or_default().to_owned(),
            Value::String(s) => format!("<{s}>"),
            other => format!("<{other}>"),
        })
        .collect()
}

#[test]
fn issue19_reagent_terminal_write_read_resize_stop() {
    let dir = tempfile::tempdir().unwrap();
    let d = Dockerd::start();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "prod_1_term",
        "--network",
        "none",
        d.busybox(),
        "sleep",
        "600",
    ]);
    let router = Crossbar::start(&principals());
    let mut backend = Backend::start(&router, &principals()[1], &[DENIED]);
    let agent = start(dir.path(), &router, &d, TERMINAL_TOML);

    // request_terminal_session [DEVELOP]: the topics, nothing runs yet.
    let (a, _) = call(
        &mut backend,
        "request_terminal_session",
        json!([{"containerName": "prod_1_term"}]),
    )
    .unwrap();
    let t = a[0].clone();
    let id = t["sessionID"].as_str().unwrap().to_owned();
    let data = t["dataTopic"].as_str().unwrap().to_owned();
    let write = t["writeTopic"].as_str().unwrap().to_owned();
    let resize = t["resizeTopic"].as_str().unwrap().to_owned();
    assert_eq!(data, format!("re.mgmt.{SERIAL}.term_data.prod_1_term.{id}"));
    assert_eq!(
        write,
        format!("re.mgmt.{SERIAL}.term_write.prod_1_term.{id}")
    );
    assert_eq!(
        resize,
        format!("re.mgmt.{SERIAL}.term_resize.prod_1_term.{id}")
    );

    // start_terminal_session: answered once the shell runs and input is subscribed.
    backend.pubsub(json!({"subscribe": data}));
    backend
        .call(
            &uri("start_terminal_session"),
            json!([{"sessionID": id}]),
            json!({}),
        )
        .unwrap();
    // Write a command, read its output (the quotes keep the echoed input apart).
    backend.pubsub(json!({"publish": write, "args": ["echo hel''lo-term\n"]}));
    wait_until("the command's output", Duration::from_secs(30), || {
        terminal_output(&backend, &data).contains("hello-term")
    });
    // Resize, and the shell sees the new size.
    let (a, _) = backend
        .call(&resize, json!([{"height": 33, "width": 101}]), json!({}))
        .unwrap();
    assert_eq!(a, json!([]));
    backend.pubsub(json!({"publish": write, "args": ["stty size\n"]}));
    wait_until("the new size", Duration::from_secs(30), || {
        terminal_output(&backend, &data).contains("33 101")
    });
    let e = backend
        .call(&resize, json!([{"height": 0}]), json!({}))
        .unwrap_err();
    assert_eq!(e.0, "wamp.error.canceled");

    // Stop: the last output is TERMINAL_EOF, the resize procedure goes.
    backend
        .call(
            &uri("stop_terminal_session"),
            json!([{"sessionID": id}]),
            json!({}),
        )
        .unwrap();
    wait_until("TERMINAL_EOF", Duration::from_secs(30), || {
        terminal_output(&backend, &data).ends_with("<TERMINAL_EOF>")
    });
    wait_until(
        "the resize procedure to go",
        Duration::from_secs(30),
        || {
            matches!(backend.call(&resize, json!([{"height": 1, "width": 1}]), json!({})),
            Err((u, ..)) if u == "wamp.error.no_such_procedure")
        },
    );
    // Audited: the decision and the outcome, naming the container.
    let audit: Vec<Value> = std::fs::read_to_string(dir.path().join("data/audit.log"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &Value| v["who"] == "reagent:terminal")
        .collect();
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert_eq!(audit[0]["container"], "prod_1_term");

    // A second start of the same session, an unknown one, a missing container.
    canceled(call(
        &mut backend,
        "start_terminal_session",
        json!([{"sessionID": id}]),
    ));
    canceled(call(&mut backend, "start_terminal_session", json!([])));
    let (a, _) = call(
        &mut backend,
        "request_terminal_session",
        json!([{"containerName": "prod_1_gone"}]),
    )
    .unwrap();
    let e = canceled(call(
        &mut backend,
        "start_terminal_session",
        json!([{"sessionID": a[0]["sessionID"]}]),
    ));
    assert!(e.contains("did not start"), "{e}");
    canceled(call(
        &mut backend,
        "request_terminal_session",
        json!([{"containerName": "a;b"}]),
    ));
    // DEVELOP is needed.
    let e = canceled(call(
        &mut backend,
        "request_terminal_session",
        json!([{"containerName": "prod_1_term", "requestor_account_key": DENIED}]),
    ));
    assert!(e.contains("lacks the DEVELOP privilege"), "{e}");
    // The host root shell is not registered (reagent.allow_host_terminal is false).
    let e = backend
        .call(&uri("init_device_terminal"), json!([]), json!({}))
        .unwrap_err();
    assert_eq!(e.0, "wamp.error.no_such_procedure");

    // update_agent [MAINTAIN]: the signed updater; without a signed release, refused.
    let e = canceled(call(&mut backend, "update_agent", json!([])));
    assert!(!e.is_empty());
    let e = canceled(call(
        &mut backend,
        "update_agent",
        json!([{"requestor_account_key": DENIED}]),
    ));
    assert!(e.contains("lacks the MAINTAIN privilege"), "{e}");
    assert!(agent.log_text().contains("terminal session over (stopped)"));
}
