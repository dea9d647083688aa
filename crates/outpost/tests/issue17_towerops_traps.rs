//! Issue 17 ("Traps: every accepted notification also goes out as `trap`"): net-snmp's own
//! `snmptrap` sends v1 and v2c notifications to the agent's receiver; the in-suite
//! Towerops server gets each as a `trap` frame (SnmpTrap: source, version, the RFC 3584
//! trap OID for v1, enterprise, generic, specific, uptime, undotted varbind keys with the
//! value rules). Traps go through the outbox, so one received while the server is away
//! arrives when it returns (the original held 1,000 in memory).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{wait_for, Agent, Options};
use outpost_proto::towerops::SnmpTrap;
use outpost_test_support::netsnmp::run as send;
use outpost_test_support::towerops::Server;

const TOKEN: &str = "tok-issue17-traps";
const COMMUNITY: &str = "c0mmunity-issue17";

fn agent(dir: &std::path::Path, server: &Server) -> (Agent, u16) {
    let a = Agent::start(
        Options::new(dir)
            .env("TOWEROPS_API_URL", &server.api_url())
            .env("TOWEROPS_AGENT_TOKEN", TOKEN)
            .env("TOWEROPS_INSECURE", "true")
            .env("TRAP_ENABLED", "true")
            .env("TRAP_PORT", "0")
            .env("OUTPOST_TRAP_LISTEN", "127.0.0.1")
            .env("OUTPOST_TRAP_COMMUNITIES", COMMUNITY),
    );
    let log = a.log_text();
    let i = log
        .find("receiving on udp:127.0.0.1:")
        .unwrap_or_else(|| panic!("no trap socket in the log:\n{log}"));
    let port = log[i + "receiving on udp:127.0.0.1:".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap();
    (a, port)
}

fn snmptrap(args: &[&str]) {
    let (ok, err) = send("snmptrap", args);
    assert!(ok, "snmptrap {args:?}: {err}");
}

async fn traps(server: &Server, n: usize) -> Vec<SnmpTrap> {
    wait_for(
        &format!("{n} trap frames"),
        Duration::from_secs(20),
        || async { server.decoded::<SnmpTrap>("trap").len() >= n },
    )
    .await;
    server.decoded::<SnmpTrap>("trap")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_towerops_traps_reach_the_server_as_snmptrap_and_survive_its_absence() {
    let server = Server::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let (a, port) = agent(dir.path(), &server);
    wait_for("the join", Duration::from_secs(20), || async {
        server.accepted_joins() >= 1
    })
    .await;
    let dest = format!("127.0.0.1:{port}");
    // v1 enterprise-specific, with a string and an interface MAC.
    snmptrap(&[
        "-v1",
        "-c",
        COMMUNITY,
        &dest,
        ".1.3.6.1.4.1.8072.2.3",
        "127.0.0.1",
        "6",
        "17",
        "12345",
        ".1.3.6.1.4.1.8072.2.3.2.1",
        "s",
        "core1 sw",
        ".1.3.6.1.2.1.2.2.1.6.2",
        "x",
        "001bff000102",
    ]);
    let t = traps(&server, 1).await.remove(0);
    assert_eq!(t.source_ip, "127.0.0.1");
    assert_eq!(t.version, 1);
    assert_eq!(t.trap_oid, "1.3.6.1.4.1.8072.2.3.0.17");
    assert_eq!(t.enterprise, "1.3.6.1.4.1.8072.2.3");
    assert_eq!(
        (t.generic_trap, t.specific_trap, t.uptime_ticks),
        (6, 17, 12345)
    );
    assert_eq!(t.varbinds["1.3.6.1.4.1.8072.2.3.2.1"], "core1 sw");
    assert_eq!(t.varbinds["1.3.6.1.2.1.2.2.1.6.2"], "00:1b:ff:00:01:02");
    assert!(t.timestamp > 1_700_000_000, "{}", t.timestamp);
    // v2c linkDown with a counter and an address.
    snmptrap(&[
        "-v2c",
        "-c",
        COMMUNITY,
        &dest,
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
    ]);
    let t = traps(&server, 2).await.remove(1);
    assert_eq!(t.version, 2);
    assert_eq!(t.trap_oid, "1.3.6.1.6.3.1.1.5.3");
    assert_eq!((t.enterprise.as_str(), t.uptime_ticks), ("", 777));
    assert_eq!(t.varbinds["1.3.6.1.2.1.2.2.1.1.2"], "2");
    assert_eq!(t.varbinds["1.3.6.1.2.1.31.1.1.1.6.2"], "12345678901");
    assert_eq!(t.varbinds["1.3.6.1.2.1.4.20.1.1.10.0.0.1"], "10.0.0.1");
    assert_eq!(t.varbinds["1.3.6.1.6.3.1.1.4.1.0"], "1.3.6.1.6.3.1.1.5.3");

    // The server goes away; a trap received meanwhile is stored, and sent when it returns.
    server.stop();
    snmptrap(&[
        "-v2c",
        "-c",
        COMMUNITY,
        &dest,
        "888",
        ".1.3.6.1.6.3.1.1.5.4",
        ".1.3.6.1.2.1.1.5.0",
        "s",
        "while away",
    ]);
    a.wait_metric("the trap stored", "outpost_trap_accepted_total", |v| {
        v >= 3.0
    })
    .await;
    server.resume().await;
    let all = traps(&server, 3).await;
    assert_eq!(all[2].trap_oid, "1.3.6.1.6.3.1.1.5.4", "{all:?}");
    assert_eq!(all[2].varbinds["1.3.6.1.2.1.1.5.0"], "while away");
}
