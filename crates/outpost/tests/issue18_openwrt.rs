//! Issue 18: the procd init script for OpenWrt (`packaging/openwrt/outpost.init`) passes
//! shellcheck and keeps what SocketMan's script did: procd, respawn 60 5 30, SocketMan's
//! config path and MAC file, the init server as `-b`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../packaging/openwrt/outpost.init"
);

#[test]
fn issue18_procd_init_script_passes_shellcheck() {
    let out = Command::new("shellcheck")
        .args(["--shell=sh", "--severity=style", SCRIPT])
        .output()
        .expect("shellcheck (scripts/deps/85-router.sh)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(SCRIPT).unwrap();
    assert!(text.starts_with("#!/bin/sh /etc/rc.common\n"));
    for needle in [
        "USE_PROCD=1",
        "procd_set_param respawn 60 5 30",
        "--socketman-config \"$config\"",
        "config_get config main config /etc/socketman",
        "procd_append_param command -b \"$init_url\"",
        "MAC_FILE=/etc/mac",
    ] {
        assert!(text.contains(needle), "missing {needle:?}");
    }
}
