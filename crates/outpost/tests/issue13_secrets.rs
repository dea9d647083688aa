//! Issue 13, secrets at rest with real sealed rows: schedules whose jobs carry an SNMP
//! community and v3 pass phrases poll a real snmpd; the credentials' bytes appear nowhere
//! in the store file, its WAL, or a copy of them taken while the agent runs; `outpost
//! secrets rotate` (agent stopped) re-seals them and the schedules still poll; a different
//! key is a clear error, never garbage.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{os::unix::fs::PermissionsExt, path::Path, process::Command, time::Duration};

use common::{wait_for, Agent, Options, BIN};
use outpost_test_support::snmpd::Snmpd;
use serde_json::{json, Value};

const COMMUNITY: &str = "c0mmunity-7f3a9e1d";
const AUTH: &str = "authphrase-5c2e8b";
const PRIV: &str = "privphrase-9d4f1a";
const SECRETS: [&str; 3] = [COMMUNITY, AUTH, PRIV];

async fn snmpd() -> Snmpd {
    Snmpd::start_config(COMMUNITY, |port| {
        format!(
            "agentAddress udp:127.0.0.1:{port}\nrocommunity {COMMUNITY} 127.0.0.1 .1\n\
             createUser secuser SHA {AUTH} AES {PRIV}\nrouser secuser priv .1\n"
        )
    })
    .await
}

fn schedules(d: &Snmpd) -> [Value; 2] {
    let oids = json!(["1.3.6.1.2.1.1.3.0"]);
    [
        json!({"id": "v2c", "when": {"every_ms": 1000},
               "job": {"kind": "snmp.get", "params": {"target": d.udp(), "version": "2c",
                       "community": COMMUNITY, "oids": oids}}}),
        json!({"id": "v3", "when": {"every_ms": 1000},
               "job": {"kind": "snmp.get", "params": {"target": d.udp(), "version": "3",
                       "user": "secuser", "auth_protocol": "SHA", "auth_password": AUTH,
                       "priv_protocol": "AES", "priv_password": PRIV, "oids": oids}}}),
    ]
}

/// Succeeded jobs of schedule `id` created at or after `since`.
async fn polls(a: &Agent, id: &str, since: i64) -> usize {
    let all = a.get_json("/v1/jobs?limit=1000").await;
    all["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| {
            j["schedule"] == id
                && j["state"] == "succeeded"
                && j["created_at"].as_i64().unwrap() >= since
        })
        .count()
}

async fn wait_polled(a: &Agent, since: i64) {
    for id in ["v2c", "v3"] {
        wait_for(
            &format!("a successful poll of `{id}`"),
            Duration::from_secs(20),
            || async { polls(a, id, since).await >= 1 },
        )
        .await;
    }
}

/// Fails naming the file if any secret's bytes are in it.
fn assert_clean(file: &Path) {
    let bytes = std::fs::read(file).unwrap();
    for s in SECRETS {
        assert!(
            !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
            "{s:?} in plaintext in {}",
            file.display()
        );
    }
}

/// Every file in `dir` (the store, its WAL, copies), the key aside.
fn assert_dir_clean(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_file()
            && !p
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("secret.key")
        {
            assert_clean(&p);
            n += 1;
        }
    }
    n
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn issue13_secrets_schedule_credentials_are_sealed_rotated_and_need_their_key() {
    let d = snmpd().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut a = Agent::start(Options::new(&data));
    for s in schedules(&d) {
        let r = a.post("/v1/schedules").json(&s).send().await.unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    wait_polled(&a, 0).await;

    // While it runs: the store, its WAL, and a copy of both hold no credential.
    let db = data.join("outpost.db");
    let wal = data.join("outpost.db-wal");
    assert!(wal.is_file(), "the agent runs in WAL mode");
    let backup = dir.path().join("backup");
    std::fs::create_dir(&backup).unwrap();
    std::fs::copy(&db, backup.join("outpost.db")).unwrap();
    std::fs::copy(&wal, backup.join("outpost.db-wal")).unwrap();
    assert!(assert_dir_clean(&data) >= 2);
    assert_dir_clean(&backup);
    // The copy is a store (it opens and holds the sealed schedules), not an empty file.
    let copy = rusqlite::Connection::open(backup.join("outpost.db")).unwrap();
    let spec: String = copy
        .query_row("SELECT spec FROM schedules WHERE id='v3'", [], |r| r.get(0))
        .unwrap();
    assert!(spec.contains("$sealed"), "{spec}");
    assert!(spec.contains("secuser"), "only secrets are sealed: {spec}");
    drop(copy);

    a.sigterm();
    assert!(a.wait_exit(Duration::from_secs(20)).success());
    assert_dir_clean(&data);

    // Rotation, with the agent stopped: every sealed value re-sealed under the new key.
    let out = Command::new(BIN)
        .args(["secrets", "rotate", "--json", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotated: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rotated["rows"], 2, "both schedules re-sealed: {rotated}");
    assert_dir_clean(&data);
    let after_rotation = now_ms();
    let mut a = Agent::start(Options::new(&data));
    wait_polled(&a, after_rotation).await;
    assert!(!a.log_text().contains("not loaded"), "{}", a.log_text());
    a.sigterm();
    assert!(a.wait_exit(Duration::from_secs(20)).success());

    // The old key (the backup's) no longer opens them; a different key is a clear error:
    // the schedules are listed with their secrets shown as sealed, and do not run.
    let other = dir.path().join("other.key");
    std::fs::write(&other, "11".repeat(32)).unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
    let started = now_ms();
    let a =
        Agent::start(Options::new(&data).env("OUTPOST_SECRET_KEY_FILE", other.to_str().unwrap()));
    wait_for("the load errors", Duration::from_secs(10), || async {
        a.log_text().contains("could not be loaded")
    })
    .await;
    let log = a.log_text();
    for id in ["v2c", "v3"] {
        let line = log
            .lines()
            .find(|l| l.contains("schedule not loaded") && l.contains(&format!("\"{id}\"")))
            .unwrap_or_else(|| panic!("no load error for {id}:\n{log}"));
        assert!(
            line.contains("not the key this store's secrets were sealed with"),
            "{line}"
        );
    }
    let shown = a.get_json("/v1/schedules/v3").await;
    assert_eq!(
        shown["job"]["params"]["auth_password"], "[sealed]",
        "{shown}"
    );
    assert_eq!(shown["job"]["params"]["user"], "secuser", "{shown}");
    for s in SECRETS {
        assert!(!shown.to_string().contains(s));
    }
    // Nothing ran with a garbage credential: no poll since this start.
    let until = now_ms() + 2_500;
    common::wait_until("2.5 s of due times", Duration::from_secs(5), || {
        now_ms() > until
    });
    let jobs = a.get_json("/v1/jobs?limit=1000").await;
    let since: Vec<&Value> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| !j["schedule"].is_null() && j["created_at"].as_i64().unwrap() >= started)
        .collect();
    assert!(since.is_empty(), "{since:?}");
}
