//! Issue 18: logging as SocketMan logged, received by a real rsyslogd on a socket of the
//! test's own: in SocketMan mode the agent's lines go to syslog (facility user, ident
//! `socketman[pid]`) and not to stderr; with `DEBUG` set they go to stderr as SocketMan's
//! did; `log.target = syslog` outside SocketMan mode names the agent `outpost`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::BIN;
use outpost_test_support::rsyslog::Rsyslog;

/// Starts `outpost run` with `toml` (and SocketMan's `config.json` when `socketman`).
fn run(dir: &Path, toml: &str, socketman: bool, debug: bool) -> Child {
    let conf = dir.join("outpost.toml");
    std::fs::write(&conf, toml).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["run", "--data-dir"])
        .arg(dir.join("data"))
        .arg("--config")
        .arg(&conf)
        .env("OUTPOST_API_LISTEN", "127.0.0.1:0")
        .env("LOG_LEVEL", "info")
        .env_remove("RUST_LOG")
        .env_remove("DEBUG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if socketman {
        let json = dir.join("config.json");
        std::fs::write(
            &json,
            r#"{"disable_mqtt":1,"mac":"AA-BB-CC-00-11-2F","stats_url":"http://127.0.0.1:9/stats","health_url":"127.0.0.1"}"#,
        )
        .unwrap();
        cmd.arg("--socketman-config").arg(json);
    }
    if debug {
        cmd.env("DEBUG", "1");
    }
    cmd.spawn().unwrap()
}

/// Stops the agent and returns what it wrote to stderr.
fn stop(mut child: Child) -> String {
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    err
}

fn toml(r: &Rsyslog, extra: &str) -> String {
    format!("[log]\nsyslog_socket = \"{}\"\n{extra}", r.socket.display())
}

#[test]
fn issue18_logging_socketman_mode_goes_to_syslog_as_user_socketman() {
    let r = Rsyslog::start();
    let dir = tempfile::tempdir().unwrap();
    let agent = run(dir.path(), &toml(&r, ""), true, false);
    let pid = agent.id();
    let tag = format!("socketman[{pid}]:");
    common::wait_until(
        "the agent's lines in rsyslog's file",
        Duration::from_secs(30),
        || {
            r.lines()
                .iter()
                .any(|l| l.contains(&tag) && l.contains("listening on"))
        },
    );
    common::wait_until("the stats line", Duration::from_secs(30), || {
        r.lines()
            .iter()
            .any(|l| l.contains(&tag) && l.contains("stats collection is on"))
    });
    let lines = r.lines();
    let mine: Vec<&String> = lines.iter().filter(|l| l.contains(&tag)).collect();
    assert!(
        mine.iter().all(|l| l.starts_with("user.")),
        "facility user: {mine:?}"
    );
    assert!(
        mine.iter().any(|l| l.starts_with("user.info ")),
        "info lines at severity info: {mine:?}"
    );
    let err = stop(agent);
    assert!(
        !err.contains("listening on"),
        "nothing on stderr in syslog mode: {err}"
    );
}

#[test]
fn issue18_logging_debug_env_sends_socketman_mode_to_stderr() {
    let r = Rsyslog::start();
    let dir = tempfile::tempdir().unwrap();
    let mut agent = run(dir.path(), &toml(&r, ""), true, true);
    let pid = agent.id();
    // stderr is read as it comes: the token file exists before the API logs its address,
    // and an agent stopped in between had not written "listening on" yet (CI saw that).
    let err = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let err = std::sync::Arc::clone(&err);
        let mut pipe = agent.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                err.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    common::wait_until(
        "the agent's address on stderr",
        Duration::from_secs(30),
        || err.lock().unwrap().contains("listening on"),
    );
    // A marker through rsyslog after the agent started: once it is in the file, anything
    // the agent had sent before it would be there too.
    let marker = Command::new("logger")
        .args(["-u"])
        .arg(&r.socket)
        .args(["-t", "marker", "done"])
        .status()
        .unwrap();
    assert!(marker.success());
    common::wait_until("the marker", Duration::from_secs(10), || {
        r.lines().iter().any(|l| l.contains("marker"))
    });
    let _ = agent.kill();
    let _ = agent.wait();
    reader.join().unwrap();
    let err = err.lock().unwrap().clone();
    assert!(err.contains("listening on"), "DEBUG: stderr: {err}");
    assert!(
        !r.lines().iter().any(|l| l.contains(&format!("[{pid}]"))),
        "{:?}",
        r.lines()
    );
}

#[test]
fn issue18_logging_target_syslog_outside_socketman_is_outpost() {
    let r = Rsyslog::start();
    let dir = tempfile::tempdir().unwrap();
    let agent = run(dir.path(), &toml(&r, "target = \"syslog\"\n"), false, true);
    let tag = format!("outpost[{}]:", agent.id());
    common::wait_until("outpost's lines", Duration::from_secs(30), || {
        r.lines()
            .iter()
            .any(|l| l.contains(&tag) && l.contains("listening on"))
    });
    stop(agent);
}
