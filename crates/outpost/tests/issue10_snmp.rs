//! Issue 10, the SNMP items, through the real binary: params refused at submission name
//! their field in an operator's words (items 5 and 7, OIDs of item 3), TCP failures are
//! their own errors in jobs and in `outpost snmp` (item 2), and `LOG_LEVEL=debug` shows a
//! line per SNMP request, retry, reply and failure without a secret in them (item 10).
//! Against a real net-snmp snmpd (outpost-test-support's, reused, not copied).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{outpost_snmp_cli, Agent, Options};
use outpost::{api::jobs::decode_job, executors};
use outpost_test_support::snmpd as snmp;
use serde_json::{json, Value};

// Distinctive secrets, so a search for them cannot match anything else.
const COMMUNITY: &str = "c0mmunity-s3cret-1010";
const USER: &str = "wireuser10";
const AUTH_PASS: &str = "authS3cret-1010";
const PRIV_PASS: &str = "privS3cret-1010";
const WRONG_PASS: &str = "wr0ngS3cret-1010";
const SECRETS: &[&str] = &[COMMUNITY, AUTH_PASS, PRIV_PASS, WRONG_PASS];

fn assert_no_secret(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "secret {s:?} found in {what}");
    }
}

fn with(mut base: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

fn v2c(target: &str) -> Value {
    json!({"target": target, "version": "2c", "community": COMMUNITY})
}

fn v3(target: &str) -> Value {
    json!({"target": target, "version": "3", "user": USER, "auth_protocol": "SHA",
           "auth_password": AUTH_PASS, "priv_protocol": "AES", "priv_password": PRIV_PASS})
}

/// A loopback TCP port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// An OID of `arcs` sub-identifiers, each 3 octets on the wire.
fn long_oid(arcs: usize) -> String {
    format!(".1.3.6.1.4.1{}", ".100000".repeat(arcs))
}

#[test]
fn issue10_snmp_params_refused_at_submission_name_the_field() {
    let reg = executors::registry(std::time::Instant::now(), executors::Host::default());
    let t = "127.0.0.1:1161";
    let oid = json!({"oids": [".1.3.6.1.2.1.1.1.0"]});
    let get2 = with(v2c(t), oid.clone());
    let get3 = with(v3(t), oid.clone());
    let big = "S".repeat(70_000);
    let long_oids: Vec<String> = (0..1024).map(|_| long_oid(100)).collect();
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "snmp.get",
            with(get2.clone(), json!({"version": "4"})),
            "params.version",
            r#""1", "2c" or "3""#,
        ),
        (
            "snmp.get",
            with(get2.clone(), json!({"version": 2})),
            "params.version",
            r#""1", "2c" or "3""#,
        ),
        (
            "snmp.get",
            with(get2.clone(), json!({"target": 161})),
            "params.target",
            "must be a string",
        ),
        (
            "snmp.get",
            with(get2.clone(), json!({"target": null})),
            "params.target",
            "target is required",
        ),
        (
            "snmp.get",
            with(get2.clone(), json!({"target": "127.0.0.1:0"})),
            "params.target",
            "from 1 to 65535",
        ),
        (
            "snmp.walk",
            with(v2c("tcp:h:0"), json!({})),
            "params.target",
            "from 1 to 65535",
        ),
        (
            "snmp.get",
            with(get2.clone(), json!({"community": 5})),
            "params.community",
            "community must be a string",
        ),
        (
            "snmp.get",
            with(get3.clone(), json!({"auth_protocol": "XYZ"})),
            "params.auth_protocol",
            "one of MD5, SHA, SHA-224",
        ),
        (
            "snmp.get",
            with(get3.clone(), json!({"priv_protocol": "ROT13"})),
            "params.priv_protocol",
            "one of DES, AES",
        ),
        (
            "snmp.get",
            with(get3.clone(), json!({"auth_password": "x"})),
            "params.auth_password",
            "at least 8 characters",
        ),
        (
            "snmp.get",
            with(get3.clone(), json!({"priv_password": "x"})),
            "params.priv_password",
            "at least 8 characters",
        ),
        (
            "snmp.get",
            with(
                get3.clone(),
                json!({"auth_protocol": null, "auth_password": null}),
            ),
            "params.priv_protocol",
            "privacy needs authentication",
        ),
        (
            "snmp.get",
            with(get3.clone(), json!({"auth_protocol": null})),
            "params.auth_protocol",
            "auth_password is set without auth_protocol",
        ),
        (
            "snmp.get",
            with(get2.clone(), json!({"timeout_ms": 0})),
            "params.timeout_ms",
            "from 1 to",
        ),
        (
            "snmp.get",
            with(get2.clone(), json!({"timeout_ms": "fast"})),
            "params.timeout_ms",
            "milliseconds",
        ),
        (
            "snmp.get",
            with(get2.clone(), json!({"timeout_ms": u64::MAX})),
            "params.timeout_ms",
            "from 1 to",
        ),
        (
            "snmp.get",
            with(get2.clone(), json!({"retries": -1})),
            "params.retries",
            "whole number",
        ),
        // Item 7: requests no UDP datagram can carry.
        (
            "snmp.get",
            with(get2.clone(), json!({"community": big})),
            "params.community",
            "request exceeds the UDP datagram limit",
        ),
        (
            "snmp.walk",
            with(v2c(t), json!({"community": big})),
            "params.community",
            "request exceeds the UDP datagram limit",
        ),
        (
            "snmp.get",
            with(get3.clone(), json!({"user": big})),
            "params.user",
            "request exceeds the UDP datagram limit",
        ),
        (
            "snmp.get",
            with(v2c(t), json!({"oids": long_oids})),
            "params.oids",
            "request exceeds the UDP datagram limit",
        ),
        (
            "snmp.get",
            with(v2c("udp6:[::1]:161"), json!({"oids": long_oids})),
            "params.oids",
            "at most 65527",
        ),
        (
            "snmp.set",
            with(
                v2c(t),
                json!({"varbinds": [{"oid": ".1.3.6.1.2.1.1.4.0", "type": "s", "value": big}]}),
            ),
            "params.varbinds",
            "request exceeds the UDP datagram limit",
        ),
        // Item 3: OIDs BER cannot carry as written, on every path.
        (
            "snmp.get",
            with(v2c(t), json!({"oids": [".1.3.6.1.2.1.1.1.0", "3.1"]})),
            "params.oids[1]",
            r#"invalid OID "3.1""#,
        ),
        (
            "snmp.get",
            with(v2c(t), json!({"oids": ["0.50"]})),
            "params.oids[0]",
            r#"invalid OID "0.50""#,
        ),
        (
            "snmp.walk",
            with(v2c(t), json!({"oid": "3.1"})),
            "params.oid",
            r#"invalid OID "3.1""#,
        ),
        (
            "snmp.walk",
            with(v2c(t), json!({"oid": "iso.50"})),
            "params.oid",
            r#"invalid OID "iso.50""#,
        ),
        (
            "snmp.set",
            with(
                v2c(t),
                json!({"varbinds": [{"oid": "0.50", "type": "i", "value": 1}]}),
            ),
            "params.varbinds[0].oid",
            r#"invalid OID "0.50""#,
        ),
        (
            "snmp.set",
            with(
                v2c(t),
                json!({"varbinds": [{"oid": ".1.3.6.1.2.1.1.4.0", "type": "o", "value": "3.1"}]}),
            ),
            "params.varbinds[0]",
            "3.1",
        ),
    ];
    for (kind, params, field, words) in cases {
        let body = serde_json::to_vec(&json!({"kind": kind, "params": params})).unwrap();
        let e = decode_job(&reg, &body).expect_err(field);
        let shown = format!("{} {:?} {}", e.status, e.field, e.message);
        assert_eq!(e.status.as_u16(), 422, "{shown}");
        assert_eq!(e.field.as_deref(), Some(field), "{shown}");
        assert!(e.message.contains(words), "{field}: {shown}");
        assert!(e.message.len() < 600, "a bounded message: {shown}");
        assert_no_secret("a 422", &e.message);
        assert!(
            !e.message.contains("SSSSSSSS"),
            "the value is not echoed: {shown}"
        );
    }
    // The same sizes are fine where they fit: TCP carries them, and 20 such OIDs fit UDP.
    for (kind, params) in [
        (
            "snmp.get",
            with(v2c("tcp:127.0.0.1:1161"), json!({"oids": long_oids})),
        ),
        ("snmp.get", with(v2c(t), json!({"oids": long_oids[..20]}))),
        (
            "snmp.get",
            with(get2.clone(), json!({"timeout_ms": 1, "retries": 0})),
        ),
        (
            "snmp.get",
            with(v2c(t), json!({"oids": ["0.39", "1.39", "2.40", "2.999.1"]})),
        ),
    ] {
        let body = serde_json::to_vec(&json!({"kind": kind, "params": params})).unwrap();
        let r = decode_job(&reg, &body);
        assert!(r.is_ok(), "{:?}", r.err());
    }
}

#[tokio::test]
async fn issue10_cli_reports_tcp_failures_and_refuses_what_cannot_be_sent() {
    let refused = format!("tcp:127.0.0.1:{}", closed_port());
    for (target, words) in [
        (refused.as_str(), "(Connection refused)"),
        ("tcp:255.255.255.255:161", "(Network is unreachable)"),
    ] {
        let (code, out, err, took) = outpost_snmp_cli(&[
            "get",
            "-v2c",
            "-c",
            COMMUNITY,
            "-t",
            "2",
            "-r",
            "3",
            target,
            ".1.3.6.1.2.1.1.1.0",
        ])
        .await;
        assert_eq!(code, 1, "{err}");
        assert!(out.is_empty());
        assert!(err.contains(words) && err.contains(target), "{err}");
        assert!(
            !err.contains("timeout") && !err.contains("community"),
            "{err}"
        );
        // Failed at once, as net-snmp does; not after 4 attempts of 2 s.
        assert!(took < Duration::from_secs(2), "took {took:?}");
        assert_no_secret("stderr", &err);
    }
    let big = "S".repeat(70_000);
    let long: Vec<String> = (0..300).map(|_| long_oid(100)).collect();
    let mut many = vec!["get", "-v2c", "-c", COMMUNITY, "127.0.0.1:1161"];
    many.extend(long.iter().map(String::as_str));
    for (args, words) in [
        (
            vec!["get", "-v2c", "-c", COMMUNITY, "127.0.0.1:1161", "3.1"],
            r#"invalid OID "3.1""#,
        ),
        (
            vec!["walk", "-v2c", "-c", COMMUNITY, "127.0.0.1:1161", "0.50"],
            r#"invalid OID "0.50""#,
        ),
        (
            vec![
                "set",
                "-v2c",
                "-c",
                COMMUNITY,
                "127.0.0.1:1161",
                "3.1",
                "i",
                "1",
            ],
            r#"invalid OID "3.1""#,
        ),
        (
            vec!["get", "-v2c", "-c", COMMUNITY, "127.0.0.1:0", ".1.3"],
            "from 1 to 65535",
        ),
        (
            vec![
                "get",
                "-v2c",
                "-c",
                COMMUNITY,
                "-t",
                "0",
                "127.0.0.1",
                ".1.3",
            ],
            "Invalid timeout",
        ),
        (
            vec![
                "get",
                "-v2c",
                "-c",
                COMMUNITY,
                "-t",
                "1e300",
                "127.0.0.1",
                ".1.3",
            ],
            "Invalid timeout",
        ),
        (
            vec!["get", "-v2c", "-c", &big, "127.0.0.1:1161", ".1.3"],
            "request exceeds the UDP datagram limit",
        ),
        (many, "request exceeds the UDP datagram limit"),
    ] {
        let (code, out, err, _) = outpost_snmp_cli(&args).await;
        assert_eq!(code, 2, "{:?}: {err}", &args[..5]);
        assert!(out.is_empty());
        assert!(err.contains(words), "{:?}: {err}", &args[..5]);
        assert_no_secret("a usage error", &err);
    }
}

/// The snmpd for the job tests: the standard users plus this test's own secrets.
async fn snmpd() -> snmp::Snmpd {
    snmp::Snmpd::start_with(&format!(
        "rocommunity {COMMUNITY} 127.0.0.1 .1\n\
         createUser {USER} SHA {AUTH_PASS} AES {PRIV_PASS}\nrouser {USER} priv .1\n"
    ))
    .await
}

async fn run_job(a: &Agent, kind: &str, params: Value) -> (Value, Duration) {
    let t0 = Instant::now();
    let (st, body) = a
        .submit(
            json!({"kind": kind, "params": params, "timeout_ms": 20000}),
            Some(30.0),
        )
        .await;
    assert_eq!(st, 200, "{kind}: {body}");
    (body, t0.elapsed())
}

/// Lines of `log` holding every one of `words`.
fn lines_with<'a>(log: &'a str, words: &[&str]) -> Vec<&'a str> {
    log.lines()
        .filter(|l| words.iter().all(|w| l.contains(w)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue10_snmp_jobs_fail_by_cause_and_debug_logs_every_request_without_secrets() {
    let d = snmpd().await;
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(dir.path()).env("LOG_LEVEL", "debug"));
    let t = d.udp();

    // Item 2 through jobs: each cause its own code, at once, whatever the retries.
    let refused = format!("tcp:127.0.0.1:{}", closed_port());
    for (target, code, words) in [
        (
            refused.as_str(),
            "connection_refused",
            "(Connection refused)",
        ),
        (
            "tcp:255.255.255.255:161",
            "unreachable",
            "(Network is unreachable)",
        ),
    ] {
        let params = with(
            v2c(target),
            json!({"oids": [".1.3.6.1.2.1.1.1.0"], "timeout_ms": 3000, "retries": 3}),
        );
        let (job, took) = run_job(&a, "snmp.get", params).await;
        assert_eq!(job["state"], "failed", "{job}");
        assert_eq!(job["error"]["code"], code, "{job}");
        let msg = job["error"]["message"].as_str().unwrap();
        assert!(msg.contains(words) && !msg.contains("community"), "{job}");
        assert!(took < Duration::from_secs(3), "took {took:?}");
    }
    // Over TCP to the real snmpd the same job succeeds.
    let (job, _) = run_job(
        &a,
        "snmp.get",
        with(v2c(&d.tcp()), json!({"oids": [".1.3.6.1.2.1.1.5.0"]})),
    )
    .await;
    assert_eq!(job["state"], "succeeded", "{job}");

    // Requests of every kind, to fill the log: v2c and v3 gets, a walk, a timeout with
    // retries (wrong community), a wrong v3 pass phrase.
    let (job, _) = run_job(
        &a,
        "snmp.get",
        with(v2c(&t), json!({"oids": ["sysDescr.0", "sysName.0"]})),
    )
    .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let (job, _) = run_job(
        &a,
        "snmp.get",
        with(v3(&t), json!({"oids": ["sysDescr.0"]})),
    )
    .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let (job, _) = run_job(
        &a,
        "snmp.walk",
        with(
            v2c(&t),
            json!({"oid": ".1.3.6.1.6.3.16", "max_repetitions": 5}),
        ),
    )
    .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let (job, _) = run_job(
        &a,
        "snmp.get",
        json!({"target": t, "community": WRONG_PASS, "oids": ["sysDescr.0"], "timeout_ms": 150, "retries": 2}),
    )
    .await;
    assert_eq!(job["error"]["code"], "timeout", "{job}");
    let (job, _) = run_job(
        &a,
        "snmp.get",
        with(
            v3(&t),
            json!({"oids": ["sysDescr.0"], "auth_password": WRONG_PASS}),
        ),
    )
    .await;
    assert_eq!(job["error"]["code"], "wrong_digest", "{job}");

    let m = a.metrics().await;
    let sent = common::metric(&m, "outpost_snmp_requests_sent_total");
    let retransmits = common::metric(&m, "outpost_snmp_retransmits_total");
    let log = a.log_text();
    // One line per request sent, one per retry: exactly what /metrics counted.
    let first = lines_with(
        &log,
        &["snmp request", "request_id=", "varbinds=", "attempt=1"],
    );
    let retries = lines_with(&log, &["snmp retry", "request_id=", "attempt="]);
    assert_eq!(first.len() as f64, sent - retransmits, "{log}");
    assert_eq!(retries.len() as f64, retransmits, "{log}");
    assert!(
        retries.len() >= 2,
        "the wrong community's two retries: {log}"
    );
    for op in ["get", "getbulk", "discovery"] {
        assert!(
            first
                .iter()
                .any(|l| l.contains(&format!("op={op}")) && l.contains(t.as_str())),
            "no {op} request line for {t}: {log}"
        );
    }
    assert!(
        !lines_with(&log, &["snmp reply", "request_id=", "elapsed_ms="]).is_empty(),
        "{log}"
    );
    for words in [
        &["snmp request failed", "timeout"][..],
        &["snmp request failed", "(Connection refused)"],
        &["snmp request failed", "(Network is unreachable)"],
        &["snmp v3 engine discovered", "engine_id=0x"],
        &["snmp v3 report", "1.3.6.1.6.3.15.1.1.5.0"],
    ] {
        assert!(
            !lines_with(&log, words).is_empty(),
            "no line with {words:?}: {log}"
        );
    }
    assert!(!log.contains("TRACE"), "debug, not trace");
    assert_no_secret("the agent's debug log", &log);
}
