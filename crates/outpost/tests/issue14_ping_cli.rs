//! `outpost ping` against fping 5.1 on the same targets, both run inside a network namespace
//! of the test's own (only loopback: 127.0.0.0/8 answers, anything else has no route): the
//! same lines on stdout and stderr once RTT figures are masked, and the same exit codes
//! (except usage errors: 3 here, where fping 5.1 exits 1 despite its manual).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Output;

use outpost_test_support::netns::Netns;
use outpost_test_support::peer;

fn outpost(ns: &Netns, args: &[&str]) -> Output {
    ns.command(env!("CARGO_BIN_EXE_outpost"))
        .arg("ping")
        .args(args)
        .output()
        .unwrap()
}

fn fping(ns: &Netns, args: &[&str]) -> Output {
    ns.command(peer::binary("fping", "scripts/deps/60-probes.sh"))
        .args(args)
        .output()
        .unwrap()
}

/// Lines with every decimal figure (RTTs, averages) replaced by `T`, sorted: fping prints
/// per-probe lines as replies arrive, outpost round by round.
fn masked(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| {
            let mut out = String::new();
            let mut run = String::new();
            for c in l.chars().chain(std::iter::once('\n')) {
                if c.is_ascii_digit() || c == '.' {
                    run.push(c);
                    continue;
                }
                let is_figure = run.contains('.') && run.chars().any(|c| c.is_ascii_digit());
                // An address (four dotted parts) is kept; a figure like 0.043 is masked.
                if is_figure && run.matches('.').count() == 1 {
                    out.push('T');
                } else {
                    out.push_str(&run);
                }
                run.clear();
                if c != '\n' {
                    out.push(c);
                }
            }
            out
        })
        .collect();
    lines.sort();
    lines
}

fn same(ns: &Netns, args: &[&str]) -> Output {
    let (ours, theirs) = (outpost(ns, args), fping(ns, args));
    assert_eq!(
        ours.status.code(),
        theirs.status.code(),
        "exit code of {args:?}: ours {ours:?}, fping {theirs:?}"
    );
    assert_eq!(
        masked(&ours.stdout),
        masked(&theirs.stdout),
        "stdout of {args:?}"
    );
    assert_eq!(
        masked(&ours.stderr),
        masked(&theirs.stderr),
        "stderr of {args:?}"
    );
    ours
}

#[test]
fn issue14_ping_cli_matches_fping_output_and_exit_codes() {
    let ns = Netns::new("cli");
    let o = same(&ns, &["127.0.0.1", "127.0.0.2"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        masked(&o.stdout),
        ["127.0.0.1 is alive", "127.0.0.2 is alive"]
    );

    let o = same(&ns, &["-t", "50", "127.0.0.1", "10.9.9.9"]);
    assert_eq!(o.status.code(), Some(1));

    let o = same(&ns, &["-c", "3", "-p", "20", "127.0.0.1", "127.0.0.22"]);
    assert_eq!(masked(&o.stdout).len(), 6);
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("127.0.0.22 : xmt/rcv/%loss = 3/3/0%, min/avg/max = "));

    same(
        &ns,
        &["-q", "-c", "2", "-p", "20", "127.0.0.1", "127.0.0.3"],
    );
    same(&ns, &["-C", "3", "-p", "20", "127.0.0.1", "127.0.0.33"]);
    same(
        &ns,
        &["-q", "-C", "2", "-p", "20", "-b", "100", "127.0.0.1"],
    );
    let o = same(&ns, &["-c", "1", "-b", "100", "127.0.0.1"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("108 bytes"));

    let o = same(&ns, &["-g", "127.0.0.0/29"]);
    assert_eq!(
        masked(&o.stdout).len(),
        6,
        "/29 without network and broadcast"
    );
    same(&ns, &["-q", "-c", "1", "-g", "127.1.0.0/28"]);

    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("hosts");
    std::fs::write(&list, "127.0.0.1\n# a comment\n\n127.0.0.5\n").unwrap();
    same(&ns, &["-f", list.to_str().unwrap()]);
}

#[test]
fn issue14_ping_cli_host_not_found_exits_2_and_bad_usage_3() {
    let ns = Netns::new("cli2");
    let ours = outpost(&ns, &["127.0.0.1", "nosuch.invalid"]);
    let theirs = fping(&ns, &["127.0.0.1", "nosuch.invalid"]);
    assert_eq!(ours.status.code(), Some(2));
    assert_eq!(theirs.status.code(), Some(2));
    assert_eq!(masked(&ours.stdout), masked(&theirs.stdout));
    assert!(String::from_utf8_lossy(&ours.stderr).starts_with("nosuch.invalid: "));
    for bad in [&["-c", "0", "x"][..], &["-x", "x"], &["-c"], &[]] {
        let o = outpost(&ns, bad);
        assert_eq!(o.status.code(), Some(3), "{bad:?}: {o:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("usage: outpost ping"));
    }
}

#[test]
fn issue14_ping_cli_json_has_a_row_per_target() {
    let ns = Netns::new("cli3");
    let o = outpost(
        &ns,
        &["--json", "-c", "2", "-p", "10", "127.0.0.1", "10.9.9.9"],
    );
    assert_eq!(o.status.code(), Some(1));
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["host"], "127.0.0.1");
    assert_eq!(rows[0]["alive"], true);
    assert_eq!(
        (rows[0]["sent"].as_u64(), rows[0]["received"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(rows[0]["probes"][0]["status"], "reply");
    assert_eq!(rows[1]["alive"], false);
    assert_eq!(rows[1]["loss_pct"], 100.0);
    assert_eq!(rows[1]["probes"][0]["status"], "send_error");
}

/// Without CAP_NET_RAW (dropped from the bounding set by setpriv): one clear error naming
/// both fixes and exit 4 where the namespace allows no unprivileged ICMP; the kernel's ping
/// socket, and the same output, once `net.ipv4.ping_group_range` admits the group.
#[test]
fn issue14_ping_cli_without_cap_net_raw() {
    let ns = Netns::new("cli4");
    let setpriv = peer::binary("setpriv", "util-linux (Debian's base system)");
    let run = |args: &[&str]| {
        ns.command(&setpriv)
            .args(["--inh-caps=-net_raw", "--bounding-set=-net_raw"])
            .arg(env!("CARGO_BIN_EXE_outpost"))
            .arg("ping")
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&["127.0.0.1"]);
    assert_eq!(o.status.code(), Some(4), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    for needle in [
        "CAP_NET_RAW",
        "setcap cap_net_raw+ep",
        "net.ipv4.ping_group_range",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from: {err}");
    }
    assert!(o.stdout.is_empty());

    ns.sysctl("net.ipv4.ping_group_range", "0 0");
    let o = run(&["-c", "2", "-p", "10", "127.0.0.1"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(masked(&o.stdout).len(), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("xmt/rcv/%loss = 2/2/0%"));
}
