//! Issue 15 §6: `outpost containers ps|logs|apps|apply` through the agent's local API,
//! against a real dockerd of the test's own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::dockerd::Dockerd;
use common::{Agent, BIN};

/// `outpost containers --api URL --token T ARGS...`: exit code, stdout, stderr.
fn cli(a: &Agent, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .arg("containers")
        .args(["--api", &a.url, "--token", &a.token])
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
async fn issue15_containers_ps_and_logs_through_the_local_api() {
    let d = Dockerd::start();
    let image = d.busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "cli-web",
        image,
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line$i; done; exec sleep 1000",
    ]);
    d.docker(&["run", "--name", "cli-done", image, "true"]);
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(d.agent_options(&dir.path().join("data")));

    // ps: the running one, in a table; --all adds the exited one.
    let (code, out, err) = cli(&a, &["ps"]);
    assert_eq!(code, 0, "{err}");
    let header = out.lines().next().unwrap();
    assert!(header.starts_with("ID") && header.contains("NAME"), "{out}");
    let web = out
        .lines()
        .find(|l| l.contains("cli-web"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        web.contains("busybox:local") && web.contains("running"),
        "{web}"
    );
    assert!(!out.contains("cli-done"), "{out}");
    let (code, out, _) = cli(&a, &["ps", "--all"]);
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .any(|l| l.contains("cli-done") && l.contains("exited")),
        "{out}"
    );
    // --json: container.list's output as the agent gives it.
    let (code, out, _) = cli(&a, &["--json", "ps"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["name"], "cli-web");

    // logs --tail 2: the last two lines, plain. Wait for all five to be written first.
    common::wait_until(
        "cli-web's five lines",
        std::time::Duration::from_secs(20),
        || d.docker(&["logs", "cli-web"]).contains("line5"),
    );
    let (code, out, err) = cli(&a, &["logs", "cli-web", "--tail", "2"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().collect::<Vec<_>>(), ["line4", "line5"], "{out}");
    let (code, out, _) = cli(&a, &["logs", "cli-web"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 5, "{out}");

    // A container that is not there: the engine's code and message, exit 2.
    let (code, _, err) = cli(&a, &["logs", "no-such-container"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not_found"), "{err}");
    // Bad input before any connection: a file that is not there, exit 2 naming it.
    let (code, _, err) = cli(&a, &["apply", "/nonexistent/app.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/app.yaml"), "{err}");
    // A bad token is refused by the agent: exit 2 with its message, not a panic.
    let out = Command::new(BIN)
        .args(["containers", "--api", &a.url, "--token", "wrong", "ps"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    // No agent at the address: exit 1.
    let out = Command::new(BIN)
        .args([
            "containers",
            "--api",
            "http://127.0.0.1:9",
            "--token",
            "t",
            "ps",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn issue15_containers_apply_and_apps_through_the_local_api() {
    let d = Dockerd::start();
    d.busybox();
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(d.agent_options(&dir.path().join("data")));
    // No app yet: the header alone.
    let (code, out, err) = cli(&a, &["apps"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("APP"), "{out}");

    // apply FILE: the app is named after the file; the answer comes once it runs.
    let file = dir.path().join("shop.yaml");
    std::fs::write(
        &file,
        "services:\n  web:\n    image: busybox:local\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1; done\"]\n",
    )
    .unwrap();
    let (code, out, err) = cli(&a, &["apply", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let web = out
        .lines()
        .find(|l| l.starts_with("shop") && l.contains("web"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(web.contains("running"), "{web}");
    assert!(
        d.docker(&["ps", "--format", "{{.Names}}"])
            .lines()
            .any(|n| n == "outpost-shop.web"),
        "the container runs"
    );
    // apps: one line per service, its state and restarts.
    let (code, out, err) = cli(&a, &["apps"]);
    assert_eq!(code, 0, "{err}");
    let row: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("shop"))
        .unwrap_or_else(|| panic!("{out}"))
        .split_whitespace()
        .collect();
    assert_eq!(row, ["shop", "web", "running", "running", "0"], "{out}");
    // --json: app.status's rows as the agent gives them.
    let (code, out, _) = cli(&a, &["--json", "apps"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v[0]["service"], "web", "{v}");

    // A bad Compose file: the agent's error names the line; exit 2.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "services:\n  s:\n    image: busybox:local\n    bogus: 1\n",
    )
    .unwrap();
    let (code, _, err) = cli(&a, &["apply", bad.to_str().unwrap(), "--name", "bad"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 4") && err.contains("bogus"), "{err}");
}
