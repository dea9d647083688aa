//! The service checks through `outpost run` (`POST /v1/jobs?wait=`), each against a real
//! local server of the test's own, for OK, WARNING and CRITICAL:
//! - `check.http`: plain HTTP (statuses, regex, thresholds, redirects, body cap, headers
//!   and body sent) and HTTPS with certificates from a CA of the test's own (valid with
//!   `ca_file`, untrusted without, expired, wrong host name, `verify_tls: false`);
//! - `check.tls`: expiry, near expiry, chain validity and host-name match, each reported;
//! - `check.tcp`: an echo server (send/expect, mismatch, refused port);
//! - `check.dns`: Debian's dnsmasq for every record type, expected values present and
//!   absent, NXDOMAIN, TCP fallback on truncation, a server that never answers;
//! - a `check.http` run by the scheduler, its result stored like any job's;
//! - bad params: 422 naming the field.
//!
//! A check that runs is a succeeded job whatever it found; its output is the CheckResult.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{wait_for, Agent, Options};
use outpost_test_support::dnsmasq::Dnsmasq;
use outpost_test_support::https::{TestCa, WebServer};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs one check as a job and returns its output (the CheckResult).
async fn check(a: &Agent, kind: &str, params: Value) -> Value {
    let (st, body) = a
        .submit(json!({"kind": kind, "params": params}), Some(30.0))
        .await;
    assert_eq!(st, 200, "{kind} {params}: {body}");
    assert_eq!(
        body["state"], "succeeded",
        "a check that ran is a succeeded job: {body}"
    );
    body["output"].clone()
}

fn assert_state(out: &Value, state: &str) {
    let code = ["OK", "WARNING", "CRITICAL", "UNKNOWN"]
        .iter()
        .position(|s| *s == state)
        .unwrap();
    assert_eq!(out["state"], state, "{out:#}");
    assert_eq!(out["status"], code, "{out:#}");
    assert!(
        out["output"].as_str().unwrap().contains(state),
        "the one-line output names the state: {out:#}"
    );
    assert!(out["response_time_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(out["perfdata"][0]["label"], "time", "{out:#}");
    assert_eq!(out["perfdata"][0]["uom"], "s", "{out:#}");
}

fn agent() -> (Agent, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (Agent::start(Options::new(dir.path())), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_checks_http_states_regex_thresholds_redirects_and_body_cap() {
    let (a, _dir) = agent();
    let web = WebServer::start_plain().await;

    // OK: 200, the regex found, size perfdata.
    let out = check(
        &a,
        "check.http",
        json!({"url": web.url("/"), "regex": "hello from .* server"}),
    )
    .await;
    assert_state(&out, "OK");
    assert_eq!(out["details"]["http_status"], 200);
    assert_eq!(out["details"]["regex_matched"], true);
    assert_eq!(out["perfdata"][1]["label"], "size");
    assert_eq!(out["perfdata"][1]["value"], 34.0);
    assert!(out["output"]
        .as_str()
        .unwrap()
        .starts_with("HTTP OK: HTTP/1.1 200 OK - 34 bytes in "));

    // Method, headers and body are sent as given.
    let out = check(
        &a,
        "check.http",
        json!({"url": web.url("/echo"), "method": "post", "headers": {"X-Probe": "yes"},
               "body": "ping-body", "regex": "(?s)^POST /echo HTTP/1.1.*x-probe: yes.*ping-body$"}),
    )
    .await;
    assert_state(&out, "OK");

    // A credential header is sent, and not kept in the stored job's params.
    let (st, body) = a
        .submit(
            json!({"kind": "check.http", "params": {"url": web.url("/echo"),
                "headers": {"Authorization": "Bearer s3cret"},
                "regex": "authorization: Bearer s3c.et"}}),
            Some(30.0),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_state(&body["output"], "OK");
    let stored = a.job(body["id"].as_str().unwrap()).await;
    assert!(!stored.to_string().contains("s3cret"), "{stored}");

    // check_http's rule without expect_status: 3xx OK (not followed), 4xx WARNING, 5xx
    // CRITICAL.
    let out = check(&a, "check.http", json!({"url": web.url("/redirect/1")})).await;
    assert_state(&out, "OK");
    assert_eq!(out["details"]["http_status"], 302);
    let out = check(&a, "check.http", json!({"url": web.url("/status/404")})).await;
    assert_state(&out, "WARNING");
    let out = check(&a, "check.http", json!({"url": web.url("/status/503")})).await;
    assert_state(&out, "CRITICAL");

    // expect_status: in the set OK, out of it CRITICAL (even a 200).
    let out = check(
        &a,
        "check.http",
        json!({"url": web.url("/status/404"), "expect_status": "200,400-404"}),
    )
    .await;
    assert_state(&out, "OK");
    let out = check(
        &a,
        "check.http",
        json!({"url": web.url("/"), "expect_status": [201, "3xx"]}),
    )
    .await;
    assert_state(&out, "CRITICAL");
    assert!(out["output"]
        .as_str()
        .unwrap()
        .contains("status 200 not in 201,300-399"));

    // Regex absent: CRITICAL; inverted and present: CRITICAL; inverted and absent: OK.
    let out = check(
        &a,
        "check.http",
        json!({"url": web.url("/"), "regex": "goodbye"}),
    )
    .await;
    assert_state(&out, "CRITICAL");
    assert!(out["output"]
        .as_str()
        .unwrap()
        .contains("pattern not found"));
    let out = check(
        &a,
        "check.http",
        json!({"url": web.url("/"), "regex": "hello", "invert_regex": true}),
    )
    .await;
    assert_state(&out, "CRITICAL");
    let out = check(
        &a,
        "check.http",
        json!({"url": web.url("/"), "regex": "goodbye", "invert_regex": true}),
    )
    .await;
    assert_state(&out, "OK");

    // Response time: a 300 ms answer is WARNING past 100 ms, CRITICAL past 200 ms; the
    // thresholds are in the perfdata, in seconds.
    let out = check(
        &a,
        "check.http",
        json!({"url": web.url("/slow/300"), "warn_ms": 100, "crit_ms": 5000}),
    )
    .await;
    assert_state(&out, "WARNING");
    assert!(out["response_time_ms"].as_f64().unwrap() >= 300.0);
    assert_eq!(out["perfdata"][0]["warn"], "0.100000");
    assert_eq!(out["perfdata"][0]["crit"], "5.000000");
    let out = check(
        &a,
        "check.http",
        json!({"url": web.url("/slow/300"), "warn_ms": 100, "crit_ms": 200}),
    )
    .await;
    assert_state(&out, "CRITICAL");
    // No answer within the timeout: CRITICAL, not a failed job.
    let out = check(
        &a,
        "check.http",
        json!({"url": web.url("/slow/3000"), "timeout_ms": 300}),
    )
    .await;
    assert_state(&out, "CRITICAL");
    assert!(out["output"].as_str().unwrap().contains("timeout"), "{out}");

    // Redirects followed (bounded): arrived after 3; past max_redirects WARNING.
    let out = check(
        &a,
        "check.http",
        json!({"url": web.url("/redirect/3"), "follow_redirects": true, "regex": "arrived"}),
    )
    .await;
    assert_state(&out, "OK");
    assert_eq!(out["details"]["redirects"], 3);
    assert!(out["details"]["final_url"]
        .as_str()
        .unwrap()
        .ends_with("/redirect/0"));
    let out = check(
        &a,
        "check.http",
        json!({"url": web.url("/redirect/3"), "follow_redirects": true, "max_redirects": 2}),
    )
    .await;
    assert_state(&out, "WARNING");
    assert!(out["output"]
        .as_str()
        .unwrap()
        .contains("maximum redirection depth 2 exceeded"));

    // The body read is capped; the regex sees only what was read.
    let out = check(
        &a,
        "check.http",
        json!({"url": web.url("/bytes/200000"), "max_body_bytes": 1000}),
    )
    .await;
    assert_state(&out, "OK");
    assert_eq!(out["details"]["bytes"], 1000);
    assert_eq!(out["details"]["truncated"], true);
    let out = check(&a, "check.http", json!({"url": web.url("/bytes/200000")})).await;
    assert_eq!(out["details"]["bytes"], 200000);
    assert_eq!(out["details"]["truncated"], false);

    // Nothing listening: CRITICAL, at the connect stage.
    let port = outpost_test_support::ports::free_tcp_port();
    let out = check(
        &a,
        "check.http",
        json!({"url": format!("http://127.0.0.1:{port}/")}),
    )
    .await;
    assert_state(&out, "CRITICAL");
    assert_eq!(out["details"]["stage"], "connect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_checks_https_and_tls_certificates_valid_near_expiry_expired_wrong_host() {
    let (a, _dir) = agent();
    let ca = TestCa::new();
    let ca_file = ca.ca_file.to_str().unwrap().to_owned();
    let valid = WebServer::start_tls(ca.localhost()).await;
    let near = WebServer::start_tls(ca.leaf(&["localhost"], -80, 10)).await;
    let expired = WebServer::start_tls(ca.leaf(&["localhost"], -400, -2)).await;
    let other = WebServer::start_tls(ca.leaf(&["other.test"], -1, 365)).await;

    // check.http: verified against the CA file, OK; against the system roots, CRITICAL.
    let out = check(
        &a,
        "check.http",
        json!({"url": valid.url("/"), "ca_file": ca_file}),
    )
    .await;
    assert_state(&out, "OK");
    assert_eq!(out["details"]["tls_verified"], true);
    assert!(out["details"]["tls_ms"].as_f64().unwrap() > 0.0);
    let out = check(&a, "check.http", json!({"url": valid.url("/")})).await;
    assert_state(&out, "CRITICAL");
    assert_eq!(out["details"]["stage"], "tls", "{out}");
    // Expired and wrong host: CRITICAL even with the right CA.
    for (server, why) in [(&expired, "expired"), (&other, "not valid for name")] {
        let out = check(
            &a,
            "check.http",
            json!({"url": server.url("/"), "ca_file": ca_file}),
        )
        .await;
        assert_state(&out, "CRITICAL");
        assert!(
            out["output"].as_str().unwrap().to_lowercase().contains(why)
                || out["details"]["error"]
                    .as_str()
                    .unwrap()
                    .to_lowercase()
                    .contains(why.split(' ').next().unwrap()),
            "{why}: {out}"
        );
    }
    // verify_tls off: the expired certificate is accepted, and the result says so.
    let out = check(
        &a,
        "check.http",
        json!({"url": expired.url("/"), "verify_tls": false}),
    )
    .await;
    assert_state(&out, "OK");
    assert_eq!(out["details"]["tls_verified"], false);
    assert!(
        a.log_text().contains("verify_tls=false"),
        "unverified TLS is logged at warn"
    );

    // check.tls: each finding in details.
    let tls = |port: u16, extra: Value| {
        let mut p = json!({"host": "localhost", "port": port, "ca_file": ca_file});
        p.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        p
    };
    let out = check(&a, "check.tls", tls(valid.port, json!({}))).await;
    assert_state(&out, "OK");
    let d = &out["details"];
    assert_eq!(d["chain_valid"], true, "{d}");
    assert_eq!(d["hostname_match"], true);
    assert_eq!(d["expired"], false);
    assert_eq!(d["subject"], "CN=localhost");
    assert_eq!(d["issuer"], "CN=Outpost test CA");
    assert_eq!(d["chain_length"], 2);
    assert!(
        (363..=365).contains(&d["days_left"].as_i64().unwrap()),
        "{d}"
    );
    assert!(d["not_after"].as_str().unwrap().ends_with('Z'));
    assert_eq!(out["perfdata"][1]["label"], "days");

    // 10 days left: WARNING under the default 30; CRITICAL with crit_days 14.
    let out = check(&a, "check.tls", tls(near.port, json!({}))).await;
    assert_state(&out, "WARNING");
    assert!((9..=10).contains(&out["details"]["days_left"].as_i64().unwrap()));
    let out = check(
        &a,
        "check.tls",
        tls(near.port, json!({"crit_days": 14, "warn_days": 30})),
    )
    .await;
    assert_state(&out, "CRITICAL");

    // Expired: CRITICAL; the chain is otherwise trusted, and that is said apart.
    let out = check(&a, "check.tls", tls(expired.port, json!({}))).await;
    assert_state(&out, "CRITICAL");
    assert_eq!(out["details"]["expired"], true);
    assert_eq!(out["details"]["chain_valid"], true, "{out}");
    assert!(out["output"].as_str().unwrap().contains("expired"));

    // Wrong host name: CRITICAL, hostname_match false, chain valid.
    let out = check(&a, "check.tls", tls(other.port, json!({}))).await;
    assert_state(&out, "CRITICAL");
    assert_eq!(out["details"]["hostname_match"], false);
    assert_eq!(out["details"]["chain_valid"], true);
    // ...and OK when SNI names the certificate's host.
    let out = check(
        &a,
        "check.tls",
        tls(other.port, json!({"sni": "other.test"})),
    )
    .await;
    assert_state(&out, "OK");

    // Without the CA: the chain is untrusted (CRITICAL), the certificate still described.
    let out = check(
        &a,
        "check.tls",
        json!({"host": "localhost", "port": valid.port}),
    )
    .await;
    assert_state(&out, "CRITICAL");
    assert_eq!(out["details"]["chain_valid"], false);
    assert_eq!(out["details"]["hostname_match"], true);
    assert_eq!(out["details"]["subject"], "CN=localhost");
}

/// A TCP echo server: answers each read with the same bytes.
async fn echo_server() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_checks_tcp_send_expect_mismatch_and_refused() {
    let (a, _dir) = agent();
    let port = echo_server().await;
    let out = check(
        &a,
        "check.tcp",
        json!({"host": "127.0.0.1", "port": port, "send": "PING outpost\r\n", "expect": "outpost"}),
    )
    .await;
    assert_state(&out, "OK");
    assert_eq!(out["details"]["expect_found"], true);
    assert!(out["details"]["response"]
        .as_str()
        .unwrap()
        .starts_with("PING outpost"));
    // IPv6.
    let l6 = tokio::net::TcpListener::bind("[::1]:0").await.unwrap();
    let port6 = l6.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l6.accept().await.unwrap();
            let _ = s.write_all(b"SSH-2.0-test\r\n").await;
        }
    });
    let out = check(
        &a,
        "check.tcp",
        json!({"host": "::1", "port": port6, "expect": "SSH-2.0"}),
    )
    .await;
    assert_state(&out, "OK");
    assert_eq!(out["details"]["address"], format!("[::1]:{port6}"));
    // Connect only (no send, no expect): OK; past a 0 ms warning threshold: WARNING.
    let out = check(&a, "check.tcp", json!({"host": "localhost", "port": port})).await;
    assert_state(&out, "OK");
    let out = check(
        &a,
        "check.tcp",
        json!({"host": "127.0.0.1", "port": port, "warn_ms": 0}),
    )
    .await;
    assert_state(&out, "WARNING");
    // Mismatch: WARNING by default (check_tcp's -M default), CRITICAL when asked.
    let out = check(
        &a,
        "check.tcp",
        json!({"host": "127.0.0.1", "port": port, "send": "hello", "expect": "bye", "max_bytes": 5}),
    )
    .await;
    assert_state(&out, "WARNING");
    assert_eq!(out["details"]["expect_found"], false);
    assert!(out["output"]
        .as_str()
        .unwrap()
        .contains("Unexpected response from host: hello"));
    let out = check(
        &a,
        "check.tcp",
        json!({"host": "127.0.0.1", "port": port, "send": "hello", "expect": "bye",
               "mismatch": "critical"}),
    )
    .await;
    // An answer that stops without the text ends after check_tcp's 2 s read pause, not
    // at the 10 s timeout.
    assert_state(&out, "CRITICAL");
    assert!(out["response_time_ms"].as_f64().unwrap() < 5000.0, "{out}");
    // Refused: CRITICAL; unresolvable: CRITICAL (as check_tcp).
    let closed = outpost_test_support::ports::free_tcp_port();
    let out = check(
        &a,
        "check.tcp",
        json!({"host": "127.0.0.1", "port": closed}),
    )
    .await;
    assert_state(&out, "CRITICAL");
    assert_eq!(out["details"]["refused"], true);
    let out = check(
        &a,
        "check.tcp",
        json!({"host": "nosuch.invalid", "port": 80}),
    )
    .await;
    assert_state(&out, "CRITICAL");
    assert!(out["output"]
        .as_str()
        .unwrap()
        .contains("Invalid hostname, address or socket"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_checks_dns_every_record_type_against_dnsmasq() {
    let long_txt: Vec<String> = (0..4).map(|i| format!("{i}{}", "y".repeat(200))).collect();
    let big = format!("--txt-record=big.test,{}", long_txt.join(","));
    let dns = Dnsmasq::start(&[
        "--address=/a.test/192.0.2.1",
        "--host-record=h.test,192.0.2.5,2001:db8::5",
        "--cname=alias.test,h.test",
        "--mx-host=mx.test,mail.test,10",
        "--txt-record=txt.test,v=spf1 -all",
        "--srv-host=_sip._tcp.srv.test,sip.test,5060,0,5",
        "--ptr-record=9.2.0.192.in-addr.arpa,ptr.test",
        &big,
    ]);
    let (a, _dir) = agent();
    let server = dns.server();
    let q = |host: &str, rtype: &str, expect: Value| {
        let mut p = json!({"hostname": host, "server": server, "record_type": rtype});
        if !expect.is_null() {
            p["expect"] = expect;
        }
        p
    };
    for (host, rtype, expect, answer) in [
        ("a.test", "A", json!("192.0.2.1"), "192.0.2.1"),
        ("h.test", "AAAA", json!("2001:DB8::5"), "2001:db8::5"),
        ("alias.test", "CNAME", json!("h.test."), "h.test"),
        ("mx.test", "MX", json!("mail.test"), "10 mail.test"),
        ("txt.test", "TXT", json!("v=spf1 -all"), "v=spf1 -all"),
        (
            "_sip._tcp.srv.test",
            "SRV",
            json!("0 5 5060 sip.test"),
            "0 5 5060 sip.test",
        ),
        ("192.0.2.9", "PTR", json!(["PTR.test."]), "ptr.test"),
    ] {
        let out = check(&a, "check.dns", q(host, rtype, expect)).await;
        assert_state(&out, "OK");
        assert_eq!(out["details"]["answers"], json!([answer]), "{rtype}: {out}");
        assert_eq!(out["details"]["transport"], "udp");
    }
    // An expected value absent: CRITICAL, naming it.
    let out = check(
        &a,
        "check.dns",
        q("a.test", "A", json!(["192.0.2.1", "192.0.2.7"])),
    )
    .await;
    assert_state(&out, "CRITICAL");
    assert_eq!(out["details"]["missing"], json!(["192.0.2.7"]));
    // NXDOMAIN: CRITICAL.
    let out = check(&a, "check.dns", q("nosuch.test", "A", Value::Null)).await;
    assert_state(&out, "CRITICAL");
    assert_eq!(out["details"]["rcode"], "Non-Existent Domain", "{out}");
    // No record of that type: CRITICAL.
    let out = check(&a, "check.dns", q("a.test", "MX", Value::Null)).await;
    assert_state(&out, "CRITICAL");
    // Slower than a 0 ms warning threshold: WARNING.
    let mut p = q("a.test", "A", Value::Null);
    p["warn_ms"] = json!(0);
    let out = check(&a, "check.dns", p).await;
    assert_state(&out, "WARNING");
    // A truncated UDP answer is asked again over TCP.
    let out = check(&a, "check.dns", q("big.test", "TXT", Value::Null)).await;
    assert_state(&out, "OK");
    assert_eq!(out["details"]["transport"], "tcp");
    assert_eq!(out["details"]["answers"][0], long_txt.concat());
    // A server that never answers: CRITICAL at the timeout.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let out = check(
        &a,
        "check.dns",
        json!({"hostname": "a.test", "server": silent.local_addr().unwrap().to_string(),
               "timeout_ms": 300}),
    )
    .await;
    assert_state(&out, "CRITICAL");
    assert_eq!(out["details"]["timeout"], true);
    let mut buf = [0u8; 512];
    silent.set_nonblocking(true).unwrap();
    assert!(
        silent.recv(&mut buf).is_ok(),
        "the query did reach the silent server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_checks_scheduled_http_check_result_is_stored() {
    let (a, _dir) = agent();
    let web = WebServer::start_plain().await;
    let r = a
        .post("/v1/schedules")
        .json(&json!({"id": "web", "when": {"every_ms": 1000},
            "job": {"kind": "check.http", "params": {"url": web.url("/status/404")}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
    let done = |all: Value| {
        all["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["schedule"] == "web" && j["state"] == "succeeded")
            .and_then(|j| j["id"].as_str())
            .map(str::to_owned)
    };
    wait_for(
        "a scheduled check.http job to finish",
        Duration::from_secs(15),
        || async { done(a.get_json("/v1/jobs?limit=100").await).is_some() },
    )
    .await;
    let id = done(a.get_json("/v1/jobs?limit=100").await).unwrap();
    let job = a.job(&id).await;
    assert_eq!(job["kind"], "check.http", "{job}");
    assert_state(&job["output"], "WARNING");
    assert_eq!(job["output"]["details"]["http_status"], 404);
    assert!(web.requests() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue14_checks_bad_params_are_422_naming_the_field() {
    let (a, _dir) = agent();
    for (kind, params, field) in [
        ("check.http", json!({}), "url"),
        ("check.http", json!({"url": "ftp://x/"}), "url"),
        (
            "check.http",
            json!({"url": "http://x/", "method": "GE T"}),
            "method",
        ),
        (
            "check.http",
            json!({"url": "http://x/", "expect_status": "200-1"}),
            "expect_status",
        ),
        (
            "check.http",
            json!({"url": "http://x/", "regex": "("}),
            "regex",
        ),
        (
            "check.http",
            json!({"url": "http://x/", "headers": {"bad name": "v"}}),
            "headers.bad name",
        ),
        (
            "check.http",
            json!({"url": "http://x/", "warn_ms": 10, "crit_ms": 5}),
            "warn_ms",
        ),
        (
            "check.http",
            json!({"url": "http://x/", "bogus": 1}),
            "bogus",
        ),
        (
            "check.http",
            json!({"url": "http://x/", "ca_file": "rel.pem"}),
            "ca_file",
        ),
        ("check.tcp", json!({"host": "x", "port": 0}), "port"),
        ("check.tcp", json!({"host": "a b", "port": 1}), "host"),
        (
            "check.tcp",
            json!({"host": "x", "port": 1, "mismatch": "maybe"}),
            "mismatch",
        ),
        (
            "check.tcp",
            json!({"host": "x", "port": 1, "timeout_ms": 0}),
            "timeout_ms",
        ),
        (
            "check.dns",
            json!({"hostname": "x.test", "record_type": "NS"}),
            "record_type",
        ),
        (
            "check.dns",
            json!({"hostname": "x.test", "server": "dns.example"}),
            "server",
        ),
        ("check.dns", json!({"hostname": ""}), "hostname"),
        (
            "check.tls",
            json!({"host": "x", "warn_days": 5, "crit_days": 10}),
            "crit_days",
        ),
        ("check.tls", json!({"host": "x", "sni": "a b"}), "sni"),
    ] {
        let (st, body) = a
            .submit(json!({"kind": kind, "params": params}), None)
            .await;
        assert_eq!(st, 422, "{kind} {params}: {body}");
        assert!(
            body.to_string().contains(field),
            "{kind} {params}: the error names {field}: {body}"
        );
    }
}
