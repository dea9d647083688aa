//! Issue 13, secrets at rest through the binary: the agent creates its key (0600) on first
//! start, and `outpost secrets rotate` refuses a running agent, replaces the key when it is
//! stopped, and refuses a bad key file clearly. (Sealed rows themselves are exercised with
//! schedules in `issue13_secrets.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{os::unix::fs::PermissionsExt, process::Command, time::Duration};

use common::{Agent, Options, BIN};

fn rotate(data: &std::path::Path, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(["secrets", "rotate", "--json", "--data-dir"])
        .arg(data)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn issue13_secrets_rotate_replaces_the_key_only_with_the_agent_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut a = Agent::start(Options::new(&data));
    let key = data.join("secret.key");
    let meta = std::fs::metadata(&key).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let before = std::fs::read_to_string(&key).unwrap();

    // Running: the store is locked, nothing changes.
    let (code, _, err) = rotate(&data, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("in use"), "{err}");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), before);

    a.sigterm();
    assert!(a.wait_exit(Duration::from_secs(20)).success());
    let (code, out, err) = rotate(&data, &[]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_ne!(v["from"], v["to"], "{v}");
    let after = std::fs::read_to_string(&key).unwrap();
    assert_ne!(after, before);
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!data.join("secret.key.next").exists());

    // --new-key-file is for operator-managed keys only.
    let (code, _, err) = rotate(&data, &["--new-key-file", "/dev/null"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("operator-managed"), "{err}");

    // The agent starts again on the new key.
    let a = Agent::start(Options::new(&data));
    assert_eq!(a.healthz().await.status(), 200);
}

#[test]
fn issue13_a_key_file_others_can_read_stops_the_agent_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let key = dir.path().join("cred");
    std::fs::write(&key, "00".repeat(32)).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(BIN)
        .args(["run", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("OUTPOST_SECRET_KEY_FILE", &key)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("other users"), "{err}");
    assert!(err.contains("cred"), "{err}");
}
