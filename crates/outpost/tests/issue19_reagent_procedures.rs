//! Issue 19, part 2: the heartbeat's figures and statuses, the container, image, host and
//! system procedures, and the privilege check on every procedure, through `outpost run
//! --reagent-config` against a real Crossbar router, the autobahn backend playing
//! IronFlock (`peers/reagent_backend.py`) and a real dockerd of the test's own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::dockerd::Dockerd;
use common::{wait_until, Agent};
use outpost_test_support::crossbar::{Backend, Crossbar};
use outpost_test_support::reagent::{self, canceled, principals, Reply, DENIED};
use serde_json::{json, Value};

const SERIAL: &str = "SER2";
const STATUS: &str = "reswarm.devices.update_device_status";

/// Every procedure the device registers, with the privilege it needs.
const PROCEDURES: &[(&str, &str)] = &[
    ("wamp_connection_established", "READ"),
    ("device_handshake", "READ"),
    ("get_agent_metadata", "READ"),
    ("execute_cmd", "DEVELOP"),
    ("list_containers", "READ"),
    ("get_images", "READ"),
    ("prune_images", "MAINTAIN"),
    ("get_storage_data", "READ"),
    ("get_ipv4_addresses", "READ"),
    ("list_ethernet_devices", "READ"),
    ("system_reboot", "MAINTAIN"),
    ("system_shutdown", "MAINTAIN"),
    ("system_restart_agent", "MAINTAIN"),
];

const STATS_KEYS: &[&str] = &[
    "cpu_count",
    "cpu_usage",
    "memory_total",
    "memory_used",
    "memory_available",
    "storage_total",
    "storage_used",
    "storage_free",
    "docker_apps_total",
    "docker_apps_used",
    "docker_apps_free",
    "docker_apps_mounted",
];

fn flock(dir: &Path, url: &str) -> PathBuf {
    reagent::flock(dir, url, SERIAL, json!({"name": "edge-2"}))
}

/// Calls `name` until the device has registered it, then returns the outcome.
fn call(b: &mut Backend, name: &str, args: Value) -> Reply {
    reagent::call_registered(b, SERIAL, name, args, json!({}), Duration::from_secs(60))
}

/// Exec on; a reboot that only says so, a shutdown that fails; no restart command.
const TOML: &str = r#"
[exec]
enabled = true

[commands.fake_reboot]
argv = ["/bin/echo", "rebooting"]

[commands.failing_shutdown]
argv = ["/bin/false"]

[reagent]
heartbeat_ms = 500
reboot_command = "fake_reboot"
shutdown_command = "failing_shutdown"
"#;

fn start(dir: &Path, router: &Crossbar, d: &Dockerd, guard_pct: &str) -> Agent {
    let toml = dir.join("outpost.toml");
    std::fs::write(&toml, TOML).unwrap();
    let f = flock(dir, &router.url());
    Agent::start(
        d.agent_options(&dir.join("data"))
            .env("OUTPOST_CONTAINERS_DISK_GUARD_PCT", guard_pct)
            .arg("--config")
            .arg(toml.to_str().unwrap())
            .arg("--reagent-config")
            .arg(f.to_str().unwrap()),
    )
}

fn heartbeats(b: &Backend) -> Vec<Value> {
    b.calls_to(STATUS)
        .into_iter()
        .map(|a| a[0].clone())
        .collect()
}

#[test]
fn issue19_reagent_heartbeat_figures_statuses_and_two_failures_reconnect() {
    let d = Dockerd::start();
    let dir = tempfile::tempdir().unwrap();
    let router = Crossbar::start(&principals());
    let mut backend = Backend::start(&router, &principals()[1], &[DENIED]);
    let agent = start(dir.path(), &router, &d, "0");

    // CONFIGURING while registering, then CONNECTED, with Reagent's figures.
    wait_until(
        "CONFIGURING then CONNECTED",
        Duration::from_secs(60),
        || {
            let hb = heartbeats(&backend);
            let first = hb.iter().position(|h| h["status"] == "CONFIGURING");
            first.is_some_and(|i| hb[i..].iter().any(|h| h["status"] == "CONNECTED"))
        },
    );
    let hb = heartbeats(&backend);
    let connected = hb.iter().find(|h| h["status"] == "CONNECTED").unwrap();
    let stats = &connected["stats"];
    for k in STATS_KEYS {
        assert!(stats.get(*k).is_some(), "{k} in {stats}");
    }
    assert!(stats["cpu_count"].as_u64().unwrap() >= 1, "{stats}");
    assert!(stats["memory_total"].as_u64().unwrap() > 0, "{stats}");
    assert!(stats["storage_total"].as_u64().unwrap() > 0, "{stats}");
    // The engine's data root (a temporary directory of this test's dockerd).
    assert!(stats["docker_apps_total"].as_u64().unwrap() > 0, "{stats}");
    assert!(stats["docker_apps_mounted"].is_boolean());
    // The configured period: several heartbeats within seconds, not 30 s.
    let session = connected["wamp_session_id"].as_u64().unwrap();
    wait_until("heartbeats every 500 ms", Duration::from_secs(20), || {
        heartbeats(&backend)
            .iter()
            .filter(|h| h["wamp_session_id"] == session && h["status"] == "CONNECTED")
            .count()
            >= 4
    });

    // Two failed heartbeats in a row: the session ends, and the device joins again.
    backend.fail_heartbeats(true);
    wait_until(
        "the session to end on two failures",
        Duration::from_secs(30),
        || agent.log_text().contains("2 heartbeats in a row failed"),
    );
    backend.fail_heartbeats(false);
    wait_until(
        "a heartbeat from a new session",
        Duration::from_secs(60),
        || {
            let n = backend.lines();
            // Only heartbeats the backend answered: those after the fault was switched off.
            let off = n
                .iter()
                .rposition(|l| l["control"] == "fail_status" && l["on"] == false)
                .unwrap_or(0);
            n[off..].iter().any(|l| {
                l["called"] == STATUS && l["args"][0]["wamp_session_id"].as_u64() != Some(session)
            })
        },
    );
    assert!(agent.log_text().contains("reconnecting in"));
}

#[test]
fn issue19_reagent_emergency_while_the_disk_guard_has_tripped() {
    let d = Dockerd::start();
    let dir = tempfile::tempdir().unwrap();
    let router = Crossbar::start(&principals());
    let backend = Backend::start(&router, &principals()[1], &[DENIED]);
    // Every filesystem has less than 100% free: the guard trips on its first look.
    let _agent = start(dir.path(), &router, &d, "100");
    wait_until("an EMERGENCY heartbeat", Duration::from_secs(60), || {
        heartbeats(&backend)
            .iter()
            .any(|h| h["status"] == "EMERGENCY")
    });
}

#[test]
fn issue19_reagent_container_host_and_system_procedures() {
    let d = Dockerd::start();
    let image = d.busybox();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "prod_1_app",
        "--network",
        "none",
        image,
        "sleep",
        "600",
    ]);
    // A second, unused image for the prune.
    d.docker(&[
        "import",
        outpost_test_support::dockerd::busybox_tar()
            .to_str()
            .unwrap(),
        "spare:1",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let router = Crossbar::start(&principals());
    let mut backend = Backend::start(&router, &principals()[1], &[DENIED]);
    let agent = start(dir.path(), &router, &d, "0");
    let data = dir.path().join("data");

    // list_containers [READ]: what the engine has, in Docker's listing shape.
    let (a, _) = call(&mut backend, "list_containers", json!([])).unwrap();
    let rows = a[0].as_array().unwrap();
    let app = rows
        .iter()
        .find(|r| r["Names"] == json!(["/prod_1_app"]))
        .unwrap_or_else(|| panic!("{a}"));
    assert_eq!(app["State"], "running");
    assert!(
        app["ImageID"].as_str().unwrap().starts_with("sha256:"),
        "{app}"
    );
    assert!(app["Command"].as_str().unwrap().contains("sleep"), "{app}");
    assert_eq!(app["ExitCode"], 0);
    let id = d.docker(&["inspect", "-f", "{{.Id}}", "prod_1_app"]);
    assert_eq!(app["ID"], id.trim());

    // get_images [READ]: one argument per image.
    let (a, _) = call(&mut backend, "get_images", json!([])).unwrap();
    let tags: Vec<String> = a
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["repoTags"].as_array().cloned().unwrap_or_default())
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    assert!(
        tags.contains(&"busybox:local".into()) && tags.contains(&"spare:1".into()),
        "{tags:?}"
    );
    for k in [
        "created",
        "containers",
        "sharedSize",
        "virtualSize",
        "id",
        "labels",
        "size",
    ] {
        assert!(a[0].get(k).is_some(), "{k} in {}", a[0]);
    }

    // prune_images [MAINTAIN] {all}: the unused image goes, the used one stays.
    let (a, _) = call(&mut backend, "prune_images", json!([{"all": true}])).unwrap();
    let report = &a[0];
    assert!(
        report["ImagesDeleted"].to_string().contains("spare:1"),
        "{report}"
    );
    assert!(report["SpaceReclaimed"].is_i64(), "{report}");
    let left = d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        !left.contains("spare:1") && left.contains("busybox:local"),
        "{left}"
    );

    // get_storage_data [READ]: the heartbeat's figures.
    let (a, _) = call(&mut backend, "get_storage_data", json!([])).unwrap();
    for k in STATS_KEYS {
        assert!(a[0].get(*k).is_some(), "{k} in {}", a[0]);
    }
    assert!(a[0]["docker_apps_total"].as_u64().unwrap() > 0);

    // get_ipv4_addresses and list_ethernet_devices [READ]: this host's interfaces.
    let (a, _) = call(&mut backend, "get_ipv4_addresses", json!([])).unwrap();
    let names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for row in a[0].as_array().unwrap() {
        let ip: std::net::Ipv4Addr = row["ip"].as_str().unwrap().parse().unwrap();
        assert!(!ip.is_loopback(), "{row}");
        assert!(
            names.contains(&row["interfaceName"].as_str().unwrap().to_owned()),
            "{row}"
        );
    }
    let (a, _) = call(&mut backend, "list_ethernet_devices", json!([])).unwrap();
    for dev in a.as_array().unwrap() {
        let name = dev["interfaceName"].as_str().unwrap();
        assert!(names.contains(&name.to_owned()), "{dev}");
        let mac = std::fs::read_to_string(format!("/sys/class/net/{name}/address")).unwrap();
        assert_eq!(dev["mac"], mac.trim());
        assert!(
            dev.get("ipv4").is_some() && dev.get("ipv6").is_some() && dev.get("method").is_some()
        );
    }

    // The jobs are stored like any other, under the procedure's name.
    let jobs = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(agent.get_json("/v1/jobs?limit=200"));
    let sources = jobs.to_string();
    for p in [
        "list_containers",
        "get_images",
        "prune_images",
        "get_storage_data",
        "get_ipv4_addresses",
    ] {
        assert!(
            sources.contains(&format!("reagent:{p}")),
            "{p} in {sources}"
        );
    }

    // System procedures: the configured command runs, audited; a failing one is an error;
    // an unconfigured one is refused naming the key.
    let (a, kw) = call(&mut backend, "system_reboot", json!([])).unwrap();
    assert_eq!((a, kw), (json!([]), json!({})));
    let audit = std::fs::read_to_string(data.join("audit.log")).unwrap();
    assert!(audit.contains("\"reagent:system_reboot\""), "{audit}");
    let e = canceled(call(&mut backend, "system_shutdown", json!([])));
    assert!(e.contains("exited with 1"), "{e}");
    let e = canceled(call(&mut backend, "system_restart_agent", json!([])));
    assert!(e.contains("reagent.restart_agent_command"), "{e}");

    // Empty and wrong arguments: Reagent's error shape, and the device keeps serving.
    for (name, args) in [
        ("list_containers", json!(["x"])),
        ("list_containers", json!([1, 2])),
        ("get_images", json!(["x"])),
        ("prune_images", json!([])),
        ("prune_images", json!(["all"])),
        ("prune_images", json!([{"all": "yes"}])),
        ("get_storage_data", json!([[]])),
        ("get_ipv4_addresses", json!([true])),
        ("list_ethernet_devices", json!(["eth0"])),
        ("system_reboot", json!(["now"])),
        ("system_shutdown", json!([5])),
        ("system_restart_agent", json!([null])),
    ] {
        let e = canceled(call(&mut backend, name, args.clone()));
        assert!(e.contains(name), "{name} {args}: {e}");
        let (_, kw) = call(&mut backend, "device_handshake", json!([])).unwrap();
        assert_eq!(kw["id"], SERIAL, "still serving after {name} {args}");
    }
    // A dict of its own is fine for those that take none (the backend's account travels
    // in it).
    assert!(call(&mut backend, "get_images", json!([{}])).is_ok());
}

#[test]
fn issue19_reagent_every_procedure_refuses_a_caller_without_the_privilege() {
    let d = Dockerd::start();
    let dir = tempfile::tempdir().unwrap();
    let router = Crossbar::start(&principals());
    let mut backend = Backend::start(&router, &principals()[1], &[DENIED]);
    let agent = start(dir.path(), &router, &d, "0");
    let data = dir.path().join("data");
    // Registered: the guard answers the system caller.
    let (a, _) = call(&mut backend, "wamp_connection_established", json!([])).unwrap();
    assert_eq!(a, json!(["Hello :-)"]));
    let audit_before = std::fs::read_to_string(data.join("audit.log")).unwrap_or_default();
    for (name, privilege) in PROCEDURES {
        // Arguments that would otherwise do something.
        let args = match *name {
            "execute_cmd" => {
                json!([{"cmd": "fake_reboot", "blocking": true, "requestor_account_key": DENIED}])
            }
            "prune_images" => json!([{"all": true, "requestor_account_key": DENIED}]),
            _ => json!([{"requestor_account_key": DENIED}]),
        };
        let e = canceled(call(&mut backend, name, args));
        assert!(
            e.contains(&format!("lacks the {privilege} privilege")),
            "{name}: {e}"
        );
        let checks = backend.calls_to("reswarm.devices.check_privilege");
        assert!(
            checks
                .iter()
                .any(|c| c[0]["privilege"] == *privilege && c[0]["requestor_account_key"] == DENIED),
            "{name}: {checks:?}"
        );
    }
    // Nothing ran: no command in the audit log, the engine's images untouched.
    let audit_after = std::fs::read_to_string(data.join("audit.log")).unwrap_or_default();
    assert_eq!(audit_before, audit_after);
    assert!(agent.log_text().contains("reagent: refused"));
}
