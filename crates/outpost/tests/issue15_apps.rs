//! Issue 15 §3/§5: declared apps through `outpost run` against a real dockerd of the test's
//! own (`outpost_test_support::dockerd`): `app.apply` converges, a killed container comes
//! back, an edit recreates only the edited service, a removal takes only its app's
//! containers, a crash loop backs off and is reported, unmanaged look-alikes are never
//! touched, an agent killed mid-apply converges after its restart, and `containers.apps_dir`
//! loads good files and skips a bad one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::dockerd::Dockerd;
use common::{wait_for, wait_until, Agent, Options, Ws};
use futures_util::StreamExt;
use serde_json::{json, Value};

const LONG: Duration = Duration::from_secs(60);

fn agent_on(d: &Dockerd, data: &std::path::Path, extra: &[(&str, &str)]) -> Agent {
    let mut o = d.agent_options(data);
    for (k, v) in extra {
        o = o.env(k, v);
    }
    Agent::start(o)
}

async fn job(a: &Agent, kind: &str, params: Value) -> (u16, Value) {
    a.submit(
        json!({"kind": kind, "params": params, "timeout_ms": 60000}),
        Some(60.0),
    )
    .await
}

/// A service that stops promptly on SIGTERM (a bare `sleep` as PID 1 would ignore it and
/// wait out the stop's grace period).
fn service(name: &str, env: &str) -> String {
    format!(
        "  {name}:\n    image: busybox:local\n    restart: always\n    environment:\n      V: \"{env}\"\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1; done\"]\n"
    )
}

/// `(name, id, state)` of every container the engine has, running or not.
fn containers(d: &Dockerd) -> Vec<(String, String, String)> {
    d.docker(&[
        "ps",
        "-a",
        "--no-trunc",
        "--format",
        "{{.Names}} {{.ID}} {{.State}}",
    ])
    .lines()
    .filter_map(|l| {
        let mut w = l.split_whitespace();
        Some((w.next()?.into(), w.next()?.into(), w.next()?.into()))
    })
    .collect()
}

fn find(d: &Dockerd, name: &str) -> Option<(String, String)> {
    containers(d)
        .into_iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, id, st)| (id, st))
}

fn running_id(d: &Dockerd, name: &str) -> Option<String> {
    find(d, name)
        .filter(|(_, st)| st == "running")
        .map(|(id, _)| id)
}

/// The next outbox item of `kind` matching `pick`, within `deadline`; its arrival time.
async fn next_event(
    ws: &mut Ws,
    kind: &str,
    deadline: Duration,
    pick: impl Fn(&Value) -> bool,
) -> (Value, Instant) {
    let end = Instant::now() + deadline;
    loop {
        let msg = tokio::time::timeout(end.saturating_duration_since(Instant::now()), ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} event within {deadline:?}"))
            .unwrap()
            .unwrap();
        let Ok(text) = msg.into_text() else { continue };
        let row: Value = serde_json::from_str(&text).unwrap_or_default();
        let item = &row["item"];
        if item["kind"] == kind && pick(&item["payload"]) {
            return (item["payload"].clone(), Instant::now());
        }
    }
}

#[tokio::test]
async fn issue15_apps_heal_edit_remove_and_never_touch_unmanaged_look_alikes() {
    heal_edit_remove(&Dockerd::start()).await;
}

/// The same against Podman's Docker-compatible service.
#[tokio::test]
async fn issue15_apps_on_podman_heal_edit_remove_and_never_touch_unmanaged_look_alikes() {
    heal_edit_remove(&Dockerd::podman()).await;
}

async fn heal_edit_remove(d: &Dockerd) {
    let image = d.busybox();
    // Unmanaged look-alikes: a name like a managed one's, no labels (or the app label on a
    // name that is not the service's).
    d.docker(&[
        "run",
        "-d",
        "--name",
        "outpost-shop.web-old",
        image,
        "sleep",
        "1000",
    ]);
    d.docker(&["create", "--name", "outpost-web.app", image, "true"]);
    let before: Vec<_> = containers(d);
    let dir = tempfile::tempdir().unwrap();
    let a = agent_on(d, &dir.path().join("data"), &[]);
    let mut ws = a.events(0).await;

    // A bad Compose text: 422 naming params.compose and the line.
    let (st, body) = job(
        &a,
        "app.apply",
        json!({"name": "shop", "compose": "services:\n  web:\n    image: [unclosed\n"}),
    )
    .await;
    assert_eq!(st, 422, "{body}");
    let text = body.to_string();
    assert!(text.contains("params.compose"), "{text}");
    assert!(text.contains("line "), "{text}");

    let shop = format!("services:\n{}{}", service("web", "1"), service("db", "1"));
    let out = a
        .run_ok("app.apply", json!({"name": "shop", "compose": shop}))
        .await;
    assert_eq!(out["services"].as_array().unwrap().len(), 2, "{out}");
    let other = format!("services:\n{}", service("x", "1"));
    a.run_ok("app.apply", json!({"name": "other", "compose": other}))
        .await;
    let web = running_id(d, "outpost-shop.web").expect("web runs");
    let db = running_id(d, "outpost-shop.db").expect("db runs");
    let x = running_id(d, "outpost-other.x").expect("x runs");
    let listed = a.run_ok("app.list", json!({})).await;
    assert_eq!(listed[0]["name"], "other");
    assert_eq!(listed[1]["source"], "job");

    // Killed behind the agent's back: it comes back, and the death is an event.
    d.docker(&["kill", &web]);
    next_event(&mut ws, "container.die", LONG, |p| {
        p["app"] == "shop" && p["service"] == "web" && p["exit_code"] == 137
    })
    .await;
    wait_until("web running again", LONG, || {
        running_id(d, "outpost-shop.web").is_some()
    });
    let web = running_id(d, "outpost-shop.web").unwrap();
    let st = a.run_ok("app.status", json!({"name": "shop"})).await;
    let w = st
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "web")
        .unwrap();
    assert_eq!(w["restarts"], 1, "{st}");
    assert_eq!(w["actual"], "running", "{st}");

    // One service's environment edited: only it is recreated.
    let edited = format!("services:\n{}{}", service("web", "2"), service("db", "1"));
    a.run_ok("app.apply", json!({"name": "shop", "compose": edited}))
        .await;
    let web2 = running_id(d, "outpost-shop.web").unwrap();
    assert_ne!(web2, web, "the edited service is a new container");
    assert_eq!(running_id(d, "outpost-shop.db").as_deref(), Some(&*db));
    let env = d.docker(&["inspect", "-f", "{{json .Config.Env}}", &web2]);
    assert!(env.contains("V=2"), "{env}");

    // Removed: its containers go, the other app's stay.
    let out = a.run_ok("app.remove", json!({"name": "shop"})).await;
    assert_eq!(out["removed"], true);
    assert!(find(d, "outpost-shop.web").is_none());
    assert!(find(d, "outpost-shop.db").is_none());
    assert_eq!(running_id(d, "outpost-other.x").as_deref(), Some(&*x));
    let (st, j) = job(&a, "app.status", json!({"name": "shop"})).await;
    assert_eq!(st, 200);
    assert_eq!(j["error"]["code"], "not_found", "{j}");

    // The look-alikes are as they were.
    let now = containers(d);
    for look in ["outpost-shop.web-old", "outpost-web.app"] {
        let was = before.iter().find(|c| c.0 == look).unwrap();
        let is = now.iter().find(|c| c.0 == look).unwrap();
        assert_eq!(was, is, "{look} was touched");
    }
}

#[tokio::test]
async fn issue15_apps_crash_loop_backs_off_and_emits_app_crash_loop() {
    crash_loop(Dockerd::start()).await;
}

/// The same against Podman, whose `/events` replay (`since`) the reconciler relies on too.
#[tokio::test]
async fn issue15_apps_on_podman_crash_loop_backs_off_and_emits_app_crash_loop() {
    crash_loop(Dockerd::podman()).await;
}

/// A service that exits at once, restarted by the reconciler with a growing delay until
/// `app.crash_loop` is reported. Its first death can come before the reconciler's `/events`
/// subscription is in place (seen in CI with four engines on two cores): the replay from
/// the subscription's mark must still deliver it.
async fn crash_loop(d: Dockerd) {
    d.busybox();
    let dir = tempfile::tempdir().unwrap();
    let a = agent_on(
        &d,
        &dir.path().join("data"),
        &[("OUTPOST_CONTAINERS_RESTART_BACKOFF_MS", "200")],
    );
    let mut ws = a.events(0).await;
    let compose = "services:\n  bad:\n    image: busybox:local\n    restart: always\n    command: [\"sh\", \"-c\", \"exit 1\"]\n";
    let id = a
        .submit_accepted(json!({"kind": "app.apply", "params": {"name": "flaky", "compose": compose}, "timeout_ms": 60000}))
        .await;
    // The starts (with their arrival times) and the crash-loop report, in outbox order.
    let mut starts = Vec::new();
    let mut crash_loop = None;
    let end = Instant::now() + LONG;
    while starts.len() < 5 || crash_loop.is_none() {
        let msg = tokio::time::timeout(end.saturating_duration_since(Instant::now()), ws.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "5 starts and app.crash_loop; got {} starts, {crash_loop:?}",
                    starts.len()
                )
            })
            .unwrap()
            .unwrap();
        let Ok(text) = msg.into_text() else { continue };
        let row: Value = serde_json::from_str(&text).unwrap_or_default();
        let item = &row["item"];
        let p = &item["payload"];
        if item["kind"] == "container.start" && p["app"] == "flaky" {
            starts.push(Instant::now());
        } else if item["kind"] == "app.crash_loop" && p["app"] == "flaky" {
            crash_loop = Some(p.clone());
        }
    }
    let cl = crash_loop.unwrap();
    assert_eq!(cl["service"], "bad", "{cl}");
    assert!(cl["restarts"].as_u64().unwrap() >= 4, "{cl}");
    // Restarts spaced by a growing backoff: 200, 400, 800 ms after each death.
    let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    for (g, want) in gaps.iter().zip([200u64, 400, 800]) {
        assert!(*g >= Duration::from_millis(want * 9 / 10), "{gaps:?}");
    }
    // The delay grows: 1.2 s more between the fourth pair than the second. Each gap also
    // holds the engine's own latency (a die reported, a start done), which is nearly
    // nothing on Docker and about half a second on Podman, whose event feed is a file read
    // in 250 ms steps: compared gap to gap, that latency cancels, up to one step each.
    assert!(
        gaps[3] >= gaps[1] + Duration::from_millis(700),
        "the delay grows: {gaps:?}"
    );
    // The apply job ends: converged when it saw the first start running, else failed
    // naming the crash loop; never left waiting.
    wait_for("the apply job finished", LONG, || async {
        !matches!(
            a.job(&id).await["state"].as_str(),
            Some("running" | "queued")
        )
    })
    .await;
    let j = a.job(&id).await;
    assert!(
        j["state"] == "succeeded" || j["error"]["code"] == "crash_loop",
        "{j}"
    );
    let st = a.run_ok("app.status", json!({"name": "flaky"})).await;
    assert_eq!(st[0]["crash_loop"], true, "{st}");
    assert_eq!(st[0]["last_error"], "exited with code 1", "{st}");
}

#[tokio::test]
async fn issue15_apps_agent_killed_mid_apply_converges_after_restart_and_apps_dir_loads_with_the_job_winning_until_the_file_changes(
) {
    mid_apply(Dockerd::start()).await;
}

#[tokio::test]
async fn issue15_apps_on_podman_agent_killed_mid_apply_converges_after_restart() {
    mid_apply(Dockerd::podman()).await;
}

async fn mid_apply(d: Dockerd) {
    d.busybox();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut a = agent_on(&d, &data, &[]);
    // `c` waits for `b` to be healthy, which takes `b` about 3 s: the apply is caught with
    // `b` created and `c` not yet, truly in the middle.
    let slow_b = "  b:\n    image: busybox:local\n    restart: always\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 3; touch /tmp/ready; while true; do sleep 1; done\"]\n    healthcheck:\n      test: [\"CMD-SHELL\", \"test -f /tmp/ready\"]\n      interval: 500ms\n      retries: 20\n";
    let compose = format!(
        "services:\n{}{}{}    depends_on:\n      b:\n        condition: service_healthy\n",
        service("a", "1"),
        slow_b,
        service("c", "1")
    );
    a.submit_accepted(json!({"kind": "app.apply", "params": {"name": "mid", "compose": compose}, "timeout_ms": 60000}))
        .await;
    // Killed in the middle of the apply: `b` exists, `c` does not yet.
    wait_until("b created while c waits for it", LONG, || {
        find(&d, "outpost-mid.b").is_some()
    });
    assert!(
        find(&d, "outpost-mid.c").is_none(),
        "c was created before b was healthy"
    );
    a.kill9();
    let _ = a.wait_exit(Duration::from_secs(10));

    // Restarted with an apps_dir: one good file, one bad (skipped, logged with its line).
    let apps = dir.path().join("apps");
    std::fs::create_dir(&apps).unwrap();
    std::fs::write(
        apps.join("files.yml"),
        format!("services:\n{}", service("f", "1")),
    )
    .unwrap();
    std::fs::write(
        apps.join("broken.yaml"),
        "services:\n  s:\n    image: busybox:local\n    bogus_key: 1\n",
    )
    .unwrap();
    let a = agent_on(
        &d,
        &data,
        &[("OUTPOST_CONTAINERS_APPS_DIR", apps.to_str().unwrap())],
    );
    let mut checked = Instant::now();
    wait_until("every service of mid and files running", LONG, || {
        // `c` waits for `b` healthy; on Podman the test is its health checks' timer.
        if checked.elapsed() > Duration::from_millis(500) {
            d.run_health_check("outpost-mid.b");
            checked = Instant::now();
        }
        [
            "outpost-mid.a",
            "outpost-mid.b",
            "outpost-mid.c",
            "outpost-files.f",
        ]
        .iter()
        .all(|n| running_id(&d, n).is_some())
    });
    // One container per service: nothing left over from the interrupted apply.
    let managed = containers(&d);
    assert_eq!(managed.len(), 4, "{managed:?}");
    let listed = a.run_ok("app.list", json!({})).await;
    assert_eq!(listed[0]["name"], "files", "{listed}");
    assert_eq!(listed[0]["source"], "dir", "{listed}");
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    let log = a.log_text();
    assert!(
        log.contains("broken.yaml") && log.contains("line"),
        "the bad file is logged with its line:\n{log}"
    );

    // A job naming the file's app wins, across a restart, until the file changes.
    a.run_ok(
        "app.apply",
        json!({"name": "files", "compose": format!("services:\n{}", service("f", "job"))}),
    )
    .await;
    let env_of = |d: &Dockerd| {
        let id = running_id(d, "outpost-files.f").unwrap();
        d.docker(&["inspect", "-f", "{{json .Config.Env}}", &id])
    };
    assert!(env_of(&d).contains("V=job"));
    let restart = |mut a: Agent| {
        a.sigterm();
        assert!(
            a.wait_exit(Duration::from_secs(30)).success(),
            "a clean stop"
        );
        agent_on(
            &d,
            &data,
            &[("OUTPOST_CONTAINERS_APPS_DIR", apps.to_str().unwrap())],
        )
    };
    let a = restart(a);
    let listed = a.run_ok("app.list", json!({})).await;
    assert_eq!(listed[0]["source"], "job", "{listed}");
    assert!(env_of(&d).contains("V=job"));
    std::fs::write(
        apps.join("files.yml"),
        format!("services:\n{}", service("f", "file2")),
    )
    .unwrap();
    let a = restart(a);
    let listed = a.run_ok("app.list", json!({})).await;
    assert_eq!(listed[0]["source"], "dir", "{listed}");
    wait_until("the file's edit applied", LONG, || {
        // The old container may go between the listing and the inspect: not an error here.
        running_id(&d, "outpost-files.f").is_some_and(|id| {
            let out = d.docker_output(&["inspect", "-f", "{{json .Config.Env}}", &id]);
            String::from_utf8_lossy(&out.stdout).contains("V=file2")
        })
    });
}

/// The apps declared at start (the stored ones reconciled with `containers.apps_dir`) are
/// loaded by a task of their own. `app.list` and `app.apply` wait for it: a listing taken as
/// soon as the agent answers used to miss what the task had not stored yet (a CI run listed
/// the stored job's app where the directory's newer file had replaced it). Many files make
/// that task long enough to be caught; no engine is needed to declare apps.
#[tokio::test]
async fn issue15_apps_listed_at_start_include_every_file_of_apps_dir() {
    let dir = tempfile::tempdir().unwrap();
    let apps = dir.path().join("apps");
    std::fs::create_dir(&apps).unwrap();
    const N: usize = 300;
    for i in 0..N {
        std::fs::write(
            apps.join(format!("app{i:03}.yml")),
            format!("services:\n{}", service("s", &i.to_string())),
        )
        .unwrap();
    }
    let a = Agent::start(
        Options::new(&dir.path().join("data"))
            .env(
                "OUTPOST_CONTAINERS_SOCKET",
                dir.path().join("no-engine.sock").to_str().unwrap(),
            )
            .env("OUTPOST_CONTAINERS_DISK_GUARD_PCT", "0")
            .env("OUTPOST_CONTAINERS_APPS_DIR", apps.to_str().unwrap()),
    );
    let listed = a.run_ok("app.list", json!({})).await;
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), N, "every file's app, at the first listing");
    assert!(listed.iter().all(|l| l["source"] == "dir"), "{listed:?}");
}
