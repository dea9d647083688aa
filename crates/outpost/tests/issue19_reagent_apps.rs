//! Issue 19, Reagent's apps: `request_app_state` and `get_requested_app_states` through
//! `outpost run --reagent-config` against a real Crossbar router, the autobahn backend
//! playing IronFlock (`peers/reagent_backend.py`) and a real dockerd of the test's own. An
//! app goes REMOVED → PRESENT → STARTING → RUNNING, is stopped (STOPPING → PRESENT),
//! crashes into the reconciler's backoff (FAILED, RUNNING again at each restart), is
//! removed (DELETING → REMOVED), each state reaching `update_app_on_device` in order (and
//! late, not lost, while the backend refuses them); a container laid out the way Reagent
//! names and labels it is adopted (the same container, before and after, and after a
//! restart of the agent), the request coming from the backend's `get_requested_app_states`
//! at join; bad arguments and callers without the privilege are refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::dockerd::Dockerd;
use common::{wait_until, Agent};
use outpost_test_support::crossbar::{Backend, Crossbar};
use outpost_test_support::reagent::{self, canceled, principals, Reply, DENIED};
use serde_json::{json, Value};

const SERIAL: &str = "SER3";
const UPDATE: &str = "reswarm.containers.update_app_on_device";
/// Reagent's names for app 1 `app`, version 1.0.0, on an `amd64` `.flock`.
const CONTAINER: &str = "prod_1_app";
const IMAGE: &str = "prod_amd64_1_app:1.0.0";
const LONG: Duration = Duration::from_secs(90);

fn flock(dir: &Path, url: &str) -> PathBuf {
    reagent::flock(
        dir,
        url,
        SERIAL,
        json!({"name": "edge-3", "architecture": "amd64",
               "docker_registry_url": "", "docker_main_repository": ""}),
    )
}

/// Calls `name` until the device has registered it, then returns the outcome.
fn call(b: &mut Backend, name: &str, args: Value, kwargs: Value) -> Reply {
    reagent::call_registered(b, SERIAL, name, args, kwargs, Duration::from_secs(60))
}

fn start(dir: &Path, router: &Crossbar, d: &Dockerd) -> Agent {
    let f = flock(dir, &router.url());
    Agent::start(
        d.agent_options(&dir.join("data"))
            // Fast restarts (Reagent's 5 s × n² scaled down): 0.2, 0.8, 1.8 s...
            .env("OUTPOST_REAGENT_APP_BACKOFF_MS", "200")
            .arg("--reagent-config")
            .arg(f.to_str().unwrap()),
    )
}

/// The app's image as Reagent would have pulled it: busybox with a command that stops at
/// once on SIGTERM, and exits 3 when `CRASH=1`.
fn app_image(d: &Dockerd) {
    let base = d.busybox();
    d.docker(&["create", "--name", "imgsrc", base, "sh"]);
    d.docker(&[
        "commit",
        "--change",
        r#"CMD ["sh", "-c", "trap 'exit 0' TERM; if [ \"$CRASH\" = 1 ]; then exit 3; fi; while true; do sleep 1; done"]"#,
        "imgsrc",
        IMAGE,
    ]);
    d.docker(&["rm", "imgsrc"]);
}

/// `request_app_state` as the backend sends it (kwargs), answered ∅.
fn request(b: &mut Backend, target: &str, crash: bool) {
    let kw = json!({
        "app_key": 1, "app_name": "app", "stage": "PROD", "target_state": target,
        "version": "1.0.0", "release_key": 9,
        "environment": {"CRASH": {"value": if crash { "1" } else { "0" }}},
    });
    let (a, k) = call(b, "request_app_state", json!([]), kw).unwrap();
    assert_eq!((a, k), (json!([]), json!({})));
}

/// The states `update_app_on_device` received for app 1, repeats of a refused call folded.
fn states(b: &Backend) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in b.calls_to(UPDATE) {
        let p = &a[0];
        assert_eq!(p["device_key"], 42, "{p}");
        assert_eq!(p["swarm_key"], 7, "{p}");
        assert_eq!(p["stage"], "PROD", "{p}");
        if p["app_key"] != 1 {
            continue;
        }
        let s = p["state"].as_str().unwrap().to_owned();
        if out.last() != Some(&s) {
            out.push(s);
        }
    }
    out
}

fn wait_states(b: &Backend, what: &str, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
    wait_until(what, LONG, || pred(&states(b)));
    states(b)
}

/// `(id, state)` of the container named `name`.
fn find(d: &Dockerd, name: &str) -> Option<(String, String)> {
    d.docker(&[
        "ps",
        "-a",
        "--no-trunc",
        "--format",
        "{{.Names}} {{.ID}} {{.State}}",
    ])
    .lines()
    .find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next()? == name).then(|| Some((w.next()?.to_owned(), w.next()?.to_owned())))?
    })
}

/// Whether a job of `kind` has succeeded.
fn job_succeeded(agent: &Agent, kind: &str) -> bool {
    fn walk(v: &Value, kind: &str) -> bool {
        match v {
            Value::Object(o) => {
                (o.get("kind").and_then(Value::as_str) == Some(kind)
                    && o.get("state").and_then(Value::as_str) == Some("succeeded"))
                    || o.values().any(|v| walk(v, kind))
            }
            Value::Array(a) => a.iter().any(|v| walk(v, kind)),
            _ => false,
        }
    }
    let jobs = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(agent.get_json("/v1/jobs?limit=200"));
    walk(&jobs, kind)
}

fn requested(b: &mut Backend) -> Vec<Value> {
    let (a, _) = call(b, "get_requested_app_states", json!([]), json!({})).unwrap();
    a[0].as_array().unwrap().clone()
}

#[test]
fn issue19_reagent_app_runs_stops_crashes_and_is_removed_with_states_in_order() {
    let d = Dockerd::start();
    app_image(&d);
    let dir = tempfile::tempdir().unwrap();
    let router = Crossbar::start(&principals());
    let mut backend = Backend::start(&router, &principals()[1], &[DENIED]);
    let agent = start(dir.path(), &router, &d);

    // RUNNING: new to the device (REMOVED), its image is here (PRESENT), started, running.
    request(&mut backend, "RUNNING", false);
    let s = wait_states(&backend, "RUNNING reported", |s| {
        s.last().map(String::as_str) == Some("RUNNING")
    });
    assert_eq!(s, ["REMOVED", "PRESENT", "STARTING", "RUNNING"]);
    let (id, state) = find(&d, CONTAINER).expect("Reagent's container name");
    assert_eq!(state, "running");
    let labels = d.docker(&["inspect", "-f", "{{json .Config.Labels}}", &id]);
    let labels: Value = serde_json::from_str(&labels).unwrap();
    assert_eq!(labels["real"], "True", "{labels}");
    assert_eq!(labels["outpost.app"], CONTAINER, "{labels}");
    let env = d.docker(&["inspect", "-f", "{{json .Config.Env}}", &id]);
    for v in [
        "APP_KEY=1",
        "APP_NAME=app",
        "ENV=PROD",
        "DEVICE_KEY=42",
        "SWARM_KEY=7",
        "DEVICE_SERIAL_NUMBER=SER3",
        "CRASH=0",
    ] {
        assert!(env.contains(v), "{v} in {env}");
    }
    let r = requested(&mut backend);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0]["app_key"], 1);
    assert_eq!(r[0]["target_state"], "RUNNING");
    assert_eq!(r[0]["current_state"], "RUNNING");
    // The reports carry what the backend needs to match them.
    let last = backend.calls_to(UPDATE).last().unwrap()[0].clone();
    assert_eq!(last["serial_number"], SERIAL, "{last}");
    assert_eq!(last["release_key"], 9, "{last}");

    // Stopped while the backend refuses the reports: they arrive late, in order, not lost.
    backend.fail_app_updates(true);
    let refused_before = backend.calls_to(UPDATE).len();
    request(&mut backend, "PRESENT", false);
    wait_until("a refused update_app_on_device", LONG, || {
        backend.calls_to(UPDATE).len() > refused_before
    });
    backend.fail_app_updates(false);
    let s = wait_states(&backend, "PRESENT after STOPPING", |s| {
        s.ends_with(&["STOPPING".into(), "PRESENT".into()])
    });
    assert_eq!(s[4..], ["STOPPING", "PRESENT"], "{s:?}");
    assert!(find(&d, CONTAINER).is_none(), "Reagent's stop removes it");
    assert!(
        d.docker(&["images", "-q", IMAGE]).len() > 1,
        "the image stays"
    );

    // A crashing version: the reconciler restarts it with backoff; FAILED at each death,
    // RUNNING at each restart.
    request(&mut backend, "RUNNING", true);
    let s = wait_states(&backend, "FAILED, RUNNING again, FAILED again", |s| {
        let tail = &s[6..];
        tail.windows(3)
            .any(|w| w == ["FAILED", "RUNNING", "FAILED"].map(String::from))
    });
    assert_eq!(s[6], "STARTING", "{s:?}");
    // REMOVED: the container and the image go.
    request(&mut backend, "REMOVED", false);
    let s = wait_states(&backend, "REMOVED", |s| {
        s.last().map(String::as_str) == Some("REMOVED") && s.len() > 7
    });
    let n = s.len();
    assert_eq!(s[n - 3..], ["STOPPING", "DELETING", "REMOVED"], "{s:?}");
    assert!(find(&d, CONTAINER).is_none());
    assert_eq!(
        d.docker(&["images", "-q", IMAGE]),
        "",
        "the image is removed"
    );

    // Every step ran as a job of the request's.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let jobs = rt
        .block_on(agent.get_json("/v1/jobs?limit=500"))
        .to_string();
    for kind in ["app.apply", "app.remove", "image.remove", "container.list"] {
        assert!(jobs.contains(kind), "{kind}");
    }
    assert!(jobs.contains("reagent:request_app_state"));
}

#[test]
fn issue19_reagent_adopts_the_container_reagent_left_running() {
    let d = Dockerd::start();
    app_image(&d);
    // Laid out the way Reagent runs an app: its name, its label, its image.
    d.docker(&[
        "run",
        "-d",
        "--name",
        CONTAINER,
        "--label",
        "real=True",
        "--env",
        "CRASH=0",
        IMAGE,
    ]);
    let (before, _) = find(&d, CONTAINER).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let router = Crossbar::start(&principals());
    let mut backend = Backend::start(&router, &principals()[1], &[DENIED]);
    // What the platform wants of the device: Outpost asks when it joins, as Reagent did.
    backend.set_requested(json!([{
        "app_key": 1, "app_name": "app", "stage": "PROD", "current_state": "RUNNING",
        "target_state": "RUNNING", "manually_requested_state": "RUNNING",
        "present_version": "1.0.0", "newest_version": "1.0.0", "request_update": false,
        "environment": {"CRASH": {"value": "0"}}, "requestor_account_key": null,
    }]));
    let agent = start(dir.path(), &router, &d);

    let s = wait_states(&backend, "RUNNING", |s| !s.is_empty());
    let asked = backend.calls_to("reswarm.containers.get_requested_app_states");
    assert_eq!(asked[0], json!([{"device_key": 42}]));
    assert_eq!(s, ["RUNNING"], "found running, reported so");
    wait_until("the app declared (app.apply succeeded)", LONG, || {
        job_succeeded(&agent, "app.apply")
    });
    let (after, state) = find(&d, CONTAINER).unwrap();
    assert_eq!(
        (after.as_str(), state.as_str()),
        (before.as_str(), "running")
    );
    let all = d.docker(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(all.lines().count(), 1, "nothing recreated beside it: {all}");

    // The adopted container is watched: killed, it is restarted (the same container).
    d.docker(&["kill", CONTAINER]);
    let s = wait_states(&backend, "FAILED then RUNNING", |s| {
        s.ends_with(&["FAILED".into(), "RUNNING".into()])
    });
    assert_eq!(s[0], "RUNNING");
    wait_until("running again", LONG, || {
        find(&d, CONTAINER).is_some_and(|(id, st)| id == before && st == "running")
    });

    // The request is kept: after a restart of the agent it is still answered, and the
    // container is still the one Reagent made.
    drop(agent);
    let _agent = start(dir.path(), &router, &d);
    let r = requested(&mut backend);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0]["target_state"], "RUNNING");
    assert_eq!(r[0]["app_name"], "app");
    wait_until("still the same container, running", LONG, || {
        find(&d, CONTAINER).is_some_and(|(id, st)| id == before && st == "running")
    });
    let all = d.docker(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(all.lines().count(), 1, "{all}");
}

#[test]
fn issue19_reagent_app_procedures_refuse_bad_arguments_and_callers_without_the_privilege() {
    let d = Dockerd::start();
    let dir = tempfile::tempdir().unwrap();
    let router = Crossbar::start(&principals());
    let mut backend = Backend::start(&router, &principals()[1], &[DENIED]);
    let agent = start(dir.path(), &router, &d);
    let good = json!({"app_key": 1, "app_name": "app", "stage": "PROD",
        "target_state": "RUNNING", "version": "1.0.0"});
    let with = |k: &str, v: Value| {
        let mut g = good.clone();
        g[k] = v;
        g
    };
    for (args, kwargs, want) in [
        (json!([]), json!({}), "no arguments"),
        (json!(["x"]), json!({}), "one dict"),
        (json!([1, 2]), json!({}), "one dict"),
        (
            json!([]),
            with("app_key", json!(null)),
            "app_key is missing",
        ),
        (json!([]), with("app_key", json!("x")), "app_key"),
        (json!([]), with("app_name", json!("a/b")), "app_name"),
        (json!([]), with("stage", json!("DEV")), "DEV"),
        (
            json!([]),
            with("target_state", json!("BUILT")),
            "target_state",
        ),
        (json!([]), with("version", json!("")), "version"),
        (
            json!([]),
            with("environment", json!({"A;B": {"value": 1}})),
            "environment",
        ),
    ] {
        let e = canceled(call(
            &mut backend,
            "request_app_state",
            args,
            kwargs.clone(),
        ));
        assert!(e.contains("request_app_state"), "{kwargs}: {e}");
        assert!(e.contains(want), "{kwargs}: {e}");
    }
    for args in [json!(["x"]), json!([1, 2]), json!([[]])] {
        let e = canceled(call(
            &mut backend,
            "get_requested_app_states",
            args.clone(),
            json!({}),
        ));
        assert!(e.contains("get_requested_app_states"), "{args}: {e}");
    }
    // Nothing was kept, nothing reported.
    assert_eq!(requested(&mut backend), Vec::<Value>::new());
    assert!(backend.calls_to(UPDATE).is_empty());

    // Privileges: DEVELOP to request, READ to read, checked for the account named.
    let mut denied = good.clone();
    denied["requestor_account_key"] = json!(DENIED);
    let e = canceled(call(&mut backend, "request_app_state", json!([]), denied));
    assert!(e.contains("lacks the DEVELOP privilege"), "{e}");
    let e = canceled(call(
        &mut backend,
        "get_requested_app_states",
        json!([{"requestor_account_key": DENIED}]),
        json!({}),
    ));
    assert!(e.contains("lacks the READ privilege"), "{e}");
    let checks = backend.calls_to("reswarm.devices.check_privilege");
    for p in ["DEVELOP", "READ"] {
        assert!(
            checks
                .iter()
                .any(|c| c[0]["privilege"] == p && c[0]["requestor_account_key"] == DENIED),
            "{p}: {checks:?}"
        );
    }
    assert_eq!(requested(&mut backend), Vec::<Value>::new());
    // Reports given up are counted (none here).
    let m = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(agent.metrics());
    assert!(
        m.contains("outpost_reagent_app_reports_dropped_total 0"),
        "{m}"
    );
}
