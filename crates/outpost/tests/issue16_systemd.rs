//! Issue 16 §5: the systemd unit (`packaging/systemd/outpost.service`) passes
//! `systemd-analyze verify` with its hardening, and the command line it starts is one the
//! binary takes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{fs, path::Path, process::Command};

use common::BIN;

const UNIT: &str = include_str!("../../../packaging/systemd/outpost.service");

/// `systemd-analyze verify` on `unit` written as DIR/outpost.service, with the generated man
/// pages on MANPATH (so its `Documentation=man:` lines are checked too): exit code and
/// every output line that names the unit.
fn verify(dir: &Path, unit: &str) -> (i32, Vec<String>) {
    let man = dir.join("man");
    let out = Command::new(BIN)
        .args(["generate", "man", "--out"])
        .arg(man.join("man1"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let path = dir.join("outpost.service");
    fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=yes"])
        .arg(&path)
        .env("MANPATH", &man)
        .output()
        .unwrap_or_else(|e| panic!("systemd-analyze (Debian's systemd): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Lines about other units on this host (its own /lib/systemd/system) are not ours.
    let ours = text
        .lines()
        .filter(|l| l.contains("outpost"))
        .map(str::to_string)
        .collect();
    (out.status.code().unwrap_or(-1), ours)
}

/// The shipped unit with ExecStart pointing at the binary cargo built for this test.
fn unit_for_test() -> String {
    assert!(
        UNIT.contains("ExecStart=/usr/bin/outpost run --data-dir ${STATE_DIRECTORY}\n"),
        "the unit's ExecStart changed: update this test"
    );
    UNIT.replace("ExecStart=/usr/bin/outpost ", &format!("ExecStart={BIN} "))
}

#[test]
fn issue16_systemd_unit_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (code, lines) = verify(dir.path(), &unit_for_test());
    assert!(
        code == 0 && lines.is_empty(),
        "systemd-analyze verify (exit {code}):\n{}",
        lines.join("\n")
    );

    // The same check fails on a mistake in the unit: a misspelt hardening key...
    let dir = tempfile::tempdir().unwrap();
    let typo = unit_for_test().replace("ProtectSystem=strict", "ProtectSytem=strict");
    let (_, lines) = verify(dir.path(), &typo);
    assert!(
        lines.iter().any(|l| l.contains("ProtectSytem")),
        "a misspelt key went unnoticed: {lines:?}"
    );
    // ...and on an ExecStart binary that is not there.
    let dir = tempfile::tempdir().unwrap();
    let missing = unit_for_test().replace(BIN, "/nonexistent/outpost");
    let (code, lines) = verify(dir.path(), &missing);
    assert!(
        code != 0 || !lines.is_empty(),
        "a missing binary went unnoticed"
    );
}

#[test]
fn issue16_systemd_unit_keeps_its_hardening_and_a_valid_command_line() {
    let settings: Vec<(&str, &str)> = UNIT
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .collect();
    let get = |k: &str| -> Vec<&str> {
        settings
            .iter()
            .filter(|(key, _)| *key == k)
            .map(|(_, v)| *v)
            .collect()
    };
    for (k, v) in [
        ("DynamicUser", "yes"),
        ("StateDirectory", "outpost"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", "CAP_NET_RAW CAP_NET_BIND_SERVICE"),
        (
            "RestrictAddressFamilies",
            "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        ),
        ("Restart", "on-failure"),
        // The agent does not speak sd_notify: `notify` would leave it "activating".
        ("Type", "simple"),
    ] {
        assert_eq!(get(k), vec![v], "{k}");
    }
    assert!(get("AmbientCapabilities")[0].contains("CAP_NET_RAW"));
    assert!(get("SystemCallFilter")[0].starts_with("@system-service"));

    // The command line the unit starts is one `outpost run` accepts.
    let out = Command::new(BIN).args(["run", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--data-dir <DIR>"), "{help}");
}
