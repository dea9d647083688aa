//! Issue 15: what goes wrong around the container engine, through `outpost run` against a
//! real dockerd of the test's own: no socket before the first container job; an engine
//! absent, frozen or killed mid-job is `engine_unavailable` naming the socket, and the agent
//! keeps serving; policy refusals (privileged, exec outside the allowlist's container
//! commands) are `refused` and audited; bad input is a 422 naming the field; a nonexistent
//! image and a host port conflict are clear errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::dockerd::Dockerd;
use common::{wait_for, wait_until, Agent, Options};
use serde_json::{json, Value};

fn failed(j: &Value, code: &str) {
    assert_eq!(j["state"], "failed", "{j}");
    assert_eq!(j["error"]["code"], code, "{j}");
}

#[tokio::test]
async fn issue15_no_engine_socket_is_opened_before_the_first_container_job() {
    no_socket_before_the_first_container_job(Dockerd::start()).await;
}

/// The same against Podman's Docker-compatible service.
#[tokio::test]
async fn issue15_podman_no_socket_before_the_first_container_job() {
    no_socket_before_the_first_container_job(Dockerd::podman()).await;
}

async fn no_socket_before_the_first_container_job(d: Dockerd) {
    let dir = tempfile::tempdir().unwrap();
    // Through DOCKER_HOST, as every Docker tool takes it (containers.socket unset).
    let a = Agent::start(Options::new(&dir.path().join("data")).env("DOCKER_HOST", &d.host()));
    let pid = a.child.id();
    // Busy with other kinds, and asked what it serves: still no connection to the engine.
    a.run_ok("echo", json!({"x": 1})).await;
    let info = a.run_ok("agent.info", json!({})).await;
    assert!(
        info["kinds"].to_string().contains("container.list"),
        "{info}"
    );
    assert_eq!(
        d.connections_from(pid),
        0,
        "a socket to the engine before any container job"
    );
    // The first container job connects: a followed log holds its connection while it runs.
    let image = d.busybox();
    d.docker(&["run", "-d", "--name", "talker", image, "sleep", "1000"]);
    assert_eq!(d.connections_from(pid), 0);
    let id = a
        .submit_accepted(json!({"kind": "container.logs",
                                "params": {"id": "talker", "follow": true},
                                "timeout_ms": 60000}))
        .await;
    wait_until(
        "the agent's connection to the engine",
        Duration::from_secs(20),
        || d.connections_from(pid) > 0,
    );
    let r = a.delete(&format!("/v1/jobs/{id}")).send().await.unwrap();
    assert!(r.status().is_success());
}

#[tokio::test]
async fn issue15_engine_absent_frozen_or_killed_mid_job_is_engine_unavailable_and_the_agent_serves_on(
) {
    // Absent: nothing at the socket path.
    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("no-engine.sock");
    let a = Agent::start(
        Options::new(&dir.path().join("data1"))
            .env("OUTPOST_CONTAINERS_SOCKET", nowhere.to_str().unwrap()),
    );
    let j = a.run_job("container.list", json!({})).await;
    failed(&j, "engine_unavailable");
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains(nowhere.to_str().unwrap()),
        "{j}"
    );
    assert_eq!(a.healthz().await.status(), 200);
    a.run_ok("echo", json!({})).await;
    drop(a);

    frozen_then_stopped_mid_job(Dockerd::start()).await;
}

/// Podman's service frozen, then stopped under a followed log. Its containers outlive the
/// service (they run under conmon): the job fails on the engine, not on its container.
#[tokio::test]
async fn issue15_podman_frozen_or_stopped_mid_job_is_engine_unavailable_and_the_agent_serves_on() {
    frozen_then_stopped_mid_job(Dockerd::podman()).await;
}

async fn frozen_then_stopped_mid_job(mut d: Dockerd) {
    let dir = tempfile::tempdir().unwrap();
    // Frozen (answers nothing): the call's deadline turns it into engine_unavailable.
    let image = d.busybox();
    let a = Agent::start(
        d.agent_options(&dir.path().join("data2"))
            .env("OUTPOST_CONTAINERS_CALL_TIMEOUT_MS", "1500"),
    );
    a.run_ok(
        "container.run",
        json!({"image": image, "name": "long", "command": ["sleep", "30"]}),
    )
    .await;
    d.freeze();
    let began = std::time::Instant::now();
    let j = a.run_job("container.list", json!({})).await;
    failed(&j, "engine_unavailable");
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no answer within"),
        "{j}"
    );
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "bounded by call_timeout_ms"
    );
    assert_eq!(a.healthz().await.status(), 200);
    d.thaw();
    a.run_ok("container.list", json!({})).await;

    // Killed in the middle of a followed log: the job fails engine_unavailable.
    let id = a
        .submit_accepted(json!({"kind": "container.logs",
                                "params": {"id": "long", "follow": true},
                                "timeout_ms": 60000}))
        .await;
    wait_for("the follow to run", Duration::from_secs(20), || async {
        a.job(&id).await["state"] == "running"
    })
    .await;
    d.stop_engine();
    wait_for("the follow to end", Duration::from_secs(30), || async {
        a.job(&id).await["state"] == "failed"
    })
    .await;
    let j = a.job(&id).await;
    failed(&j, "engine_unavailable");
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains(d.socket.to_str().unwrap()),
        "{j}"
    );
    // And every later call, quickly; the agent answers on.
    failed(
        &a.run_job("container.list", json!({})).await,
        "engine_unavailable",
    );
    assert_eq!(a.healthz().await.status(), 200);
    a.run_ok("echo", json!({})).await;
}

#[tokio::test]
async fn issue15_privileged_refused_unless_allowed_bad_params_named_missing_image_and_host_port_conflict_clear(
) {
    refusals_and_bad_input(Dockerd::start()).await;
}

/// The same against Podman's Docker-compatible service.
#[tokio::test]
async fn issue15_podman_refusals_and_bad_input() {
    refusals_and_bad_input(Dockerd::podman()).await;
}

async fn refusals_and_bad_input(d: Dockerd) {
    let image = d.busybox();
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(d.agent_options(&dir.path().join("data")));

    // Privileged: refused by policy, nothing created.
    let j = a
        .run_job(
            "container.run",
            json!({"image": image, "name": "priv", "privileged": true, "command": ["true"]}),
        )
        .await;
    failed(&j, "refused");
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("containers.allow_privileged"),
        "{j}"
    );
    assert_eq!(d.docker(&["ps", "-aq"]), "");

    // Bad params: a 422 naming the field.
    for (params, field) in [
        (
            json!({"image": image, "ports": [{"container_port": "http"}]}),
            "params.ports[0].container_port",
        ),
        (json!({"image": image, "volumes": ["/a:/b"]}), "params"),
        (json!({"image": "", "command": ["true"]}), "params.image"),
        (
            json!({"image": image, "mounts": [{"kind": "bind", "source": "rel", "target": "/x"}]}),
            "params.mounts[0].source",
        ),
        (json!({"image": image, "start": "yes"}), "params.start"),
    ] {
        let (st, body) = a
            .submit(
                json!({"kind": "container.run", "params": params}),
                Some(5.0),
            )
            .await;
        assert_eq!(st, 422, "{body}");
        assert!(body.to_string().contains(field), "{field}: {body}");
    }
    let (st, body) = a
        .submit(
            json!({"kind": "container.list", "params": {"status": ["sleepy"]}}),
            Some(5.0),
        )
        .await;
    assert_eq!(st, 422, "{body}");
    assert!(body.to_string().contains("params.status[0]"), "{body}");
    let (st, body) = a
        .submit(
            json!({"kind": "container.stop", "params": {"id": "x", "timeout": 3}}),
            Some(5.0),
        )
        .await;
    assert_eq!(st, 422, "{body}");
    let (st, body) = a
        .submit(
            json!({"kind": "image.load", "params": {"path": "relative.tar"}}),
            Some(5.0),
        )
        .await;
    assert_eq!(st, 422, "{body}");
    assert!(body.to_string().contains("params.path"), "{body}");

    // A nonexistent image: not_found, saying how to get it.
    let j = a
        .run_job(
            "container.run",
            json!({"image": "nothing-here:1", "command": ["true"]}),
        )
        .await;
    failed(&j, "not_found");
    let m = j["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("nothing-here") && m.contains("image.pull"),
        "{j}"
    );

    // Host networking shares the host's ports: one already taken is a conflict, before
    // anything is created.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let j = a
        .run_job(
            "container.run",
            json!({"image": image, "name": "hostnet", "network_mode": "host",
               "ports": [{"container_port": port}], "command": ["sleep", "5"]}),
        )
        .await;
    failed(&j, "conflict");
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{port}/tcp")),
        "{j}"
    );
    assert_eq!(d.docker(&["ps", "-aq"]), "");
    drop(taken);
    // Free again: it runs, on the host's network.
    a.run_ok(
        "container.run",
        json!({"image": image, "name": "hostnet", "network_mode": "host",
               "ports": [{"container_port": port}], "command": ["sleep", "5"]}),
    )
    .await;
    let insp = a
        .run_ok("container.inspect", json!({"id": "hostnet"}))
        .await;
    assert_eq!(insp["HostConfig"]["NetworkMode"], "host");
    // A name in use: conflict.
    let j = a
        .run_job(
            "container.run",
            json!({"image": image, "name": "hostnet", "command": ["true"]}),
        )
        .await;
    failed(&j, "conflict");
    assert_eq!(a.healthz().await.status(), 200);
    drop(a);

    // With containers.allow_privileged, the engine gets it. (Created, not started: this
    // test machine is itself a container without the capabilities a privileged container
    // takes, so runc cannot start one here.)
    let a = Agent::start(
        d.agent_options(&dir.path().join("data2"))
            .env("OUTPOST_CONTAINERS_ALLOW_PRIVILEGED", "true"),
    );
    a.run_ok("container.run", json!({"image": image, "name": "priv", "privileged": true, "command": ["sleep", "5"], "start": false})).await;
    let insp = a.run_ok("container.inspect", json!({"id": "priv"})).await;
    assert_eq!(insp["HostConfig"]["Privileged"], true);
}

const EXEC_CONFIG: &str = r#"
[exec]
enabled = true

[commands.greet]
argv = ["/bin/echo", "hello", "{word}"]
params.word = { type = "string", pattern = "[a-z]+" }
in_containers = true
output_cap_bytes = 8

[commands.hostonly]
argv = ["/bin/echo", "host"]
"#;

#[tokio::test]
async fn issue15_container_exec_runs_only_allowlisted_container_commands_and_audits_every_attempt()
{
    container_exec_allowlist(Dockerd::start()).await;
}

/// The same against Podman's Docker-compatible service.
#[tokio::test]
async fn issue15_podman_container_exec_allowlist() {
    container_exec_allowlist(Dockerd::podman()).await;
}

async fn container_exec_allowlist(d: Dockerd) {
    let image = d.busybox();
    let dir = tempfile::tempdir().unwrap();

    // Exec off: refused, whatever the command.
    let a = Agent::start(d.agent_options(&dir.path().join("off")));
    a.run_ok(
        "container.run",
        json!({"image": image, "name": "box", "command": ["sleep", "1000"]}),
    )
    .await;
    let j = a
        .run_job(
            "container.exec",
            json!({"id": "box", "command": "greet", "params": {"word": "x"}}),
        )
        .await;
    failed(&j, "refused");
    drop(a);

    let config = dir.path().join("outpost.toml");
    std::fs::write(&config, EXEC_CONFIG).unwrap();
    let data = dir.path().join("on");
    let a = Agent::start(
        d.agent_options(&data)
            .arg("--config")
            .arg(config.to_str().unwrap()),
    );
    // Allowed: runs inside the container, output capped by the command's cap.
    let out = a
        .run_ok(
            "container.exec",
            json!({"id": "box", "command": "greet", "params": {"word": "world"}}),
        )
        .await;
    assert_eq!(out["exit_code"], 0, "{out}");
    assert_eq!(out["stdout"]["text"], "hello wo", "{out}");
    assert_eq!(out["stdout"]["total_bytes"], 12, "{out}");
    assert_eq!(out["stdout"]["dropped_bytes"], 4, "{out}");
    // Not marked in_containers; unknown; a parameter the pattern refuses.
    for (params, why) in [
        (
            json!({"id": "box", "command": "hostonly"}),
            "not_for_containers",
        ),
        (
            json!({"id": "box", "command": "rm", "params": {}}),
            "unknown_command",
        ),
        (
            json!({"id": "box", "command": "greet", "params": {"word": "a; rm -rf /"}}),
            "pattern_mismatch",
        ),
    ] {
        let j = a.run_job("container.exec", params).await;
        failed(&j, "refused");
        assert!(
            j["error"]["message"].as_str().unwrap().contains(why),
            "{why}: {j}"
        );
    }
    // A container that is not there: allowed by the allowlist, failed by the engine.
    failed(
        &a.run_job(
            "container.exec",
            json!({"id": "nobox", "command": "greet", "params": {"word": "x"}}),
        )
        .await,
        "not_found",
    );

    // The audit log: decision + outcome for each run (naming the container), a line for each
    // refusal, and an intact chain.
    let log = data.join("audit.log");
    let report = outpost_exec::verify(&log).unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(report.lines, 7, "{text}");
    let allowed: Vec<&Value> = lines
        .iter()
        .filter(|l| l["decision"] == "allowed")
        .collect();
    assert_eq!(allowed.len(), 4, "{text}");
    assert!(allowed.iter().all(|l| l["container"].is_string()), "{text}");
    assert!(
        allowed
            .iter()
            .any(|l| l["phase"] == "outcome" && l["exit_code"] == 0 && l["container"] == "box"),
        "{text}"
    );
    assert!(
        allowed.iter().any(|l| l["phase"] == "outcome"
            && l["container"] == "nobox"
            && l["error"].is_string()),
        "{text}"
    );
    let refused: Vec<&Value> = lines
        .iter()
        .filter(|l| l["decision"] == "refused")
        .collect();
    assert_eq!(refused.len(), 3, "{text}");
    assert!(
        refused
            .iter()
            .any(|l| l["reason_code"] == "not_for_containers" && l["container"] == "box"),
        "{text}"
    );
}

/// Invariant 5 with the engine's client in the process: at `log.level = debug` bollard
/// would print every request body, and a container's environment is where its secrets
/// live. The agent holds bollard at info.
#[tokio::test]
async fn issue15_container_env_never_reaches_the_debug_log() {
    env_never_in_debug_log(Dockerd::start()).await;
}

#[tokio::test]
async fn issue15_podman_container_env_never_reaches_the_debug_log() {
    env_never_in_debug_log(Dockerd::podman()).await;
}

async fn env_never_in_debug_log(d: Dockerd) {
    let image = d.busybox();
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(
        d.agent_options(&dir.path().join("data"))
            .env("LOG_LEVEL", "debug"),
    );
    a.run_ok("container.run",
        json!({"image": image, "env": {"DB_PASSWORD": "s3cret-in-env"}, "command": ["true"], "start": false}),
    )
    .await;
    let log = a.log_text();
    assert!(log.contains("DEBUG"), "the agent logs at debug");
    assert!(!log.contains("s3cret-in-env"), "{log}");
}
