//! The net-snmp-style command runner: flags, usage errors, SET types, and
//! its output compared with net-snmp's tools against a real snmpd.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use outpost_snmp::cli::{parse, run_cli, CliError, Op};
use outpost_snmp::mib::Mib;
use outpost_snmp::{SnmpError, Value};

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

async fn run(s: &str) -> Result<String, CliError> {
    let mut out = Vec::new();
    run_cli(&args(s), &mut out).await?;
    Ok(String::from_utf8(out).unwrap())
}

#[test]
fn flags_parse_like_net_snmp() {
    let mib = Mib::builtin();
    let c = parse(
        &args("bulkwalk -v2c -c public -Cr25 -t 2.5 -r 1 -On udp6:[::1]:1161 IF-MIB::ifDescr"),
        &mib,
    )
    .unwrap();
    assert_eq!(c.op, Op::BulkWalk);
    assert_eq!(c.max_repetitions, 25);
    assert_eq!(c.target.retries, 1);
    assert_eq!(c.target.timeout.as_millis(), 2500);
    assert_eq!(c.oids[0].to_string(), ".1.3.6.1.2.1.2.2.1.2");
    let c = parse(
        &args("get -v 3 -l authPriv -u bob -a SHA-256 -A authpass123 -x AES256 -X privpass123 tcp:h:2 sysDescr.0"),
        &mib,
    )
    .unwrap();
    assert_eq!(c.oids[0].to_string(), ".1.3.6.1.2.1.1.1.0");
    // Credentials never show in Debug.
    let dbg = format!("{c:?}");
    assert!(
        !dbg.contains("authpass123") && !dbg.contains("privpass123"),
        "{dbg}"
    );
}

#[test]
fn bad_usage_is_a_usage_error() {
    let mib = Mib::builtin();
    for bad in [
        "",
        "fetch -v2c -c public h .1",
        "get -v2c h .1.3",
        "get -v2c -c public h",
        "get -v9 -c public h .1",
        "get -v3 -l authPriv -u bob -A authpass123 h .1",
        "get -v3 -l authNoPriv -u bob -A short h .1",
        "get -v2c -c public -Z h .1",
        "get -v2c -c public h IF-MIB::noSuchThing",
        "set -v2c -c private h .1.3.6.1.2.1.1.4.0 s",
        "set -v2c -c private h .1.3.6.1.2.1.1.4.0 q x",
        "get -v2c -c public -t x h .1",
    ] {
        match parse(&args(bad), &mib) {
            Err(CliError::Usage(_)) => {}
            other => panic!("{bad:?}: expected usage error, got {other:?}"),
        }
    }
}

#[test]
fn set_type_letters() {
    let mib = Mib::builtin();
    let c = parse(
        &args("set -v2c -c private h .1.1 i -5 .1.2 u 7 .1.3 s hi .1.4 x 0A0b .1.5 o sysName.0 .1.6 a 10.0.0.1 .1.7 t 100 .1.8 c 9 .1.9 g 3"),
        &mib,
    )
    .unwrap();
    let v: Vec<Value> = c.set.into_iter().map(|vb| vb.value).collect();
    assert_eq!(
        v,
        vec![
            Value::Integer(-5),
            Value::Gauge32(7),
            Value::OctetString(b"hi".to_vec()),
            Value::OctetString(vec![10, 11]),
            Value::ObjectId(".1.3.6.1.2.1.1.5.0".parse().unwrap()),
            Value::IpAddress([10, 0, 0, 1]),
            Value::TimeTicks(100),
            Value::Counter32(9),
            Value::Gauge32(3),
        ]
    );
}

#[tokio::test]
async fn output_matches_net_snmp_tools() {
    let d = Snmpd::start().await;
    let t = d.udp();
    let ours = run(&format!(
        "bulkwalk -v2c -c public -Cr7 {t} .1.3.6.1.2.1.1.9"
    ))
    .await
    .unwrap();
    let theirs = netsnmp(
        "snmpbulkwalk",
        &[
            "-v2c",
            "-c",
            "public",
            "-On",
            "-Cr7",
            &t,
            ".1.3.6.1.2.1.1.9",
        ],
    )
    .await;
    assert_eq!(ours, theirs);
    let v3 = v3_args("probe256").join(" ");
    let ours = run(&format!(
        "get {v3} {t} .1.3.6.1.2.1.1.1.0 .1.3.6.1.2.1.1.7.0 .1.3.6.1.2.1.1.99.0"
    ))
    .await
    .unwrap();
    let mut a: Vec<String> = v3_args("probe256");
    a.extend([
        "-On".into(),
        t.clone(),
        ".1.3.6.1.2.1.1.1.0".into(),
        ".1.3.6.1.2.1.1.7.0".into(),
        ".1.3.6.1.2.1.1.99.0".into(),
    ]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    assert_eq!(ours, netsnmp("snmpget", &a).await);
    // v1 walk ends with net-snmp's "End of MIB" line.
    let ours = run(&format!("walk -v1 -c public {t} .1.3.6.1.6.3.16.1.5"))
        .await
        .unwrap();
    let theirs = netsnmp(
        "snmpwalk",
        &["-v1", "-c", "public", "-On", &t, ".1.3.6.1.6.3.16.1.5"],
    )
    .await;
    assert_eq!(ours, theirs);
    // SET prints what the agent returned, as snmpset does.
    // sysLocation is set in the test config, hence read-only: the agent's
    // error comes back typed, with the index of the failed varbind.
    let err = run(&format!(
        "set -v2c -c private {t} .1.3.6.1.2.1.1.4.0 s x .1.3.6.1.2.1.1.6.0 x 4C41"
    ))
    .await
    .unwrap_err();
    let text = err.to_string();
    match err {
        CliError::Snmp(SnmpError::Agent {
            status,
            index: 2,
            failed,
        }) => {
            assert_eq!(status.0, 17, "notWritable");
            assert_eq!(failed.unwrap().to_string(), ".1.3.6.1.2.1.1.6.0");
            assert!(text.contains("failed object: .1.3.6.1.2.1.1.6.0"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    let ours = run(&format!(
        "set -v2c -c private {t} .1.3.6.1.2.1.1.4.0 s ops@example.net"
    ))
    .await
    .unwrap();
    let theirs = netsnmp(
        "snmpset",
        &[
            "-v2c",
            "-c",
            "private",
            "-On",
            &t,
            ".1.3.6.1.2.1.1.4.0",
            "s",
            "ops@example.net",
        ],
    )
    .await;
    assert_eq!(ours, theirs);
    // Walking a single instance falls back to GET, as snmpwalk does.
    let ours = run(&format!("walk -v2c -c public {t} .1.3.6.1.2.1.1.5.0"))
        .await
        .unwrap();
    let theirs = netsnmp(
        "snmpwalk",
        &["-v2c", "-c", "public", "-On", &t, ".1.3.6.1.2.1.1.5.0"],
    )
    .await;
    assert_eq!(ours, theirs);
}

#[tokio::test]
async fn json_and_errors() {
    let d = Snmpd::start().await;
    let t = d.udp();
    let out = run(&format!(
        "get --json -v2c -c public {t} sysServices.0 sysName.0"
    ))
    .await
    .unwrap();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["oid"], ".1.3.6.1.2.1.1.7.0");
    assert_eq!(lines[0]["value"]["type"], "Integer");
    assert_eq!(lines[0]["value"]["value"], 72);
    assert_eq!(lines[1]["value"]["type"], "OctetString");
    let err = run(&format!(
        "get -v2c -c wrongcommunity -t 0.2 -r 0 {t} sysName.0"
    ))
    .await
    .unwrap_err();
    assert!(
        matches!(err, CliError::Snmp(SnmpError::Timeout { .. })),
        "{err:?}"
    );
    assert!(!err.to_string().contains("wrongcommunity"));
    let err = run(&format!(
        "get -v3 -l authNoPriv -u authonly -a SHA-224 -A wrongpass99 {t} sysName.0"
    ))
    .await
    .unwrap_err();
    assert!(
        matches!(err, CliError::Snmp(SnmpError::WrongDigest)),
        "{err:?}"
    );
}

#[tokio::test]
async fn mib_directory_and_symbolic_output() {
    let d = Snmpd::start().await;
    let t = d.udp();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("NET-SNMP-EXAMPLE.txt"),
        "NET-SNMP-EXAMPLE DEFINITIONS ::= BEGIN\n\
         netSnmp OBJECT IDENTIFIER ::= { enterprises 8072 }\n\
         netSnmpAgentOIDs OBJECT IDENTIFIER ::= { netSnmp 3 }\n\
         netSnmpAgentOID OBJECT-IDENTITY STATUS current DESCRIPTION \"x\" ::= { netSnmpAgentOIDs 2 }\n\
         END\n",
    )
    .unwrap();
    let m = format!("-M {}", dir.path().display());
    let out = run(&format!(
        "get -Os {m} -v2c -c public {t} SNMPv2-MIB::sysObjectID.0 IF-MIB::ifDescr.1"
    ))
    .await
    .unwrap();
    let mut lines = out.lines();
    assert_eq!(
        lines.next().unwrap(),
        "SNMPv2-MIB::sysObjectID.0 = OID: .1.3.6.1.4.1.8072.3.2.10"
    );
    assert!(lines
        .next()
        .unwrap()
        .starts_with("IF-MIB::ifDescr.1 = STRING: "));
    let out = run(&format!("get --json {m} -v2c -c public {t} sysObjectID.0"))
        .await
        .unwrap();
    let j: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(j["name"], "SNMPv2-MIB::sysObjectID.0");
    // A name only the loaded file defines resolves on input (the agent has
    // nothing there, so the walk falls back to GET, as snmpwalk does).
    let out = run(&format!(
        "walk {m} -v2c -c public {t} NET-SNMP-EXAMPLE::netSnmpAgentOID"
    ))
    .await
    .unwrap();
    assert_eq!(
        out,
        ".1.3.6.1.4.1.8072.3.2 = No Such Object available on this agent at this OID\n"
    );
    let err = run(&format!(
        "get -M /nonexistent/dir -v2c -c public {t} sysName.0"
    ))
    .await
    .unwrap_err();
    assert!(matches!(err, CliError::Usage(_)), "{err:?}");
}

proptest::proptest! {
    /// Operators type anything; the parser answers with a usage error, never a panic.
    #[test]
    fn parse_never_panics(words in proptest::collection::vec("[-a-zA-Z0-9:.\\[\\]é€ ]{0,12}", 0..10)) {
        let mib = Mib::builtin();
        let mut args = vec!["get".to_string()];
        args.extend(words);
        let _ = parse(&args, &mib);
        args[0] = "set".into();
        let _ = parse(&args, &mib);
    }
}

#[test]
fn multibyte_flag_is_a_usage_error() {
    let mib = Mib::builtin();
    assert!(matches!(
        parse(&args("get -é h .1"), &mib),
        Err(CliError::Usage(_))
    ));
}
