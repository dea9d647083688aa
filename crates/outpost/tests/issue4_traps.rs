//! Issue 4: the SNMP trap and inform receiver, driven against the real binary with
//! net-snmp's own senders, and compared field by field with what `snmptrapd` logs for the
//! same notifications.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    io::{BufRead, BufReader},
    net::UdpSocket,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use common::{metric, traps_listen, v2c_trap, wait_for, Agent, Options, Ws};
use futures_util::StreamExt;
use outpost_snmp::value::UptimeText;
use outpost_test_support::netsnmp::run as send;
use outpost_test_support::snmp_values::TRAP_USER_ARGS;
use outpost_test_support::snmptrapd::Snmptrapd;
use serde_json::Value as Json;

const V3_USERS: &str = "trapuser:0x8000000001020304:SHA:authpass123:AES:privpass123";
const COMMUNITY: &str = "s3cretcomm";
/// net-snmp's sender arguments for the configured v3 user (matches `V3_USERS`).
const V3_ARGS: [&str; 13] = TRAP_USER_ARGS;

/// Starts the agent with the trap receiver on ephemeral loopback ports (v4 and v6), through
/// the Towerops names TRAP_ENABLED/TRAP_PORT. Returns the agent and the v4 and v6 ports.
fn agent_with_traps(dir: &Path, extra: &[(&str, &str)]) -> (Agent, u16, u16) {
    let mut o = Options::new(dir)
        .env("TRAP_ENABLED", "true")
        .env("TRAP_PORT", "0")
        .env("OUTPOST_TRAP_LISTEN", "127.0.0.1, ::1")
        .env("OUTPOST_TRAP_COMMUNITIES", COMMUNITY)
        .env("OUTPOST_TRAP_V3_USERS", V3_USERS);
    for (k, v) in extra {
        o = o.env(k, v);
    }
    let a = Agent::start(o);
    let log = a.log_text();
    let port = |prefix: &str| -> u16 {
        let i = log
            .find(&format!("receiving on udp:{prefix}"))
            .unwrap_or_else(|| panic!("no trap socket for {prefix} in log:\n{log}"));
        let rest = &log[i + "receiving on udp:".len() + prefix.len()..];
        rest.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap()
    };
    let (p4, p6) = (port("127.0.0.1:"), port("[::1]:"));
    (a, p4, p6)
}

/// The next `n` event rows of the stream (results are skipped).
async fn next_events(ws: &mut Ws, n: usize) -> Vec<Json> {
    let mut out = Vec::new();
    while out.len() < n {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} events within 20 s", out.len()));
        let text = msg.unwrap().unwrap().into_text().unwrap();
        let row: Json = serde_json::from_str(&text).unwrap();
        if row["item"]["type"] == "event" {
            out.push(row["item"].clone());
        }
    }
    out
}

fn generic_name(g: i64) -> &'static str {
    [
        "Cold Start Trap",
        "Warm Start Trap",
        "Link Down Trap",
        "Link Up Trap",
        "Authentication Failure Trap",
        "EGP Neighbor Loss Trap",
        "Enterprise Specific Trap",
    ][g as usize]
}

fn varbind_texts(ev: &Json) -> Vec<String> {
    ev["payload"]["varbinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            format!(
                "{} = {}",
                v["oid"].as_str().unwrap(),
                v["text"].as_str().unwrap()
            )
        })
        .collect()
}

/// Asserts our event carries exactly the fields snmptrapd logged for the same notification.
fn assert_same(ev: &Json, rec: &[String]) {
    let p = &ev["payload"];
    if rec[0].contains("TRAP, SNMP v1") {
        // "\t<enterprise> <generic name> (<specific>) Uptime: <uptime>" then "\t<varbind>"s.
        let v1 = &p["v1"];
        let expect = format!(
            "\t{} {} ({}) Uptime: {}",
            v1["enterprise"].as_str().unwrap(),
            generic_name(v1["generic_trap"].as_i64().unwrap()),
            v1["specific_trap"],
            UptimeText(v1["timestamp"].as_u64().unwrap() as u32)
        );
        assert_eq!(rec[1], expect, "v1 header differs; event {p}");
        // snmptrapd puts all v1 varbinds on one line, each after a tab.
        let ours: String = varbind_texts(ev).iter().map(|t| format!("\t{t}")).collect();
        assert_eq!(rec[2..].join(""), ours, "v1 varbinds differ");
        assert!(rec[0].contains(&format!("({}", "via UDP: [127.0.0.1]")));
    } else {
        assert_eq!(
            rec[1..].join("\n"),
            varbind_texts(ev).join("\t"),
            "varbinds differ"
        );
        assert!(rec[0].contains("[UDP: [127.0.0.1]:"));
    }
    assert!(p["source"].as_str().unwrap().starts_with("127.0.0.1:"));
}

#[tokio::test]
async fn issue4_real_senders_are_stored_and_match_snmptrapd() {
    let dir = tempfile::tempdir().unwrap();
    let (a, port, _) = agent_with_traps(dir.path(), &[]);
    // The reference receiver, as peers.md runs it.
    let trapd = Snmptrapd::start(
        "disableAuthorization yes\n\
         createUser -e 0x8000000001020304 trapuser SHA authpass123 AES privpass123\n\
         createUser trapuser SHA authpass123 AES privpass123\n\
         authUser log trapuser\n",
    );
    let tport = trapd.port;
    let mut ws = a.events(0).await;
    let ours = format!("127.0.0.1:{port}");
    let theirs = format!("127.0.0.1:{tport}");
    let v3 = V3_ARGS;
    // (sender, args before the destination, args after it, is an inform)
    let cases: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
        // v1 enterprise-specific
        (
            "snmptrap",
            vec!["-v1", "-c", COMMUNITY],
            vec![
                ".1.3.6.1.4.1.8072.2.3",
                "127.0.0.1",
                "6",
                "17",
                "12345",
                ".1.3.6.1.4.1.8072.2.3.2.1",
                "i",
                "123456",
            ],
        ),
        // v1 generic (linkDown) with a string varbind
        (
            "snmptrap",
            vec!["-v1", "-c", COMMUNITY],
            vec![
                ".1.3.6.1.4.1.8072.2.3",
                "127.0.0.1",
                "2",
                "0",
                "22222",
                ".1.3.6.1.2.1.2.2.1.1.2",
                "i",
                "2",
                ".1.3.6.1.2.1.1.5.0",
                "s",
                "core1 sw",
            ],
        ),
        // v2c trap
        (
            "snmptrap",
            vec!["-v2c", "-c", COMMUNITY],
            vec![
                "777",
                ".1.3.6.1.6.3.1.1.5.3",
                ".1.3.6.1.2.1.2.2.1.1.2",
                "i",
                "2",
                ".1.3.6.1.2.1.31.1.1.1.6.2",
                "C",
                "12345678901",
                ".1.3.6.1.2.1.4.20.1.1.10.0.0.1",
                "a",
                "10.0.0.1",
            ],
        ),
        // v2c inform
        (
            "snmpinform",
            vec!["-v2c", "-c", COMMUNITY, "-t", "3", "-r", "1"],
            vec![
                "778",
                ".1.3.6.1.6.3.1.1.5.4",
                ".1.3.6.1.2.1.2.2.1.1.2",
                "i",
                "2",
            ],
        ),
        // v3 authPriv trap from engine 0x8000000001020304
        (
            "snmptrap",
            [&["-e", "0x8000000001020304"][..], &v3[..]].concat(),
            vec![
                "779",
                ".1.3.6.1.6.3.1.1.5.1",
                ".1.3.6.1.2.1.1.5.0",
                "s",
                "v3 trap",
            ],
        ),
        // v3 authPriv inform: the sender discovers our engine ID first
        (
            "snmpinform",
            [&v3[..], &["-t", "3", "-r", "1"][..]].concat(),
            vec![
                "780",
                ".1.3.6.1.6.3.1.1.5.2",
                ".1.3.6.1.2.1.1.6.0",
                "s",
                "rack 7",
            ],
        ),
    ];
    let mut events = Vec::new();
    for (bin, pre, post) in &cases {
        for dest in [&ours, &theirs] {
            let args: Vec<&str> = pre
                .iter()
                .copied()
                .chain([dest.as_str()])
                .chain(post.iter().copied())
                .collect();
            let (ok, err) = send(bin, &args);
            assert!(
                ok,
                "{bin} {args:?} failed (an inform fails unless acknowledged): {err}"
            );
        }
        events.extend(next_events(&mut ws, 1).await);
    }
    // snmptrapd logs each record with a delay of its own: wait for all six.
    let mut recs = Vec::new();
    wait_for(
        "snmptrapd to log six notifications",
        Duration::from_secs(10),
        || {
            recs = trapd.records();
            let n = recs.len();
            async move { n >= 6 }
        },
    )
    .await;
    // A record is complete once the next one started or the file ends with it; read again.
    let recs = trapd.records();
    for (i, (ev, rec)) in events.iter().zip(&recs).enumerate() {
        assert_same(ev, rec);
        let kind = if cases[i].0 == "snmpinform" {
            "snmp.inform"
        } else {
            "snmp.trap"
        };
        assert_eq!(ev["kind"], kind);
    }
    // Normalized fields.
    let p = &events[0]["payload"];
    assert_eq!(p["version"], "1");
    assert_eq!(p["community"], COMMUNITY);
    assert_eq!(
        p["trap_oid"], ".1.3.6.1.4.1.8072.2.3.0.17",
        "RFC 3584 translation"
    );
    assert_eq!(p["uptime"], 12345);
    assert_eq!(p["v1"]["agent_addr"], "127.0.0.1");
    assert_eq!(
        events[1]["payload"]["trap_oid"], ".1.3.6.1.6.3.1.1.5.3",
        "linkDown"
    );
    let p = &events[2]["payload"];
    assert_eq!(
        (p["version"].as_str(), p["uptime"].as_u64()),
        (Some("2c"), Some(777))
    );
    assert_eq!(p["trap_oid"], ".1.3.6.1.6.3.1.1.5.3");
    assert_eq!(
        p["varbinds"][3]["value"],
        serde_json::json!({"type": "Counter64", "value": 12345678901u64})
    );
    assert_eq!(
        p["varbinds"][4]["value"],
        serde_json::json!({"type": "IpAddress", "value": "10.0.0.1"})
    );
    for ev in &events[4..] {
        let p = &ev["payload"];
        assert_eq!(p["version"], "3");
        assert_eq!(p["user"], "trapuser");
        assert_eq!(p["security_level"], "authPriv");
        assert!(p.get("community").is_none());
    }
    assert_eq!(events[4]["payload"]["engine_id"], "8000000001020304");
    let m = a.metrics().await;
    assert_eq!(metric(&m, "outpost_trap_accepted_total"), 6.0, "{m}");
    assert_eq!(metric(&m, "outpost_trap_informs_acknowledged_total"), 2.0);
    assert_eq!(metric(&m, "outpost_trap_kernel_drops_total"), 0.0);
    // One line per notification, and never the community.
    let log = a.log_text();
    assert_eq!(
        log.matches("v2c TRAP trap_oid=.1.3.6.1.6.3.1.1.5.3")
            .count(),
        1,
        "{log}"
    );
    assert!(log.contains(
        "v1 TRAP enterprise=.1.3.6.1.4.1.8072.2.3 agent=127.0.0.1 generic=6 specific=17"
    ));
    assert!(
        !log.contains(COMMUNITY),
        "the community reached the log:\n{log}"
    );
    assert!(!m.contains(COMMUNITY) && !m.contains("authpass123"));
}

/// Scrapes /metrics until `cond` holds, with a deadline (a condition, not a sleep).
async fn metrics_when(
    a: &Agent,
    what: &str,
    deadline: Duration,
    cond: impl Fn(&str) -> bool,
) -> String {
    let end = Instant::now() + deadline;
    loop {
        let m = a.metrics().await;
        if cond(&m) {
            return m;
        }
        assert!(
            Instant::now() < end,
            "timed out waiting for {what}; metrics:\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn drops(m: &str, reason: &str) -> f64 {
    metric(
        m,
        &format!("outpost_trap_dropped_total{{reason=\"{reason}\"}}"),
    )
}

#[tokio::test]
async fn issue4_hostile_input_is_dropped_counted_and_survived() {
    let dir = tempfile::tempdir().unwrap();
    let (a, port, port6) = agent_with_traps(
        dir.path(),
        &[("OUTPOST_TRAP_ALLOWED_NETWORKS", "127.0.0.0/8")],
    );
    let dest = format!("127.0.0.1:{port}");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Malformed: garbage, empty, a truncated real trap, a wrong length, a huge OID subid.
    let good = {
        use outpost_snmp::{message::CommunityMessage, Message, Pdu, PduType, Version};
        Message::Community(CommunityMessage {
            version: Version::V2c,
            community: COMMUNITY.as_bytes().to_vec().into(),
            pdu: outpost_snmp::AnyPdu::Pdu(Pdu::new(PduType::TrapV2, 7, vec![])),
        })
        .encode()
    };
    let bad: Vec<Vec<u8>> = vec![
        b"hello, not snmp".to_vec(),
        vec![],
        good[..good.len() - 3].to_vec(),
        vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01],
        vec![
            0x30, 0x0b, 0x02, 0x01, 0x01, 0x04, 0x00, 0x06, 0x06, 0x2b, 0xff, 0xff, 0xff, 0xff,
            0xff,
        ],
    ];
    for b in &bad {
        sock.send_to(b, &dest).unwrap();
    }
    let (ok, _) = send(
        "snmptrap",
        &["-v2c", "-c", "wrongcomm", &dest, "", ".1.3.6.1.6.3.1.1.5.3"],
    );
    assert!(ok);
    // The configured user's arguments with one of them wrong (V3_ARGS[2] is the user,
    // V3_ARGS[8] the authentication pass phrase).
    let v3_but = |i: usize, wrong: &'static str| {
        let mut args = V3_ARGS.to_vec();
        args[i] = wrong;
        args.extend([
            "-e",
            "0x8000000001020304",
            &dest,
            "",
            ".1.3.6.1.6.3.1.1.5.1",
        ]);
        args
    };
    let (ok, _) = send("snmptrap", &v3_but(2, "nosuchuser"));
    assert!(ok);
    let (ok, _) = send("snmptrap", &v3_but(8, "wrongpass99"));
    assert!(ok);
    // From ::1, outside the allowed networks.
    let (ok, err) = send(
        "snmptrap",
        &[
            "-v2c",
            "-c",
            COMMUNITY,
            &format!("udp6:[::1]:{port6}"),
            "",
            ".1.3.6.1.6.3.1.1.5.3",
        ],
    );
    assert!(ok, "{err}");
    // A GET sent to the trap port is not a notification.
    let (_, _) = send(
        "snmpget",
        &[
            "-v2c",
            "-c",
            COMMUNITY,
            "-t",
            "0.2",
            "-r",
            "0",
            &dest,
            ".1.3.6.1.2.1.1.1.0",
        ],
    );
    let m = metrics_when(
        &a,
        "every hostile datagram counted",
        Duration::from_secs(10),
        |m| {
            drops(m, "malformed") >= 5.0
                && drops(m, "community") >= 1.0
                && drops(m, "unknown_user") >= 1.0
                && drops(m, "auth_failure") >= 1.0
                && drops(m, "source_network") >= 1.0
                && drops(m, "not_notification") >= 1.0
        },
    )
    .await;
    assert_eq!(drops(&m, "malformed"), 5.0, "{m}");
    assert_eq!(drops(&m, "community"), 1.0);
    assert_eq!(drops(&m, "unknown_user"), 1.0);
    assert_eq!(drops(&m, "auth_failure"), 1.0);
    assert_eq!(drops(&m, "source_network"), 1.0);
    assert_eq!(metric(&m, "outpost_trap_accepted_total"), 0.0);
    // Still alive and still receiving.
    let mut ws = a.events(0).await;
    let (ok, _) = send(
        "snmptrap",
        &["-v2c", "-c", COMMUNITY, &dest, "", ".1.3.6.1.6.3.1.1.5.4"],
    );
    assert!(ok);
    let ev = next_events(&mut ws, 1).await;
    assert_eq!(ev[0]["payload"]["trap_oid"], ".1.3.6.1.6.3.1.1.5.4");
    assert!(!a.log_text().contains("wrongpass99"));
}

fn rss_kib(pid: i32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn issue4_flood_keeps_memory_bounded_and_accounting_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (a, port, _) = agent_with_traps(
        dir.path(),
        &[
            ("OUTPOST_TRAP_QUEUE_CAPACITY", "2000"),
            ("OUTPOST_TRAP_RECV_BUFFER_BYTES", "65536"),
            ("OUTPOST_TRAP_LOG", "false"),
        ],
    );
    let before = rss_kib(a.pid(), "VmRSS:");
    let sent: u64 = 150_000;
    let dest = format!("127.0.0.1:{port}");
    let packets: Vec<Vec<u8>> = (0..1000).map(|i| v2c_trap(COMMUNITY, i + 1)).collect();
    let started = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            for i in 0..sent as usize {
                sock.send_to(&packets[i % packets.len()], &dest).unwrap();
            }
        });
    });
    let rate = sent as f64 / started.elapsed().as_secs_f64();
    let account = |m: &str| {
        let accepted = metric(m, "outpost_trap_accepted_total");
        let reasons = [
            "malformed",
            "community",
            "source_network",
            "unknown_user",
            "auth_failure",
            "not_notification",
            "queue_full",
            "store_error",
        ];
        let dropped: f64 = reasons.iter().map(|r| drops(m, r)).sum();
        let kernel = metric(m, "outpost_trap_kernel_drops_total");
        (accepted, dropped, kernel)
    };
    let m = metrics_when(
        &a,
        "every flooded trap accounted for",
        Duration::from_secs(120),
        |m| {
            let (acc, dr, k) = account(m);
            acc + dr + k >= sent as f64
        },
    )
    .await;
    let (accepted, dropped, kernel) = account(&m);
    eprintln!("flood: sent {sent} at {rate:.0}/s; accepted {accepted}, queue/filter drops {dropped}, kernel drops {kernel}");
    assert_eq!(
        accepted + dropped + kernel,
        sent as f64,
        "sent = accepted + counted drops\n{m}"
    );
    assert!(
        dropped + kernel > 0.0,
        "the flood was not above what the machine stores; raise it"
    );
    assert_eq!(
        drops(&m, "queue_full"),
        dropped,
        "only queue drops expected\n{m}"
    );
    let peak = rss_kib(a.pid(), "VmHWM:");
    eprintln!("rss before {before} KiB, peak {peak} KiB");
    assert!(
        peak < before + 150 * 1024,
        "memory grew by {} KiB",
        peak - before
    );
    // The accepted ones are all in the outbox, streamed on /v1/events.
    let mut ws = a.events(0).await;
    let evs = next_events(&mut ws, accepted as usize).await;
    assert!(evs.iter().all(|e| e["kind"] == "snmp.trap"));
    // No more than that: a result or event after them would be a bug; the stream goes quiet.
    assert!(tokio::time::timeout(Duration::from_millis(300), ws.next())
        .await
        .is_err());
}

#[tokio::test]
async fn issue4_shutdown_stores_every_queued_notification() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, port, _) = agent_with_traps(dir.path(), &[("OUTPOST_TRAP_LOG", "false")]);
    let dest = format!("127.0.0.1:{port}");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..5000 {
        sock.send_to(&v2c_trap(COMMUNITY, i + 1), &dest).unwrap();
    }
    // What the kernel dropped on arrival is final once the sends returned (loopback
    // delivers synchronously); the queue (65,536) cannot overflow with 5,000.
    let m = a.metrics().await;
    let kernel = metric(&m, "outpost_trap_kernel_drops_total") as i64;
    // Stop at once: whatever was read or still sits in the socket is stored before the
    // store closes.
    a.sigterm();
    assert!(a.wait_exit(Duration::from_secs(30)).success());
    let log = a.log_text();
    assert!(log.contains("stopped"), "{log}");
    let db = rusqlite::Connection::open(dir.path().join("outpost.db")).unwrap();
    let stored: i64 = db
        .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        stored + kernel,
        5000,
        "stored {stored}, kernel drops {kernel}"
    );
}

#[test]
fn issue4_traps_listen_prints_notifications_and_acknowledges_informs() {
    let (mut child, port, mut err) = traps_listen(&["--community", COMMUNITY, "--json"]);
    let dest = format!("127.0.0.1:{port}");
    let (ok, e) = send(
        "snmptrap",
        &[
            "-v2c",
            "-c",
            COMMUNITY,
            &dest,
            "55",
            ".1.3.6.1.6.3.1.1.5.3",
            ".1.3.6.1.2.1.2.2.1.1.2",
            "i",
            "2",
        ],
    );
    assert!(ok, "{e}");
    let (ok, e) = send(
        "snmpinform",
        &[
            "-v2c",
            "-c",
            COMMUNITY,
            "-t",
            "3",
            "-r",
            "1",
            &dest,
            "56",
            ".1.3.6.1.6.3.1.1.5.4",
        ],
    );
    assert!(ok, "inform not acknowledged: {e}");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..2 {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        lines.push(serde_json::from_str::<Json>(&l).unwrap());
    }
    assert_eq!(lines[0]["kind"], "snmp.trap");
    assert_eq!(lines[0]["payload"]["uptime"], 55);
    assert_eq!(lines[1]["kind"], "snmp.inform");
    assert_eq!(lines[1]["payload"]["trap_oid"], ".1.3.6.1.6.3.1.1.5.4");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert!(rest.contains("2 accepted"), "{rest}");
}

#[test]
fn issue4_config_show_redacts_trap_secrets() {
    let out = Command::new(common::BIN)
        .args(["config", "show"])
        .env("OUTPOST_TRAP_V3_USERS", V3_USERS)
        .env("OUTPOST_TRAP_COMMUNITIES", COMMUNITY)
        .env("TRAP_PORT", "1162")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        !text.contains("authpass123") && !text.contains(COMMUNITY),
        "{text}"
    );
    assert!(
        text.contains("1162"),
        "TRAP_PORT alias not honoured: {text}"
    );
    // A bad user entry is a usage error naming the key, without the password.
    let conf = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new(common::BIN)
        .args(["config", "check", "--config"])
        .arg(conf.path())
        .env("OUTPOST_TRAP_V3_USERS", "u:*:NOPE:topsecretpw")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("trap.v3_users") && !err.contains("topsecretpw"),
        "{err}"
    );
}

/// A v3 discovery probe (no engine ID, no user, reportable), as net-snmp sends before an
/// inform; returns the msgAuthoritativeEngineBoots of the Report it gets.
fn discovered_boots(dest: &str) -> i32 {
    use outpost_snmp::message::{Message, ScopedPdu};
    use outpost_snmp::pdu::{AnyPdu, PduType};
    use outpost_snmp::security::{self, EngineParams, SealParams, SecurityLevel};
    use outpost_snmp::size::DEFAULT_MSG_MAX_SIZE;
    use outpost_snmp::usm::LocalizedKeys;
    let probe = security::seal(&SealParams {
        msg_id: 4242,
        max_size: DEFAULT_MSG_MAX_SIZE,
        level: SecurityLevel::NoAuthNoPriv,
        reportable: true,
        engine: &EngineParams {
            engine_id: vec![],
            boots: 0,
            time: 0,
        },
        user_name: b"",
        scoped: &ScopedPdu {
            context_engine_id: vec![],
            context_name: vec![],
            pdu: AnyPdu::Pdu(outpost_snmp::Pdu::new(PduType::Get, 4242, vec![])),
        },
        keys: &LocalizedKeys {
            auth: None,
            privacy: None,
        },
        salt: 0,
    })
    .unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    sock.send_to(&probe, dest).unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    match Message::decode(&buf[..n]).unwrap() {
        Message::V3(head) => head.usm.engine_boots,
        Message::Community(_) => panic!("a community reply to a v3 probe"),
    }
}

#[tokio::test]
async fn issue4_v3_time_window_drops_replays_and_engine_boots_persist() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, port, _) = agent_with_traps(dir.path(), &[]);
    let dest = format!("127.0.0.1:{port}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("snmp_engine_boots")).unwrap(),
        "1\n"
    );
    assert_eq!(discovered_boots(&dest), 1);
    let v3 = V3_ARGS;
    // Traps: the sender is authoritative; -Z sets the boots and time it claims.
    let trap = |z: &str| {
        let args: Vec<&str> = [&["-e", "0x8000000001020304", "-Z", z][..], &v3[..]]
            .concat()
            .into_iter()
            .chain([dest.as_str(), "", ".1.3.6.1.6.3.1.1.5.1"])
            .collect();
        let (ok, err) = send("snmptrap", &args);
        assert!(ok, "snmptrap -Z {z}: {err}");
    };
    let expect = |accepted: f64, late: f64| {
        let a = &a;
        async move {
            metrics_when(a, "trap counters", Duration::from_secs(20), |m| {
                metric(m, "outpost_trap_accepted_total") == accepted
                    && drops(m, "not_in_time_window") == late
            })
            .await;
        }
    };
    trap("5,1000"); // first contact: learned
    expect(1.0, 0.0).await;
    trap("4,1000"); // an earlier boot: a replay
    expect(1.0, 1.0).await;
    trap("5,500"); // same boot, 500 s behind what it told us
    expect(1.0, 2.0).await;
    trap("5,1100"); // its clock moved on
    trap("6,3"); // it restarted
    expect(3.0, 2.0).await;
    trap("5,1200"); // the boot before the restart: a replay now
    expect(3.0, 3.0).await;

    // Informs: we are authoritative. A sender that claims boots and time of its own (-Z)
    // gets a notInTimeWindow Report, resynchronizes to ours, and is accepted on retry.
    let agent_id = std::fs::read_to_string(dir.path().join("agent_id")).unwrap();
    let engine: String = [0x80u8, 0x00, 0x1f, 0x88, 0x04]
        .iter()
        .chain(agent_id.trim().as_bytes().iter().take(27))
        .map(|b| format!("{b:02x}"))
        .collect();
    let engine = format!("0x{engine}");
    let args: Vec<&str> = [&["-e", engine.as_str(), "-Z", "9,77777"][..], &v3[..]]
        .concat()
        .into_iter()
        .chain([
            "-t",
            "3",
            "-r",
            "2",
            dest.as_str(),
            "",
            ".1.3.6.1.6.3.1.1.5.2",
        ])
        .collect();
    let (ok, err) = send("snmpinform", &args);
    let m = metrics_when(&a, "the stale inform", Duration::from_secs(20), |m| {
        drops(m, "not_in_time_window") == 4.0
    })
    .await;
    assert!(ok, "snmpinform after resynchronizing: {err}");
    assert_eq!(metric(&m, "outpost_trap_accepted_total"), 4.0, "{m}");

    // Boots grow across restarts, and discovery tells senders the new count.
    a.sigterm();
    assert!(a.wait_exit(Duration::from_secs(30)).success());
    drop(a);
    let (a, port, _) = agent_with_traps(dir.path(), &[]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("snmp_engine_boots")).unwrap(),
        "2\n"
    );
    assert_eq!(discovered_boots(&format!("127.0.0.1:{port}")), 2);
    drop(a);
}

#[tokio::test]
async fn issue4_mib_names_are_added_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (a, port, _) = agent_with_traps(dir.path(), &[("OUTPOST_TRAP_MIB_NAMES", "true")]);
    let mut ws = a.events(0).await;
    let dest = format!("127.0.0.1:{port}");
    let (ok, e) = send(
        "snmptrap",
        &[
            "-v2c",
            "-c",
            COMMUNITY,
            &dest,
            "55",
            ".1.3.6.1.6.3.1.1.5.3",
            ".1.3.6.1.2.1.2.2.1.1.2",
            "i",
            "2",
            ".1.3.6.1.4.1.99999.7",
            "s",
            "x",
        ],
    );
    assert!(ok, "{e}");
    let ev = next_events(&mut ws, 1).await.remove(0);
    let p = &ev["payload"];
    assert_eq!(p["trap_oid"], ".1.3.6.1.6.3.1.1.5.3");
    assert_eq!(p["trap_name"], "IF-MIB::linkDown");
    let names: Vec<&str> = p["varbinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "SNMPv2-MIB::sysUpTime.0",
            "SNMPv2-MIB::snmpTrapOID.0",
            "IF-MIB::ifIndex.2",
            "SNMPv2-SMI::enterprises.99999.7",
        ]
    );
    // The numeric forms stay: names are an addition, not a replacement.
    assert_eq!(p["varbinds"][2]["oid"], ".1.3.6.1.2.1.2.2.1.1.2");
}
