//! Issue 12 (item 8): the shared plumbing keeps the promises every suite now relies on: a
//! missing peer fails loudly naming what installs it, a started peer is killed and reaped by
//! PID, a peer that died shows its stderr, a wait that times out names what it waited for,
//! and the smallest harness (snmptrapd) really receives what net-snmp sends it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;
use std::time::Duration;

use outpost_test_support::netsnmp;
use outpost_test_support::peer::{self, Process};
use outpost_test_support::snmptrapd::Snmptrapd;
use outpost_test_support::wait::wait_until;

/// The message of the panic `f` raises; fails if it does not panic.
fn panic_message(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn issue12_missing_peer_binary_fails_naming_its_install_script() {
    let msg = panic_message(|| {
        peer::binary("outpost-no-such-peer", "scripts/deps/99-nothing.sh");
    });
    // What is missing, what installs it, and that the test does not skip.
    for want in [
        "outpost-no-such-peer",
        "scripts/deps/99-nothing.sh",
        "never skip",
    ] {
        assert!(msg.contains(want), "{want:?} not in {msg}");
    }
}

#[test]
fn issue12_peer_process_is_killed_and_reaped_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("sleep");
    cmd.arg("600");
    let mut p = Process::spawn("sleep", cmd, dir.path());
    p.assert_running();
    let proc_dir = format!("/proc/{}", p.id());
    assert!(std::path::Path::new(&proc_dir).exists());
    drop(p);
    // Reaped, not a zombie: the kernel has forgotten the PID.
    assert!(
        !std::path::Path::new(&proc_dir).exists(),
        "{proc_dir} is left"
    );
}

#[test]
fn issue12_dead_peer_shows_its_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo 'bind: address in use' >&2; exit 3"]);
    let mut p = Process::spawn("fake-peer", cmd, dir.path());
    wait_until("the fake peer to exit", Duration::from_secs(10), || {
        p.exited().is_some()
    });
    let msg = panic_message(|| p.assert_running());
    assert!(msg.contains("fake-peer exited"), "{msg}");
    assert!(msg.contains("bind: address in use"), "{msg}");
}

#[test]
fn issue12_wait_that_times_out_names_what_it_waited_for() {
    let msg =
        panic_message(|| wait_until("the moon to turn blue", Duration::from_millis(30), || false));
    assert!(msg.contains("the moon to turn blue"), "{msg}");
}

#[test]
fn issue12_snmptrapd_harness_receives_what_net_snmp_sends() {
    let trapd = Snmptrapd::start("disableAuthorization yes\n");
    let dest = format!("127.0.0.1:{}", trapd.port);
    let (ok, err) = netsnmp::run(
        "snmptrap",
        &["-v2c", "-c", "public", &dest, "", ".1.3.6.1.6.3.1.1.5.3"],
    );
    assert!(ok, "{err}");
    wait_until("snmptrapd to log the trap", Duration::from_secs(10), || {
        trapd.records().len() == 1
    });
    let rec = &trapd.records()[0];
    assert!(rec[0].contains("[UDP: [127.0.0.1]:"), "{rec:?}");
    assert!(rec.join("\n").contains(".1.3.6.1.6.3.1.1.5.3"), "{rec:?}");
}
