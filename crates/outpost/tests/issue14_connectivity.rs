//! Issue 14: the connectivity monitor through `outpost run`, inside a network namespace the
//! test builds. The agent's namespace reaches, through a veth pair and a default route, a
//! peer namespace holding two independent targets: a resolver (dnsmasq, which also answers
//! the TCP probe on port 53) at 192.0.2.53 and an HTTP server at 198.51.100.80. The test
//! removes the default route (every target lost at once: the uplink is down) and restores
//! it. Recovery steps are scripts that only append their name to a file. Periods and delays
//! are shortened by config to milliseconds; waits are conditions with deadlines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{wait_for, Agent, Options, BIN};
use futures_util::StreamExt;
use outpost_test_support::netns::{Internet, Netns};
use outpost_test_support::peer::Process;
use serde_json::Value;

const RESOLVER: &str = "192.0.2.53";
const WEB: &str = "198.51.100.80";
const STEPS: [&str; 3] = ["hook", "restart_network", "reboot"];

/// The agent's namespace, the peer's, and the peer's servers (killed on drop).
struct World {
    net: Internet,
    dir: tempfile::TempDir,
    dns: std::sync::Mutex<Option<Process>>,
    _http: Process,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let net = Internet::new("conn", &[RESOLVER, WEB]);
        let dns = start_dnsmasq(&net.peer, dir.path());
        let www = dir.path().join("www");
        std::fs::create_dir_all(&www).unwrap();
        let http = net.http_server("http.server", WEB, 80, &www, dir.path());
        net.wait_accepting(&[format!("{RESOLVER}:53"), format!("{WEB}:80")]);
        World {
            net,
            dir,
            dns: std::sync::Mutex::new(Some(dns)),
            _http: http,
        }
    }

    fn route(&self, up: bool) {
        if up {
            self.net
                .agent
                .ip(&["route", "add", "default", "via", "10.1.0.2"]);
        } else {
            self.net.agent.ip(&["route", "del", "default"]);
        }
    }

    /// Stops the resolver (by PID), or starts it again.
    fn dns(&self, up: bool) {
        let mut dns = self.dns.lock().unwrap();
        *dns = None;
        if up {
            *dns = Some(start_dnsmasq(&self.net.peer, self.dir.path()));
        }
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The config file: exec on, one script per step (running as root, unsandboxed: they
    /// write to the test's directory), the monitor on short periods, and `extra`.
    fn config(&self, extra: &str) -> PathBuf {
        let d = self.dir.path();
        let mut text = String::from("[exec]\nenabled = true\n\n");
        for step in STEPS {
            let script = d.join(format!("{step}.sh"));
            std::fs::write(
                &script,
                format!("#!/bin/sh\necho {step} >> {}\n", d.join("calls").display()),
            )
            .unwrap();
            std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
            text += &format!(
                "[commands.{step}]\nargv = [\"{}\"]\nuser = 0\nlandlock = \"off\"\n\n",
                script.display()
            );
        }
        text += &format!(
            "[connectivity]\nenabled = true\nperiod_ms = 400\ndegraded_period_ms = 100\ntimeout_ms = 300\n\
             dns_server = \"{RESOLVER}\"\ndns_name = \"probe.test\"\n{extra}\n"
        );
        let path = d.join("outpost.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs `body` on a thread inside the agent's namespace: the agent it starts, and every
    /// request the test makes, live there.
    fn run<F, Fut>(&self, body: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        self.net.agent.run(body)
    }
}

fn start_dnsmasq(ns: &Netns, dir: &Path) -> Process {
    let pid = dir.join("dnsmasq.pid");
    let dnsmasq = outpost_test_support::peer::binary("dnsmasq", "scripts/deps/60-probes.sh");
    let p = ns.spawn(
        "dnsmasq",
        dnsmasq.to_str().unwrap(),
        &[
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            &format!("--listen-address={RESOLVER}"),
            "--port=53",
            "--user=root",
            &format!("--pid-file={}", pid.display()),
            "--address=/probe.test/192.0.2.1",
        ],
        dir,
    );
    p
}

fn agent(config: &Path, data: &Path) -> Agent {
    Agent::start(
        Options::new(data)
            .arg("--config")
            .arg(config.to_str().unwrap()),
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

/// Every event in the outbox of `kind` (`connectivity`, `connectivity.action`, ...), read
/// from the start until `enough` says so, or the deadline.
async fn events(
    a: &Agent,
    kind: &str,
    within: Duration,
    enough: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let mut ws = a.events(0).await;
    let end = Instant::now() + within;
    let mut out = Vec::new();
    while !enough(&out) {
        let left = end.saturating_duration_since(Instant::now());
        let Ok(Some(Ok(msg))) = tokio::time::timeout(left, ws.next()).await else {
            panic!(
                "events of kind {kind}: only {} within {within:?}: {out:#?}",
                out.len()
            );
        };
        let row: Value = serde_json::from_str(&msg.into_text().unwrap()).unwrap();
        if row["item"]["kind"] == kind {
            let mut item = row["item"].clone();
            item["seq"] = row["seq"].clone();
            out.push(item);
        }
    }
    out
}

fn audit_lines(data: &Path) -> Vec<Value> {
    std::fs::read_to_string(data.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn audit_verifies(data: &Path) {
    let out = Command::new(BIN)
        .args(["audit", "verify"])
        .arg(data.join("audit.log"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn issue14_connectivity_online_offline_online_with_the_ladder_in_order_events_api_and_metrics() {
    let w = World::new();
    let config = w.config(&format!(
        "http_url = \"http://{WEB}/\"\n\n[connectivity.recovery]\nsteps = \"hook, restart_network, reboot\"\n\
         initial_delay_ms = 300\nmax_delay_ms = 5000\nboot_grace_secs = 0\n"
    ));
    let data = w.dir.path().join("data");
    let calls_file = w.dir.path().join("calls");
    let agent_ns = w.net.agent.name().to_owned();
    w.run(move || async move {
        let a = agent(&config, &data);
        wait_state(&a, "online", Duration::from_secs(15)).await;
        let st = status(&a).await;
        assert_eq!(st["score"], 100, "{st:#}");
        let probes: Vec<_> = st["probes"].as_array().unwrap().iter().map(|p| p["probe"].clone()).collect();
        assert_eq!(probes, ["route", "dns", "tcp", "http"], "{st:#}");
        assert!(st["probes"].as_array().unwrap().iter().all(|p| p["up"] == true), "{st:#}");
        assert_eq!(st["guards"]["min_failed_targets"], 2);

        // The uplink goes: no default route, no target answers.
        ip(&agent_ns, &["route", "del", "default"]);
        wait_state(&a, "offline", Duration::from_secs(10)).await;
        let st = status(&a).await;
        assert_eq!(st["score"], 0, "{st:#}");
        assert_eq!(st["failing_targets"], serde_json::json!([RESOLVER, WEB]), "{st:#}");
        // The whole ladder, in order, then the reboot held back by min_reboot_interval.
        let acts = events(&a, "connectivity.action", Duration::from_secs(20), |e| {
            e.iter().any(|x| x["payload"]["decision"] == "skipped")
        })
        .await;
        let ran: Vec<_> = acts.iter().filter(|x| x["payload"]["decision"] == "ran").collect();
        let names: Vec<_> = ran.iter().map(|x| x["payload"]["step"].as_str().unwrap()).collect();
        assert_eq!(names, STEPS, "{acts:#?}");
        let calls = std::fs::read_to_string(&calls_file).unwrap();
        assert_eq!(calls, "hook\nrestart_network\nreboot\n");
        // Waits of 600 then 1,200 ms between steps (300 ms doubling): the second twice the first.
        let at: Vec<i64> = ran.iter().map(|x| x["at"].as_i64().unwrap()).collect();
        let (d1, d2) = (at[1] - at[0], at[2] - at[1]);
        assert!((550..1000).contains(&d1), "{d1} ms, {d2} ms");
        assert!((1150..1800).contains(&d2), "{d1} ms, {d2} ms");
        let skipped = acts.iter().find(|x| x["payload"]["decision"] == "skipped").unwrap();
        assert_eq!(skipped["payload"]["step"], "reboot");
        assert_eq!(skipped["payload"]["reason"]["code"], "min_reboot_interval", "{skipped:#}");
        assert!(data.join("connectivity/reboot.stamp").is_file());

        let st = status(&a).await;
        assert_eq!(st["ladder"]["next_step"], "reboot", "{st:#}");
        assert!(st["ladder"]["next_action_at_ms"].is_u64(), "{st:#}");
        assert!(st["guards"]["last_reboot_unix"].is_u64(), "{st:#}");

        // Back online: state and ladder reset.
        ip(&agent_ns, &["route", "add", "default", "via", "10.1.0.2"]);
        wait_state(&a, "online", Duration::from_secs(10)).await;
        let st = status(&a).await;
        assert_eq!(st["ladder"]["position"], 0, "{st:#}");
        assert!(st["ladder"]["next_action_at_ms"].is_null(), "{st:#}");

        // Each change is a stored event: unknown -> online -> offline -> online.
        let changes = events(&a, "connectivity", Duration::from_secs(5), |e| {
            e.iter().any(|c| c["payload"]["from"] == "offline")
        })
        .await;
        let path: Vec<_> = changes
            .iter()
            .map(|c| format!("{}>{}", c["payload"]["from"].as_str().unwrap(), c["payload"]["to"].as_str().unwrap()))
            .collect();
        assert_eq!(path, ["unknown>online", "online>offline", "offline>online"]);
        assert!(changes[1]["payload"]["probes"].as_array().unwrap().iter().all(|p| p["up"] == false));

        let metrics = a.get("/metrics").send().await.unwrap().text().await.unwrap();
        let m = |k: &str| common::metric(&metrics, k);
        assert_eq!(m("outpost_connectivity_state{state=\"online\"}"), 1.0, "{metrics}");
        assert_eq!(m("outpost_connectivity_state{state=\"offline\"}"), 0.0);
        assert_eq!(m("outpost_connectivity_score"), 100.0);
        assert_eq!(m("outpost_connectivity_probe_up{probe=\"http\"}"), 1.0);
        assert_eq!(m("outpost_connectivity_actions_total{decision=\"ran\",reason=\"\"}"), 3.0, "{metrics}");
        assert!(m("outpost_connectivity_actions_total{decision=\"skipped\",reason=\"min_reboot_interval\"}") >= 1.0, "{metrics}");

        // Audited: each run's decision and outcome by source connectivity, each skip with
        // its reason; the chain verifies.
        let lines = audit_lines(&data);
        assert!(lines.iter().all(|l| l["source"] == "connectivity"), "{lines:#?}");
        for step in STEPS {
            assert!(lines.iter().any(|l| l["command"] == step && l["decision"] == "allowed" && l["phase"] == "outcome"), "{step}: {lines:#?}");
        }
        assert!(lines.iter().any(|l| l["decision"] == "skipped"
            && l["command"] == "reboot"
            && l["reason"].as_str().unwrap().starts_with("min_reboot_interval")));
        audit_verifies(&data);
        // The OpenAPI document describes the route.
        let doc: Value = a.get("/v1/openapi.json").send().await.unwrap().json().await.unwrap();
        assert!(doc["paths"]["/v1/connectivity"]["get"].is_object());
    });
    drop(w);
}

/// Offline with the recovery ladder configured by `extra`; returns the agent's action
/// events once `n` of them were stored, and leaves the route removed.
fn offline_actions(w: &World, extra: &str, n: usize, data: &Path) -> Vec<Value> {
    let config = w.config(extra);
    let data = data.to_owned();
    let agent_ns = w.net.agent.name().to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    w.run(move || async move {
        let a = agent(&config, &data);
        wait_state(&a, "online", Duration::from_secs(15)).await;
        ip(&agent_ns, &["route", "del", "default"]);
        let acts = events(&a, "connectivity.action", Duration::from_secs(20), |e| {
            e.len() >= n
        })
        .await;
        tx.send(acts).unwrap();
    });
    rx.recv().unwrap()
}

fn ip(ns: &str, args: &[&str]) {
    let out = Command::new("ip")
        .args(["-n", ns])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "ip {args:?}: {out:?}");
}

const FAST: &str = "initial_delay_ms = 200\nmax_delay_ms = 400\n";

#[test]
fn issue14_connectivity_guard_min_reboot_interval_holds_across_an_agent_restart() {
    let w = World::new();
    let data = w.dir.path().join("data");
    let extra = format!(
        "http_url = \"http://{WEB}/\"\n\n[connectivity.recovery]\nsteps = \"reboot\"\nboot_grace_secs = 0\n{FAST}"
    );
    let first = offline_actions(&w, &extra, 1, &data);
    assert_eq!(first[0]["payload"]["decision"], "ran", "{first:#?}");
    assert_eq!(w.calls(), ["reboot"]);
    let stamp: u64 = std::fs::read_to_string(data.join("connectivity/reboot.stamp"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // A new agent on the same data directory (what a reboot leaves): offline again, the
    // reboot is skipped, from the stamp the first one wrote.
    w.route(true);
    let second = offline_actions(&w, &extra, 3, &data);
    let fresh: Vec<_> = second.iter().skip(1).collect();
    for a in &fresh {
        assert_eq!(a["payload"]["decision"], "skipped", "{second:#?}");
        assert_eq!(a["payload"]["reason"]["code"], "min_reboot_interval");
        assert_eq!(a["payload"]["reason"]["last_reboot_unix"], stamp);
    }
    assert_eq!(w.calls(), ["reboot"], "no second reboot");
    audit_verifies(&data);
}

#[test]
fn issue14_connectivity_guard_one_failing_target_never_runs_a_step() {
    let w = World::new();
    let data = w.dir.path().join("data");
    // No HTTP probe: DNS and TCP both go to the resolver, one target. Offline, yet every
    // due step is skipped.
    let extra = format!(
        "\n[connectivity.recovery]\nsteps = \"hook, restart_network, reboot\"\nboot_grace_secs = 0\n{FAST}"
    );
    let acts = offline_actions(&w, &extra, 3, &data);
    for a in &acts {
        assert_eq!(a["payload"]["decision"], "skipped", "{acts:#?}");
        assert_eq!(a["payload"]["step"], "hook", "held on the first step");
        assert_eq!(a["payload"]["reason"]["code"], "too_few_targets");
        assert_eq!(
            a["payload"]["failing_targets"],
            serde_json::json!([RESOLVER])
        );
    }
    assert!(w.calls().is_empty());
    let lines = audit_lines(&data);
    assert!(lines.len() >= 3);
    assert!(lines.iter().all(|l| l["decision"] == "skipped"
        && l["field"] == "connectivity.recovery"
        && l["reason"].as_str().unwrap().starts_with("too_few_targets")));
    audit_verifies(&data);
}

#[test]
fn issue14_connectivity_guard_boot_grace_holds_steps_back() {
    let w = World::new();
    let data = w.dir.path().join("data");
    // A grace longer than this host has been up.
    let extra = format!(
        "http_url = \"http://{WEB}/\"\n\n[connectivity.recovery]\nsteps = \"hook\"\nboot_grace_secs = 3153600000\n{FAST}"
    );
    let acts = offline_actions(&w, &extra, 3, &data);
    for a in &acts {
        assert_eq!(a["payload"]["decision"], "skipped", "{acts:#?}");
        assert_eq!(a["payload"]["reason"]["code"], "boot_grace");
    }
    assert!(w.calls().is_empty());
    let lines = audit_lines(&data);
    assert!(lines.iter().all(
        |l| l["decision"] == "skipped" && l["field"] == "connectivity.recovery.boot_grace_secs"
    ));
    audit_verifies(&data);
}

#[test]
fn issue14_connectivity_guard_dry_run_says_what_it_would_do_and_runs_nothing() {
    let w = World::new();
    let data = w.dir.path().join("data");
    let extra = format!(
        "http_url = \"http://{WEB}/\"\n\n[connectivity.recovery]\nsteps = \"hook, restart_network, reboot\"\nboot_grace_secs = 0\ndry_run = true\n{FAST}"
    );
    let acts = offline_actions(&w, &extra, 3, &data);
    let steps: Vec<_> = acts
        .iter()
        .map(|a| a["payload"]["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, STEPS);
    for a in &acts {
        assert_eq!(a["payload"]["decision"], "would_run", "{acts:#?}");
        assert!(a["payload"]["why"].as_str().unwrap().contains("would"));
    }
    assert!(w.calls().is_empty(), "a dry run calls no script");
    assert!(!data.join("connectivity/reboot.stamp").exists());
    let lines = audit_lines(&data);
    assert!(lines.len() >= 3, "{lines:#?}");
    for (l, step) in lines.iter().zip(STEPS) {
        assert_eq!(l["command"], step);
        assert_eq!(l["decision"], "skipped");
        assert_eq!(l["source"], "connectivity");
        assert!(l["reason"].as_str().unwrap().contains("would run"), "{l}");
    }
    audit_verifies(&data);
}

#[test]
fn issue14_connectivity_config_check_names_bad_recovery_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // A step that is not a command of the allowlist.
        ("[exec]\nenabled = true\n[connectivity]\nenabled = true\n[connectivity.recovery]\nsteps = \"nope\"\n", "connectivity.recovery.steps"),
        // Steps with exec off.
        ("[commands.hook]\nargv = [\"/bin/true\"]\n[connectivity]\nenabled = true\n[connectivity.recovery]\nsteps = \"hook\"\n", "connectivity.recovery.steps"),
        // A reboot under another name than recovery.reboot.
        ("[exec]\nenabled = true\n[commands.boot]\nargv = [\"/sbin/reboot\"]\n[connectivity]\nenabled = true\n[connectivity.recovery]\nsteps = \"boot\"\n", "connectivity.recovery.reboot"),
        ("[connectivity]\ntcp_target = \"example.com:53\"\n", "connectivity.tcp_target"),
        ("[connectivity]\nhttp_url = \"ftp://x/\"\n", "connectivity.http_url"),
        ("[connectivity]\ndegraded_period_ms = 60000\n", "connectivity.degraded_period_ms"),
    ];
    for (text, key) in cases {
        let f = dir.path().join("c.toml");
        std::fs::write(&f, text).unwrap();
        let out = Command::new(BIN)
            .args(["config", "check", "--config"])
            .arg(&f)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(err.contains(key), "{text}: {err}");
    }
    let ok = "[exec]\nenabled = true\n[commands.hook]\nargv = [\"/bin/true\"]\n[connectivity]\nenabled = true\n[connectivity.recovery]\nsteps = \"hook\"\n";
    let f = dir.path().join("ok.toml");
    std::fs::write(&f, ok).unwrap();
    let out = Command::new(BIN)
        .args(["config", "check", "--config"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn issue14_connectivity_dns_removed_alone_is_degraded_and_runs_nothing_until_restored() {
    let w = World::new();
    // The HTTP probe's URL names an IP: the web server is a second, independent target.
    let config = w.config(&format!(
        "http_url = \"http://{WEB}/\"\n\n[connectivity.recovery]\nsteps = \"hook, restart_network, reboot\"\nboot_grace_secs = 0\n{FAST}"
    ));
    let data = w.dir.path().join("data");
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (back_tx, back_rx) = std::sync::mpsc::channel::<()>();
    let back_rx = std::sync::Mutex::new(back_rx);
    std::thread::scope(|scope| {
        let body = scope.spawn(|| {
            w.net.agent.run(move || async move {
                let a = agent(&config, &data);
                wait_state(&a, "online", Duration::from_secs(15)).await;
                tx.send(()).unwrap();
                // The resolver is gone (DNS and TCP to it fail): one target of two.
                wait_state(&a, "degraded", Duration::from_secs(10)).await;
                let st = status(&a).await;
                assert_eq!(
                    st["failing_targets"],
                    serde_json::json!([RESOLVER]),
                    "{st:#}"
                );
                assert!(st["ladder"]["next_action_at_ms"].is_null(), "{st:#}");
                // Well past the first delays (200, 400 ms): still nothing due, nothing done.
                let until = Instant::now() + Duration::from_millis(1500);
                while Instant::now() < until {
                    let st = status(&a).await;
                    assert_eq!(st["state"], "degraded", "{st:#}");
                    assert_eq!(st["actions"], serde_json::json!({}), "{st:#}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                tx.send(()).unwrap();
                back_rx.lock().unwrap().recv().unwrap();
                wait_state(&a, "online", Duration::from_secs(10)).await;
                let changes =
                    events(&a, "connectivity", Duration::from_secs(5), |e| e.len() >= 3).await;
                let to: Vec<_> = changes
                    .iter()
                    .map(|c| c["payload"]["to"].as_str().unwrap().to_owned())
                    .collect();
                assert_eq!(to, ["online", "degraded", "online"]);
                let m = a
                    .get("/metrics")
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                assert_eq!(
                    common::metric(&m, "outpost_connectivity_probe_up{probe=\"dns\"}"),
                    1.0,
                    "{m}"
                );
            })
        });
        rx.recv().unwrap();
        w.dns(false);
        rx.recv().unwrap();
        w.dns(true);
        back_tx.send(()).unwrap();
        body.join().unwrap();
    });
    assert!(w.calls().is_empty());
    assert!(audit_lines(&w.dir.path().join("data")).is_empty());
}

/// The HTTPS probe is `check.http` with the agent's one set of TLS configurations: verified
/// against `connectivity.ca_file` when it is set (the test CA's server is up), against the
/// system roots when not (the same server is down, for its unknown issuer). Loopback only:
/// no route or DNS probe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_connectivity_https_probe_verifies_against_the_ca_file() {
    use outpost_test_support::https::{TestCa, WebServer};
    let ca = TestCa::new();
    let web = WebServer::start_tls(ca.localhost()).await;
    let url = web.url_for("127.0.0.1", "/");
    let dir = tempfile::tempdir().unwrap();
    let with_ca = format!("ca_file = \"{}\"\n", ca.ca_file.display());
    for (name, ca_line, up) in [("ca_file", with_ca.as_str(), true), ("system", "", false)] {
        let cfg = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "[connectivity]\nenabled = true\nperiod_ms = 400\ndegraded_period_ms = 100\n\
                 timeout_ms = 3000\nroute = false\ndns_name = \"\"\ntcp_target = \"127.0.0.1:{}\"\n\
                 http_url = \"{url}\"\n{ca_line}",
                web.port
            ),
        )
        .unwrap();
        let a = agent(&cfg, &dir.path().join(name));
        let http = |st: &Value| {
            st["probes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["probe"] == "http")
                .cloned()
                .unwrap()
        };
        wait_for(
            &format!("{name}: an HTTP probe result"),
            Duration::from_secs(15),
            || async { http(&status(&a).await)["last"].is_object() },
        )
        .await;
        let st = status(&a).await;
        let last = &http(&st)["last"];
        assert_eq!(last["up"], up, "{name}: {st:#}");
        assert_eq!(last["target"], "127.0.0.1", "{st:#}");
        let detail = last["detail"].as_str().unwrap();
        if up {
            assert!(detail.starts_with("HTTP OK"), "{detail}");
        } else {
            assert!(
                detail.starts_with("HTTP CRITICAL - tls") && detail.contains("UnknownIssuer"),
                "{detail}"
            );
        }
    }
    assert!(web.requests() >= 1, "the verified probe reached the server");
}

#[test]
fn issue14_connectivity_ca_file_config_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        "[connectivity]\nhttp_url = \"https://192.0.2.1/\"\nca_file = \"ca.pem\"\n",
        "[connectivity]\nca_file = \"/etc/outpost/ca.pem\"\n",
    ];
    for text in cases {
        let f = dir.path().join("c.toml");
        std::fs::write(&f, text).unwrap();
        let out = Command::new(BIN)
            .args(["config", "check", "--config"])
            .arg(&f)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(err.contains("connectivity.ca_file"), "{text}: {err}");
    }
}
