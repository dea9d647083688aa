//! Issue 19, part 1: the Reagent drop-in through `outpost run --reagent-config`, against a
//! real Crossbar router and an autobahn backend playing IronFlock: the device joins with
//! WAMP-CRA as `<swarm_key>-<device_key>`, makes the post-join calls and the heartbeat,
//! serves `re.mgmt.<serial>.*` behind the privilege check (good, empty and wrong arguments),
//! re-registers after a router restart; a wrong secret is a clear error, retried with
//! backoff; a bad `.flock` exits 2 naming the key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{wait_until, Agent, Options, BIN};
use outpost_test_support::crossbar::{Backend, Crossbar};
use outpost_test_support::reagent::{self, principals, DENIED, SECRET};
use serde_json::{json, Value};

const SERIAL: &str = "SER1";

fn proc_uri(name: &str) -> String {
    reagent::uri(SERIAL, name)
}

/// Calls `name` until the device has registered it (the router says no_such_procedure
/// before), then returns the outcome.
fn call_when_registered(
    b: &mut Backend,
    name: &str,
    args: Value,
    kwargs: Value,
    within: Duration,
) -> reagent::Reply {
    reagent::call_registered(b, SERIAL, name, args, kwargs, within)
}

fn flock(dir: &Path, url: &str, secret: &str) -> PathBuf {
    let p = dir.join("device.flock");
    let v = json!({
        "name": "edge-1", "secret": secret, "swarm_key": 7, "device_key": 42,
        "serial_number": SERIAL, "device_endpoint_url": url, "swarm_name": "s",
        "board": {"cpu": "x"}, "authentication": {"key": "", "certificate": ""}
    });
    std::fs::write(&p, v.to_string()).unwrap();
    p
}

/// Outpost's own file: exec on, one allowlisted command for `execute_cmd`.
const TOML: &str = r#"
[exec]
enabled = true

[commands.say]
argv = ["/bin/echo", "{word}"]
params.word = { type = "string", pattern = "[a-z]+" }
"#;

fn start(dir: &Path, flock: &Path) -> Agent {
    let toml = dir.join("outpost.toml");
    std::fs::write(&toml, TOML).unwrap();
    Agent::start(
        Options::new(&dir.join("data"))
            .arg("--config")
            .arg(toml.to_str().unwrap())
            .arg("--reagent-config")
            .arg(flock.to_str().unwrap()),
    )
}

/// The audit log's lines for `execute_cmd`.
fn audit_lines(data: &Path) -> Vec<Value> {
    std::fs::read_to_string(data.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["who"] == "reagent:execute_cmd")
        .collect()
}

#[test]
fn issue19_reagent_joins_heartbeats_and_serves_procedures() {
    let dir = tempfile::tempdir().unwrap();
    let mut router = Crossbar::start(&principals());
    let mut backend = Backend::start(&router, &principals()[1], &[DENIED]);
    let f = flock(dir.path(), &router.url(), SECRET);
    let agent = start(dir.path(), &f);

    // The heartbeat (sent at once after WELCOME) and the post-join calls.
    let hb = backend.wait_line("the first heartbeat", Duration::from_secs(60), |l| {
        l["called"] == "reswarm.devices.update_device_status"
    });
    let hb = &hb["args"][0];
    assert_eq!(
        (hb["swarm_key"].clone(), hb["device_key"].clone()),
        (json!(7), json!(42))
    );
    // Sent while the registrations are in flight (CONNECTED follows: part 2's suite).
    assert_eq!(hb["status"], "CONFIGURING");
    assert!(hb["wamp_session_id"].as_u64().unwrap() > 0);
    assert_eq!(
        backend.calls_to("reswarm.devices.read_device_metadata"),
        vec![json!([{"device_key": 42}])]
    );
    let arch = backend.calls_to("reswarm.devices.update_device_architecture");
    assert_eq!(arch.len(), 1);
    assert_eq!(arch[0][0]["os"], "linux");

    // The guard answers Reagent's greeting.
    let r = call_when_registered(
        &mut backend,
        "wamp_connection_established",
        json!([]),
        json!({}),
        Duration::from_secs(30),
    );
    assert_eq!(r, Ok((json!(["Hello :-)"]), json!({}))));

    // device_handshake [open]: kwargs {utp, id}, whatever the arguments.
    for args in [json!([]), json!([1, 2]), json!(["wrong"])] {
        let (a, kw) = call_when_registered(
            &mut backend,
            "device_handshake",
            args,
            json!({}),
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(a, json!([]));
        assert_eq!(kw["id"], SERIAL);
        assert!(kw["utp"].as_str().unwrap().ends_with('Z'));
    }

    // get_agent_metadata [READ]: the system caller passes...
    let (a, _) = backend
        .call(&proc_uri("get_agent_metadata"), json!([]), json!({}))
        .unwrap();
    assert_eq!(a[0]["serialNumber"], SERIAL);
    // ...an allowed account is checked with the backend...
    let (a, _) = backend
        .call(
            &proc_uri("get_agent_metadata"),
            json!([{"requestor_account_key": 5}]),
            json!({}),
        )
        .unwrap();
    assert_eq!(a[0]["serialNumber"], SERIAL);
    let checks = backend.calls_to("reswarm.devices.check_privilege");
    assert_eq!(
        checks.last().unwrap()[0],
        json!({"privilege": "READ", "entity": "DEVICE", "entity_key": 42, "requestor_account_key": 5, "swarm_key": 7})
    );
    // ...a refused one gets Reagent's error shape, and so does a malformed account key.
    let e = backend
        .call(
            &proc_uri("get_agent_metadata"),
            json!([]),
            json!({"requestor_account_key": DENIED}),
        )
        .unwrap_err();
    assert_eq!(e.0, "wamp.error.canceled");
    assert!(
        e.1[0]["error"]
            .as_str()
            .unwrap()
            .contains("lacks the READ privilege"),
        "{e:?}"
    );
    let e = backend
        .call(
            &proc_uri("get_agent_metadata"),
            json!([{"requestor_account_key": "five"}]),
            json!({}),
        )
        .unwrap_err();
    assert_eq!(e.0, "wamp.error.canceled");
    assert!(agent.log_text().contains("reagent: refused"));

    // execute_cmd [DEVELOP here]: an allowlisted command runs, audited...
    let data = dir.path().join("data");
    let (a, _) = backend
        .call(
            &proc_uri("execute_cmd"),
            json!([{"cmd": "say", "args": ["hello"], "blocking": true}]),
            json!({}),
        )
        .unwrap();
    assert_eq!(a, json!(["hello\n"]));
    assert_eq!(
        audit_lines(&data).len(),
        2,
        "decision and result: {:?}",
        audit_lines(&data)
    );
    // ...shell text is refused and audited, never run...
    let before = audit_lines(&data).len();
    let e = backend
        .call(
            &proc_uri("execute_cmd"),
            json!([]),
            json!({"cmd": "say hello; touch /tmp/issue19-pwned", "blocking": true}),
        )
        .unwrap_err();
    assert_eq!(e.0, "wamp.error.canceled");
    let why = e.1[0]["error"].as_str().unwrap();
    assert!(
        why.starts_with("refused: ") && why.contains("shell metacharacter"),
        "{why}"
    );
    let lines = audit_lines(&data);
    assert_eq!(lines.len(), before + 1, "{lines:?}");
    assert_eq!(lines.last().unwrap()["decision"], "refused");
    assert!(!Path::new("/tmp/issue19-pwned").exists());
    assert!(outpost_exec::verify(data.join("audit.log")).is_ok());
    // ...empty and wrong arguments are Reagent's error shape, nothing submitted...
    for (args, kwargs) in [
        (json!([]), json!({})),
        (json!(["ls"]), json!({})),
        (json!([{"cmd": 5}]), json!({})),
    ] {
        let e = backend
            .call(&proc_uri("execute_cmd"), args, kwargs)
            .unwrap_err();
        assert_eq!(e.0, "wamp.error.canceled");
        assert!(e.1[0]["error"].is_string(), "{e:?}");
    }
    // ...and an account without the privilege is refused before anything runs.
    let before = audit_lines(&data).len();
    let e = backend
        .call(&proc_uri("execute_cmd"), json!([{"cmd": "say", "args": ["x"], "blocking": true, "requestor_account_key": DENIED}]), json!({}))
        .unwrap_err();
    assert!(
        e.1[0]["error"]
            .as_str()
            .unwrap()
            .contains("lacks the DEVELOP privilege"),
        "{e:?}"
    );
    assert_eq!(audit_lines(&data).len(), before);

    // The router restarts: the device rejoins, re-registers and heartbeats again.
    let beats = backend
        .calls_to("reswarm.devices.update_device_status")
        .len();
    let joins = backend.joins();
    router.restart();
    wait_until("the backend to rejoin", Duration::from_secs(90), || {
        backend.joins() > joins
    });
    let r = call_when_registered(
        &mut backend,
        "device_handshake",
        json!([]),
        json!({}),
        Duration::from_secs(90),
    );
    assert!(r.is_ok(), "{r:?}");
    wait_until(
        "a heartbeat after the restart",
        Duration::from_secs(30),
        || {
            backend
                .calls_to("reswarm.devices.update_device_status")
                .len()
                > beats
        },
    );
    assert!(agent.log_text().contains("reagent: session ended"));
}

#[test]
fn issue19_reagent_wrong_secret_is_a_clear_error_with_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let router = Crossbar::start(&principals());
    let f = flock(dir.path(), &router.url(), "not-the-secret");
    let agent = start(dir.path(), &f);
    wait_until(
        "two refused joins, backing off",
        Duration::from_secs(60),
        || {
            let log = agent.log_text();
            log.matches("refused the device secret").count() >= 2
                && log.contains("(backoff ceiling 1000 ms)")
                && log.contains("(backoff ceiling 2000 ms)")
        },
    );
    assert!(
        !agent.log_text().contains("not-the-secret"),
        "the secret is never logged"
    );
}

#[test]
fn issue19_reagent_a_bad_flock_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("device.flock");
    std::fs::write(&p, r#"{"secret":"s","swarm_key":7,"serial_number":"S","device_endpoint_url":"ws://127.0.0.1:1"}"#).unwrap();
    let out = Command::new(BIN)
        .args(["run", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--reagent-config")
        .arg(&p)
        .env("OUTPOST_API_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("reagent.config") && err.contains("\"device_key\": is missing"),
        "{err}"
    );
}
