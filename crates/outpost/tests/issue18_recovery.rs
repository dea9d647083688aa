//! Issue 18, §3 and §5: SocketMan's connectivity on the agent's monitor. `outpost run
//! --socketman-config` inside a network namespace the test builds: the agent's namespace
//! reaches, through a veth pair and a default route, a peer namespace holding SocketMan's
//! two targets, the health target (a TCP listener at 192.0.2.53:5353, `health_url` and
//! `health_port`) and the web (an HTTP server at 198.51.100.80, `connectivity.http_url`
//! standing in for www.google.com). A real Mosquitto runs on the agent namespace's
//! loopback. The recovery steps are the built-in `socketman_network_restart` and
//! `socketman_reboot`, replaced in Outpost's config by scripts that record their call (the
//! network restart also puts the default route back). Waits are conditions with deadlines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{wait_for, Agent, Options};
use futures_util::StreamExt;
use outpost_test_support::mosquitto::Broker;
use outpost_test_support::mosquitto_clients::{publish, Sub};
use outpost_test_support::netns::Internet;
use outpost_test_support::peer::Process;
use outpost_test_support::{multipart, recorder::Recorder};
use serde_json::Value;

const HEALTH: &str = "192.0.2.53";
const HEALTH_PORT: u16 = 5353;
const WEB: &str = "198.51.100.80";
const GATEWAY: &str = "10.1.0.2";
const MAC: &str = "AA-BB-CC-00-11-3A";
const T: &str = "ct";
const K: &str = "k1";

struct World {
    net: Internet,
    dir: tempfile::TempDir,
    _servers: Vec<Process>,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let net = Internet::new("smr", &[HEALTH, WEB]);
        assert_eq!(net.link.b4.to_string(), GATEWAY);
        let www = dir.path().join("www");
        std::fs::create_dir_all(&www).unwrap();
        let servers = vec![
            net.http_server("health", HEALTH, HEALTH_PORT, &www, dir.path()),
            net.http_server("web", WEB, 80, &www, dir.path()),
        ];
        net.wait_accepting(&[format!("{HEALTH}:{HEALTH_PORT}"), format!("{WEB}:80")]);
        World {
            net,
            dir,
            _servers: servers,
        }
    }

    fn run<F, Fut>(&self, body: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        self.net.agent.run(body)
    }
}

/// What the recording scripts were called for, in order.
fn calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// SocketMan's `config.json` (the broker on `port`, or `disable_mqtt`; `reboot` seconds)
/// and Outpost's own file: exec on, the job command `cut` (removes the default route), the
/// two built-in steps replaced by recording scripts (the network restart puts the route
/// back while `dir/restore` exists), short periods, and `extra` `[connectivity.recovery]`
/// keys.
fn configs(dir: &Path, port: Option<u16>, reboot: u64, extra: &str) -> (PathBuf, PathBuf) {
    let script = |name: &str, body: &str| {
        let p = dir.join(format!("{name}.sh"));
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\necho {name} >> {}\n{body}\n",
                dir.join("calls").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        p
    };
    let cut = script("cut", "ip route del default");
    let restart = script(
        "network_restart",
        &format!(
            "if [ -e {} ]; then ip route replace default via {GATEWAY}; fi\nexit 0",
            dir.join("restore").display()
        ),
    );
    let reboot_s = script("reboot", "exit 0");
    let mut text = String::from("[exec]\nenabled = true\n\n");
    for (name, path) in [
        ("cut", &cut),
        ("socketman_network_restart", &restart),
        ("socketman_reboot", &reboot_s),
    ] {
        text += &format!(
            "[commands.{name}]\nargv = [\"{}\"]\nuser = 0\nlandlock = \"off\"\n\n",
            path.display()
        );
    }
    text += &format!(
        "[connectivity]\nperiod_ms = 400\ndegraded_period_ms = 100\ntimeout_ms = 300\n\
         http_url = \"http://{WEB}/\"\n\n[connectivity.recovery]\nboot_grace_secs = 0\n{extra}\n"
    );
    let toml = dir.join("outpost.toml");
    std::fs::write(&toml, text).unwrap();
    let mqtt = match port {
        Some(p) => format!(
            r#""username":"u","password":"p","topic":"{T}","key":"{K}","mqtt_host":"127.0.0.1","port":{p},"#
        ),
        None => r#""disable_mqtt":1,"#.to_owned(),
    };
    let json = dir.join("config.json");
    std::fs::write(
        &json,
        format!(
            r#"{{{mqtt}"mac":"{MAC}","token":"tok","monitor":15,"reboot":{reboot},"health_url":"{HEALTH}","health_port":{HEALTH_PORT}}}"#
        ),
    )
    .unwrap();
    (toml, json)
}

/// Runs `ip ARGS` in the calling thread's namespace (the agent's, inside `World::run`).
fn ip(args: &[&str]) {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "ip {args:?}: {out:?}");
}
fn agent(toml: &Path, json: &Path, data: &Path) -> Agent {
    Agent::start(
        Options::new(data)
            .env("DEBUG", "1")
            .arg("--config")
            .arg(toml.to_str().unwrap())
            .arg("--socketman-config")
            .arg(json.to_str().unwrap()),
    )
}

async fn status(a: &Agent) -> Value {
    a.get("/v1/connectivity")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn wait_state(a: &Agent, state: &str, within: Duration) {
    wait_for(&format!("connectivity {state}"), within, || async {
        status(a).await["state"] == state
    })
    .await;
}

/// The first outbox event of `kind`, read from the start, within `within`.
async fn event(a: &Agent, kind: &str, within: Duration) -> Value {
    let mut ws = a.events(0).await;
    let end = tokio::time::Instant::now() + within;
    loop {
        let left = end.saturating_duration_since(tokio::time::Instant::now());
        let Ok(Some(Ok(msg))) = tokio::time::timeout(left, ws.next()).await else {
            panic!(
                "no event of kind {kind} within {within:?}: {}",
                a.log_text()
            );
        };
        let row: Value = serde_json::from_str(&msg.into_text().unwrap()).unwrap();
        if row["item"]["kind"] == kind {
            return row["item"]["payload"].clone();
        }
    }
}

fn audit_lines(data: &Path) -> Vec<Value> {
    std::fs::read_to_string(data.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A `network` job whose allowlisted command removes the default route: checked before
/// (online, score 9) and after (offline, score 0), both recorded in an outbox event and the
/// audit log; the ladder's network restart runs at once (the ladder's own first wait is a
/// minute here), puts the route back, and the monitor is online again. SocketMan's
/// DELIVERED reply keeps its shape (no new keys on the wire).
#[test]
fn issue18_recovery_network_job_that_cuts_the_uplink_is_checked_and_recovered() {
    let w = World::new();
    let dir = w.dir.path().to_owned();
    std::fs::write(dir.join("restore"), "").unwrap();
    w.run(move || async move {
        let broker = Broker::start();
        let (toml, json) = configs(
            &dir,
            Some(broker.port),
            300,
            "initial_delay_ms = 60000\nmax_delay_ms = 60000\n",
        );
        let data = dir.join("data");
        let a = agent(&toml, &json, &data);
        wait_state(&a, "online", Duration::from_secs(20)).await;
        let st = status(&a).await;
        let probes: Vec<_> = st["probes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["probe"].clone())
            .collect();
        assert_eq!(
            probes,
            ["route", "tcp", "http"],
            "SocketMan's three checks: {st:#}"
        );
        assert_eq!(
            st["ladder"]["steps"],
            serde_json::json!(["socketman_network_restart", "socketman_reboot"]),
            "{st:#}"
        );
        let delivery = format!("delivery/{T}/{K}/{MAC}");
        let sub = Sub::start(broker.port, &[&delivery], None);
        publish(
            broker.port,
            &format!("sub/{T}/{K}/{MAC}"),
            r#"{"id":"net1","meta":{"msg":"cut","type":"network"}}"#,
            1,
        );
        let ev = event(&a, "socketman.network_check", Duration::from_secs(30)).await;
        assert_eq!(ev["id"], "net1", "{ev:#}");
        assert_eq!(ev["job_state"], "succeeded", "{ev:#}");
        assert_eq!(
            (
                ev["before"]["online"].clone(),
                ev["before"]["score"].clone()
            ),
            (Value::Bool(true), 9.into()),
            "{ev:#}"
        );
        assert_eq!(
            (ev["after"]["online"].clone(), ev["after"]["score"].clone()),
            (Value::Bool(false), 0.into()),
            "{ev:#}"
        );
        assert_eq!(ev["uplink_cut"], true, "{ev:#}");
        // The restart runs at once (well within the ladder's own minute), and its script
        // puts the route back: online again.
        wait_for("the network restart", Duration::from_secs(15), || async {
            calls(&dir).contains(&"network_restart".to_owned())
        })
        .await;
        wait_state(&a, "online", Duration::from_secs(15)).await;
        assert_eq!(calls(&dir), ["cut", "network_restart"], "{}", a.log_text());
        // The ladder's steps are local_only, the operator's replacement included: a job
        // asking for one is refused by exec itself, whatever path it came by.
        let job = a
            .run_job("exec", serde_json::json!({"command": "socketman_reboot"}))
            .await;
        assert_ne!(job["state"], "succeeded", "{job:#}");
        assert!(job.to_string().contains("local_only"), "{job:#}");
        assert_eq!(calls(&dir), ["cut", "network_restart"], "the reboot did not run");
        let audit = audit_lines(&data);
        let check = audit
            .iter()
            .find(|l| l["command"] == "network_check")
            .unwrap_or_else(|| panic!("{audit:#?}"));
        let why = check["reason"].as_str().unwrap();
        assert!(
            why.contains("before: score 9 (online), after: score 0 (offline)"),
            "{why}"
        );
        assert!(
            audit
                .iter()
                .any(|l| l["command"] == "socketman_network_restart"
                    && l["source"] == "connectivity"),
            "{audit:#?}"
        );
        let d = sub.wait("DELIVERED", Duration::from_secs(15), |m| {
            m.payload.contains("\"net1\"")
        });
        let v: Value = serde_json::from_str(&d.payload).unwrap();
        // Byte for byte SocketMan's DELIVERED: nothing of the checks on the wire.
        assert_eq!(
            d.payload,
            format!(
                r#"{{"id":"net1","app":"socketman","timestamp":{},"event_type":"DELIVERED","meta":{{"delivered":true}}}}"#,
                v["timestamp"]
            )
        );
        drop(a);
        drop(broker);
    });
}

/// Offline past `reboot` (shortened by `reboot_after_offline_ms`): the network restart
/// first, the reboot only once the uplink has been offline that long, timed from the start
/// of the current outage (an outage that ended does not count: SocketMan's timer never
/// reset). After an agent restart, min_reboot_interval still holds the next reboot back.
#[test]
fn issue18_recovery_offline_past_reboot_restarts_the_network_then_reboots_and_the_guards_hold() {
    let w = World::new();
    let dir = w.dir.path().to_owned();
    w.run(move || async move {
        let (toml, json) = configs(
            &dir,
            None,
            300,
            "initial_delay_ms = 200\nmax_delay_ms = 400\nreboot_after_offline_ms = 2500\n",
        );
        let data = dir.join("data");
        let a = agent(&toml, &json, &data);
        wait_state(&a, "online", Duration::from_secs(20)).await;
        // A first outage, ended (the route put back) right after its network restart.
        ip(&["route", "del", "default"]);
        wait_for(
            "the first network restart",
            Duration::from_secs(15),
            || async { calls(&dir).contains(&"network_restart".to_owned()) },
        )
        .await;
        ip(&["route", "replace", "default", "via", GATEWAY]);
        wait_state(&a, "online", Duration::from_secs(15)).await;
        assert_eq!(
            calls(&dir),
            ["network_restart"],
            "no reboot in a short outage"
        );
        // The second outage: restart again, and the reboot due 2.5 s after IT began.
        ip(&["route", "del", "default"]);
        wait_for(
            "the reboot step to be next",
            Duration::from_secs(15),
            || async {
                let st = status(&a).await;
                st["state"] == "offline" && st["ladder"]["next_step"] == "socketman_reboot"
            },
        )
        .await;
        let st = status(&a).await;
        let since = st["since_ms"].as_u64().unwrap();
        let due = st["ladder"]["next_action_at_ms"].as_u64().unwrap();
        assert!(
            due >= since + 2400,
            "the offline time restarted with this outage: {st:#}"
        );
        wait_for("the reboot", Duration::from_secs(20), || async {
            calls(&dir).contains(&"reboot".to_owned())
        })
        .await;
        assert_eq!(
            calls(&dir),
            ["network_restart", "network_restart", "reboot"]
        );
        assert!(data.join("connectivity/reboot.stamp").exists());
        drop(a);

        // "After the reboot" (an agent restart, still offline): the ladder runs again, the
        // reboot is skipped for min_reboot_interval (an hour by default).
        let a = agent(&toml, &json, &data);
        wait_for(
            "a reboot skipped by min_reboot_interval",
            Duration::from_secs(30),
            || async {
                status(&a).await["actions"]["skipped:min_reboot_interval"]
                    .as_u64()
                    .unwrap_or(0)
                    >= 1
            },
        )
        .await;
        let c = calls(&dir);
        assert_eq!(c.iter().filter(|c| *c == "reboot").count(), 1, "{c:?}");
        assert!(
            c.iter().filter(|c| *c == "network_restart").count() >= 3,
            "{c:?}"
        );
        let audit = audit_lines(&data);
        assert!(
            audit.iter().any(|l| l["command"] == "socketman_reboot"
                && l["decision"] == "skipped"
                && l["reason"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("min_reboot_interval")),
            "{audit:#?}"
        );
        drop(a);
    });
}

/// `reboot = 0` (SocketMan's default): the monitor reports, no ladder.
#[test]
fn issue18_recovery_reboot_zero_means_no_ladder() {
    let w = World::new();
    let dir = w.dir.path().to_owned();
    w.run(move || async move {
        let (toml, json) = configs(&dir, None, 0, "");
        let a = agent(&toml, &json, &dir.join("data"));
        wait_state(&a, "online", Duration::from_secs(20)).await;
        let st = status(&a).await;
        assert_eq!(st["ladder"]["steps"], serde_json::json!([]), "{st:#}");
        drop(a);
    });
}

/// `device.status` in an uploaded stats line is the monitor's score, with SocketMan's
/// weights over each probe's latest result: 0 without a route, 1 with the route only, 4
/// with route and health, 9 with all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_recovery_device_status_in_the_uploaded_line_is_the_monitors_score() {
    use outpost::adapters::socketman::{collect::Paths, config, stats::Stats};
    use outpost::connectivity::link::Link;
    use outpost_connectivity::{Outcome, ProbeKind, ProbeView, Status};

    let dir = tempfile::tempdir().unwrap();
    let server = Recorder::start(None).await;
    let path = dir.path().join("config.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"disable_mqtt":1,"mac":"{MAC}","token":"tok","stats_url":"{}/stats"}}"#,
            server.base()
        ),
    )
    .unwrap();
    let settings = config::load(&path).unwrap();
    let status = Arc::new(Mutex::new(Status::default()));
    let link = Link {
        status: status.clone(),
        urgent: Arc::default(),
        probes: Arc::new(Vec::new()),
    };
    let s = Stats::new(
        &settings,
        &dir.path().join("cache"),
        Paths::under(dir.path()),
    )
    .unwrap()
    .unwrap()
    .with_monitor(Some(link));
    let view = |probe, up: bool| ProbeView {
        probe,
        up: Some(up),
        last: Some(if up {
            Outcome::up("ok", Duration::from_millis(1), None)
        } else {
            Outcome::down("down", None, None)
        }),
    };
    let cases = [
        ((false, true, true), 0),
        ((true, false, false), 1),
        ((true, true, false), 4),
        ((true, false, true), 6),
        ((true, true, true), 9),
    ];
    for ((route, tcp, http), _) in cases {
        status.lock().unwrap().probes = vec![
            view(ProbeKind::Route, route),
            view(ProbeKind::Tcp, tcp),
            view(ProbeKind::Http, http),
        ];
        s.append(&s.collect().await).unwrap();
    }
    assert!(matches!(
        s.upload().await.unwrap(),
        outpost::adapters::socketman::stats::Sent::Delivered
    ));
    let reqs = server.requests();
    let lines = multipart::gzip_ndjson(&reqs[0], "data");
    let got: Vec<_> = lines
        .iter()
        .map(|l| l["device"]["status"].as_u64().unwrap())
        .collect();
    let want: Vec<u64> = cases.iter().map(|(_, s)| *s).collect();
    assert_eq!(got, want);
}
