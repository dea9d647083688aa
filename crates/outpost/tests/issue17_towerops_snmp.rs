//! Issue 17: Towerops' SNMP jobs through the adapter against a real snmpd, the results
//! checked against net-snmp's own reading of the same snmpd by the value rules (integers
//! and counters decimal; an octet string as text when valid UTF-8 without control bytes
//! other than \t\n\r, else lowercase colon hex, ifPhysAddress always hex; OIDs without the
//! leading dot; exceptions dropped), and delivery across a server that goes away mid-stream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{wait_for, Agent};
use outpost_proto::towerops::{
    AgentJob, AgentJobList, JobType, QueryType, SnmpDevice, SnmpQuery, SnmpResult,
};
use outpost_test_support::netsnmp::{netsnmp, parse_walk};
use outpost_test_support::snmpd::{Snmpd, AUTH_PASS, PRIV_PASS};
use outpost_test_support::towerops::Server;

const TOKEN: &str = "tok-issue17-snmp";

async fn agent_joined(server: &Server, dir: &std::path::Path) -> Agent {
    server.joined_agent(server.agent_options(dir)).await
}

fn device(snmpd: &Snmpd, version: &str, community: &str) -> SnmpDevice {
    SnmpDevice {
        ip: "127.0.0.1".into(),
        community: community.into(),
        version: version.into(),
        port: u32::from(snmpd.port),
        ..Default::default()
    }
}

fn job(id: &str, t: JobType, dev: SnmpDevice, gets: &[&str], walks: &[&str]) -> AgentJob {
    let q = |qt: QueryType, oids: &[&str]| SnmpQuery {
        query_type: qt as i32,
        oids: oids.iter().map(|s| s.to_string()).collect(),
    };
    let mut queries = Vec::new();
    if !gets.is_empty() {
        queries.push(q(QueryType::Get, gets));
    }
    if !walks.is_empty() {
        queries.push(q(QueryType::Walk, walks));
    }
    AgentJob {
        job_id: id.into(),
        job_type: t as i32,
        device_id: format!("dev-{id}"),
        snmp_device: Some(dev),
        queries,
        ..Default::default()
    }
}

/// The value rules applied to net-snmp's `-On -Ox` reading (every octet string in hex,
/// so the rule's text-or-hex choice is made here from the bytes net-snmp read).
fn expected(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in parse_walk(text) {
        let oid = e.oid.to_string();
        let oid = oid.trim_start_matches('.').to_owned();
        if oid.is_empty() || e.text.starts_with("No Such") || e.text.starts_with("No more") {
            continue;
        }
        let (label, value) = e.text.split_once(": ").unwrap_or(("", e.text.as_str()));
        let v = match label {
            _ if e.text == "\"\"" || label == "Hex-STRING" => {
                let bytes: Vec<u8> = if e.text == "\"\"" {
                    vec![]
                } else {
                    value
                        .split_whitespace()
                        .map(|h| u8::from_str_radix(h, 16).unwrap())
                        .collect()
                };
                let mac = oid.starts_with("1.3.6.1.2.1.2.2.1.6.");
                let text = std::str::from_utf8(&bytes).ok().filter(|_| {
                    !bytes
                        .iter()
                        .any(|b| (*b < 0x20 && !b"\t\n\r".contains(b)) || *b == 0x7f)
                });
                match text {
                    Some(t) if !mac => t.to_owned(),
                    _ => bytes
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(":"),
                }
            }
            "OID" => value.trim_start_matches('.').to_owned(),
            "Timeticks" => value
                .trim_start_matches('(')
                .split(')')
                .next()
                .unwrap()
                .to_owned(),
            _ => value.to_owned(),
        };
        out.insert(oid, v);
    }
    out
}

async fn net_get(snmpd: &Snmpd, args: &[&str], oids: &[&str]) -> BTreeMap<String, String> {
    let target = snmpd.udp();
    let mut a: Vec<&str> = vec!["-On", "-Ox", "-r", "1", "-t", "2"];
    a.extend(args);
    a.push(&target);
    a.extend(oids);
    expected(&netsnmp("snmpget", &a).await)
}

async fn net_walk(snmpd: &Snmpd, root: &str) -> BTreeMap<String, String> {
    let target = snmpd.udp();
    expected(
        &netsnmp(
            "snmpbulkwalk",
            &["-On", "-Ox", "-v2c", "-c", "public", &target, root],
        )
        .await,
    )
}

async fn results_for(server: &Server, id: &str) -> Vec<SnmpResult> {
    wait_for(
        &format!("the result of {id}"),
        Duration::from_secs(30),
        || async { server.results().iter().any(|r| r.job_id == id && r.r#final) },
    )
    .await;
    server
        .results()
        .into_iter()
        .filter(|r| r.job_id == id)
        .collect()
}

const GETS: &[&str] = &[
    "1.3.6.1.2.1.1.1.0",
    ".1.3.6.1.2.1.1.2.0",
    "1.3.6.1.2.1.1.4.0",
    "1.3.6.1.2.1.1.5.0",
    "1.3.6.1.2.1.1.6.0",
    "1.3.6.1.2.1.1.7.0",
    "1.3.6.1.2.1.1.99.0", // not there: dropped (v1: noSuchName, halved down to it, skipped)
];
const WALKS: &[&str] = &[
    "1.3.6.1.2.1.2.2.1.2", // ifDescr: text
    "1.3.6.1.2.1.2.2.1.6", // ifPhysAddress: always hex
    "1.3.6.1.2.1.1.9",     // sysORTable: OIDs, text, timeticks
];

#[tokio::test(flavor = "multi_thread")]
async fn issue17_towerops_poll_and_discover_match_netsnmp_by_the_value_rules() {
    let snmpd = Snmpd::start_with("sysContact Ops \u{e9}quipe\n").await;
    let server = Server::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let _agent = agent_joined(&server, dir.path()).await;
    let mut want = net_get(&snmpd, &["-v2c", "-c", "public"], GETS).await;
    let mut roots = BTreeSet::new();
    for w in WALKS {
        want.extend(net_walk(&snmpd, w).await);
        roots.insert(w.to_string());
    }
    assert!(
        want.contains_key("1.3.6.1.2.1.1.1.0") && want.len() > 10,
        "{want:?}"
    );
    assert_eq!(want["1.3.6.1.2.1.1.4.0"], "Ops \u{e9}quipe");

    let mut discover = job(
        "discover:1",
        JobType::Discover,
        device(&snmpd, "2c", "public"),
        GETS,
        WALKS,
    );
    discover.discovery_phase = 2;
    let list = AgentJobList {
        jobs: vec![
            job(
                "poll:v2c",
                JobType::Poll,
                device(&snmpd, "2c", "public"),
                GETS,
                WALKS,
            ),
            job(
                "poll:v1",
                JobType::Poll,
                device(&snmpd, "v1", "public"),
                GETS,
                WALKS,
            ),
            discover,
        ],
    };
    assert!(server.send_jobs(&list));
    for (id, t) in [("poll:v2c", 1), ("poll:v1", 1), ("discover:1", 0)] {
        let rs = results_for(&server, id).await;
        assert_eq!(rs.len(), 1, "{id}: one frame");
        let r = &rs[0];
        assert_eq!((r.sequence, r.r#final, r.partial), (0, true, false), "{id}");
        assert_eq!(r.job_type, t);
        assert_eq!(r.device_id, format!("dev-{id}"));
        assert_eq!(
            r.completed_roots.iter().cloned().collect::<BTreeSet<_>>(),
            roots,
            "{id}"
        );
        assert!(r.truncated_roots.is_empty());
        assert_eq!(
            r.oid_values, want,
            "{id}: the values differ from net-snmp's reading"
        );
    }
    assert_eq!(
        results_for(&server, "discover:1").await[0].discovery_phase,
        2
    );
    // Nothing failed, so no error.
    assert!(server.errors().is_empty(), "{:?}", server.errors());
}

#[tokio::test(flavor = "multi_thread")]
async fn issue17_towerops_v3_credentials_deadline_split_and_unreachable() {
    let snmpd = Snmpd::start().await;
    let server = Server::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let _agent = agent_joined(&server, dir.path()).await;
    let descr = net_get(&snmpd, &["-v2c", "-c", "public"], &["1.3.6.1.2.1.1.1.0"]).await;
    let name = net_get(&snmpd, &["-v2c", "-c", "public"], &["1.3.6.1.2.1.1.5.0"]).await;

    let v3 = SnmpDevice {
        ip: "127.0.0.1".into(),
        version: "3".into(),
        port: u32::from(snmpd.port),
        v3_security_level: "authPriv".into(),
        v3_username: "sha512".into(),
        v3_auth_protocol: "SHA-512".into(),
        v3_auth_password: AUTH_PASS.into(),
        v3_priv_protocol: "AES-192".into(),
        v3_priv_password: PRIV_PASS.into(),
        ..Default::default()
    };
    let mut wrong = device(&snmpd, "2c", "not-the-community");
    wrong.port = u32::from(snmpd.port);
    let fast = |mut j: AgentJob| {
        j.snmp_timeout_ms = 200;
        j.snmp_retries = 1;
        j
    };
    let closed = SnmpDevice {
        port: u32::from(outpost_test_support::ports::free_udp_port()),
        ..device(&snmpd, "2c", "public")
    };
    let mut deadline = job(
        "poll:deadline",
        JobType::Poll,
        device(&snmpd, "2c", "public"),
        &[],
        &["1.3.6.1"],
    );
    deadline.deadline_ms = 1;
    let mut split = job(
        "poll:split",
        JobType::Poll,
        device(&snmpd, "2c", "public"),
        &[],
        &["1.3.6.1.2.1.1", "1.3.6.1.2.1.2.2.1.2"],
    );
    split.max_result_bytes = 4096;
    let list = AgentJobList {
        jobs: vec![
            job("credential:ok", JobType::TestCredentials, v3, &[], &[]),
            fast(job(
                "credential:bad",
                JobType::TestCredentials,
                wrong,
                &[],
                &[],
            )),
            fast(job(
                "poll:closed",
                JobType::Poll,
                closed,
                &["1.3.6.1.2.1.1.1.0"],
                &[],
            )),
            deadline,
            split,
        ],
    };
    assert!(server.send_jobs(&list));
    wait_for("both credential tests", Duration::from_secs(30), || async {
        server.credential_tests().len() >= 2
    })
    .await;
    let tests = server.credential_tests();
    let ok = tests.iter().find(|t| t.test_id == "credential:ok").unwrap();
    assert!(ok.success, "{ok:?}");
    assert_eq!(ok.system_description, descr["1.3.6.1.2.1.1.1.0"]);
    assert_eq!(ok.sys_name, name["1.3.6.1.2.1.1.5.0"]);
    assert!(
        ok.sys_object_id.starts_with("1.3.6.1.4.1."),
        "{}",
        ok.sys_object_id
    );
    let bad = tests
        .iter()
        .find(|t| t.test_id == "credential:bad")
        .unwrap();
    assert!(!bad.success);
    assert!(
        bad.error_message.starts_with("SNMP test failed: "),
        "{}",
        bad.error_message
    );

    // A target that never answers: an error, not an empty result.
    wait_for(
        "the unreachable poll's error",
        Duration::from_secs(30),
        || async { server.errors().iter().any(|e| e.job_id == "poll:closed") },
    )
    .await;
    let e = server
        .errors()
        .into_iter()
        .find(|e| e.job_id == "poll:closed")
        .unwrap();
    assert!(
        e.message.starts_with("SNMP query failed: "),
        "{}",
        e.message
    );
    assert_eq!(e.device_id, "dev-poll:closed");

    // The deadline ends the walk early: partial, its root not completed.
    let d = results_for(&server, "poll:deadline").await;
    assert!(
        d.iter().all(|r| r.partial && r.completed_roots.is_empty()),
        "{d:?}"
    );

    // Split: frames numbered 1..N, final on the last, each within the budget; every root
    // not named in truncated_roots arrives whole, and nothing differs from net-snmp.
    let frames = results_for(&server, "poll:split").await;
    assert!(frames.len() > 1, "{} frame(s)", frames.len());
    let mut all = BTreeMap::new();
    for (i, r) in frames.iter().enumerate() {
        assert_eq!(r.sequence, i as u32 + 1);
        assert_eq!(r.r#final, i + 1 == frames.len());
        assert!(
            outpost_proto::towerops::WireMessage::encoded_len(r) * 4 / 3 <= 4096,
            "frame {i} too big"
        );
        all.extend(r.oid_values.clone());
    }
    let truncated = &frames[0].truncated_roots;
    for root in ["1.3.6.1.2.1.1", "1.3.6.1.2.1.2.2.1.2"] {
        let mut theirs = net_walk(&snmpd, root).await;
        theirs.remove("1.3.6.1.2.1.1.3.0"); // sysUpTime moves
        let ours: BTreeMap<_, _> = all
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{root}.")) && *k != "1.3.6.1.2.1.1.3.0")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if truncated.iter().any(|t| t == root) {
            assert!(ours.len() < theirs.len());
            for (k, v) in &ours {
                assert_eq!(Some(v), theirs.get(k), "{k}");
            }
        } else {
            assert_eq!(ours, theirs, "{root} whole");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue17_towerops_server_gone_mid_stream_every_result_arrives() {
    // Eight device addresses: one job at a time per device IP, and a device takes at most
    // 125 waiting (the original's per-target share), so 600 jobs need several devices.
    let snmpd = Snmpd::start_on_loopbacks(8).await;
    let server = Server::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let agent = agent_joined(&server, dir.path()).await;
    const N: usize = 600;
    let jobs = (0..N)
        .map(|i| {
            let mut d = device(&snmpd, "2c", "public");
            d.ip = outpost_test_support::snmpd::loopback(i % 8);
            job(
                &format!("poll:{i}"),
                JobType::Poll,
                d,
                &["1.3.6.1.2.1.1.5.0"],
                &["1.3.6.1.2.1.1.9"],
            )
        })
        .collect();
    assert!(server.send_jobs(&AgentJobList { jobs }));
    wait_for("the first results", Duration::from_secs(30), || async {
        !server.results().is_empty()
    })
    .await;
    // Gone in the middle of the stream, for longer than one reconnect attempt.
    server.stop();
    let before = server.results().len();
    wait_for("a failed reconnect", Duration::from_secs(30), || async {
        agent
            .log_text()
            .matches("towerops: connecting failed")
            .count()
            >= 1
    })
    .await;
    server.resume().await;
    wait_for("the second join", Duration::from_secs(30), || async {
        server.accepted_joins() >= 2
    })
    .await;
    wait_for("every job's result", Duration::from_secs(60), || async {
        let got: BTreeSet<String> = server.results().into_iter().map(|r| r.job_id).collect();
        got.len() == N
    })
    .await;
    let second: usize = server
        .pushes("result")
        .iter()
        .filter(|p| p.conn >= 2)
        .count();
    assert!(
        before < N && second > 0,
        "the stream was cut mid-way ({before} of {N} before) and resumed ({second} after)"
    );
    assert!(server.errors().is_empty(), "{:?}", server.errors());
}
