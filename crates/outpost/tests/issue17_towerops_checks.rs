//! Issue 17: `check_jobs` (CheckList) run as the probes' check kinds, scheduled locally,
//! answered on `check_result` with Towerops' statuses and output strings, each against a
//! real local server of the test's own: plain HTTP and HTTPS (a CA of the test's own, so
//! untrusted unless verification is off), a TCP echo server, Debian's dnsmasq. Checks the
//! original answers UNKNOWN (no config, an unsupported record type) are answered so at
//! once; an empty list clears the check inventory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::wait_for;
use outpost_proto::towerops::{
    event, Check, CheckConfig, CheckList, CheckResult, DnsCheckConfig, HttpCheckConfig,
    SslCheckConfig, TcpCheckConfig,
};
use outpost_test_support::dnsmasq::Dnsmasq;
use outpost_test_support::https::{TestCa, WebServer};
use outpost_test_support::towerops::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "tok-issue17-checks";

fn check(id: &str, t: &str, config: Option<CheckConfig>) -> Check {
    Check {
        id: id.into(),
        check_type: t.into(),
        interval_seconds: 1,
        timeout_ms: 3000,
        config,
    }
}

fn http(url: String, expected: u32, verify: bool) -> Option<CheckConfig> {
    Some(CheckConfig::Http(HttpCheckConfig {
        url,
        expected_status: expected,
        verify_ssl: verify,
        ..Default::default()
    }))
}

fn dns(server: &str, host: &str, rtype: &str, expected: &str) -> Option<CheckConfig> {
    Some(CheckConfig::Dns(DnsCheckConfig {
        hostname: host.into(),
        server: server.into(),
        record_type: rtype.into(),
        expected: expected.into(),
    }))
}

fn tcp(port: u16, send: &str, expect: &str) -> Option<CheckConfig> {
    Some(CheckConfig::Tcp(TcpCheckConfig {
        host: "127.0.0.1".into(),
        port: u32::from(port),
        send: send.into(),
        expect: expect.into(),
    }))
}

/// A TCP server answering each connection with what it reads, once.
async fn echo_server() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 256];
                if let Ok(n) = s.read(&mut buf).await {
                    let _ = s.write_all(&buf[..n]).await;
                }
            });
        }
    });
    port
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The newest result of each check.
fn newest(server: &Server) -> BTreeMap<String, CheckResult> {
    server
        .decoded::<CheckResult>(event::CHECK_RESULT)
        .into_iter()
        .map(|r| (r.check_id.clone(), r))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn issue17_towerops_checks_run_locally_with_towerops_statuses() {
    let plain = WebServer::start_plain().await;
    let ca = TestCa::new();
    let tls = WebServer::start_tls(ca.localhost()).await;
    let echo = echo_server().await;
    let closed = closed_port();
    let dnsmasq = Dnsmasq::start(&[
        "--address=/a.test/192.0.2.1",
        "--mx-host=mx.test,mail.test,10",
    ]);
    let ns = dnsmasq.server();
    let server = Server::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let agent = server.joined_agent(server.agent_options(dir.path())).await;

    let mut regex_miss = http(plain.url("/"), 200, true);
    if let Some(CheckConfig::Http(h)) = &mut regex_miss {
        h.regex = "^nothing like it$".into();
    }
    let mut regex_hit = http(plain.url("/"), 200, true);
    if let Some(CheckConfig::Http(h)) = &mut regex_hit {
        h.regex = "outpost test server".into();
    }
    let checks = vec![
        check("http-ok", "http", http(plain.url("/"), 0, true)),
        check(
            "http-503",
            "http",
            http(plain.url("/status/503"), 200, true),
        ),
        check(
            "http-302",
            "http",
            http(plain.url("/redirect/1"), 200, true),
        ),
        check("http-regex-miss", "http", regex_miss),
        check("http-regex-hit", "http", regex_hit),
        check("https-untrusted", "http", http(tls.url("/"), 200, true)),
        check("https-unverified", "http", http(tls.url("/"), 200, false)),
        check("tcp-open", "tcp", tcp(echo, "", "")),
        check("tcp-match", "tcp", tcp(echo, "pong\n", "pong")),
        check("tcp-mismatch", "tcp", tcp(echo, "ping\n", "pong")),
        check("tcp-refused", "tcp", tcp(closed, "", "")),
        check("dns-a", "dns", dns(&ns, "a.test", "", "192.0.2.1")),
        check("dns-a-wrong", "dns", dns(&ns, "a.test", "A", "192.0.2.9")),
        check(
            "dns-mx-host",
            "dns",
            dns(&ns, "mx.test", "MX", "mail.test."),
        ),
        check("dns-nx", "dns", dns(&ns, "nx.test", "A", "")),
        check("dns-srv", "dns", dns(&ns, "a.test", "SRV", "")),
        check(
            "ssl-untrusted",
            "ssl",
            Some(CheckConfig::Ssl(SslCheckConfig {
                host: "localhost".into(),
                port: u32::from(tls.port),
                warning_days: 0,
            })),
        ),
        check(
            "ssl-closed",
            "ssl",
            Some(CheckConfig::Ssl(SslCheckConfig {
                host: "localhost".into(),
                port: u32::from(closed),
                warning_days: 0,
            })),
        ),
        check("no-config", "http", None),
    ];
    let n = checks.len();
    assert!(server.send_binary(event::CHECK_JOBS, &CheckList { checks }));
    wait_for(
        "a result of every check",
        Duration::from_secs(60),
        || async { newest(&server).len() == n },
    )
    .await;
    let got = newest(&server);
    let want: &[(&str, u32, &str)] = &[
        ("http-ok", 0, "HTTP 200 OK"),
        ("http-503", 2, "HTTP 503, expected 200"),
        ("http-302", 2, "HTTP 302, expected 200"),
        ("http-regex-miss", 2, "HTTP 200: body does not match regex"),
        ("http-regex-hit", 0, "HTTP 200 OK"),
        ("https-unverified", 0, "HTTP 200 OK"),
        ("tcp-open", 0, &format!("TCP port {echo} open")),
        ("tcp-match", 0, &format!("TCP port {echo} open")),
        (
            "tcp-mismatch",
            2,
            &format!("TCP port {echo}: unexpected response: ping "),
        ),
        ("dns-a", 0, "Resolved to: 192.0.2.1"),
        ("dns-a-wrong", 2, "Expected 192.0.2.9, got: 192.0.2.1"),
        ("dns-mx-host", 0, "Resolved to: 10 mail.test"),
    ];
    for (id, status, output) in want {
        let r = &got[*id];
        assert_eq!(
            (r.status, r.output.as_str()),
            (*status, *output),
            "{id}: {r:?}"
        );
        assert!(r.response_time_ms >= 0.0 && r.timestamp > 0, "{r:?}");
    }
    // Failures whose wording is the check's own: the status is Towerops'.
    for (id, status) in [
        ("https-untrusted", 2),
        ("tcp-refused", 2),
        ("ssl-untrusted", 2),
        ("ssl-closed", 3),
        ("dns-srv", 3),
        ("no-config", 3),
    ] {
        assert_eq!(got[id].status, status, "{id}: {:?}", got[id]);
    }
    assert!(
        got["ssl-untrusted"].output.starts_with(&format!(
            "CRITICAL: Certificate for localhost:{} is not trusted",
            tls.port
        )),
        "{:?}",
        got["ssl-untrusted"]
    );
    assert!(
        got["dns-srv"].output.contains("SRV"),
        "{:?}",
        got["dns-srv"]
    );
    assert_eq!(got["dns-nx"].status, 2, "{:?}", got["dns-nx"]);
    assert!(
        got["dns-nx"].output.starts_with("No records found ("),
        "{:?}",
        got["dns-nx"]
    );

    // Scheduled: they keep running (a second result of a check arrives).
    let first = server
        .decoded::<CheckResult>(event::CHECK_RESULT)
        .iter()
        .filter(|r| r.check_id == "http-ok")
        .count();
    wait_for("http-ok again", Duration::from_secs(20), || async {
        server
            .decoded::<CheckResult>(event::CHECK_RESULT)
            .iter()
            .filter(|r| r.check_id == "http-ok")
            .count()
            > first
    })
    .await;
    let v = agent.get_json("/v1/schedules").await;
    let ours = v["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["id"].as_str().unwrap().starts_with("towerops-check:"))
        .count();
    assert_eq!(
        ours,
        n - 2,
        "every check but the two answered at once is scheduled"
    );

    // An empty list clears them.
    assert!(server.send_binary(event::CHECK_JOBS, &CheckList { checks: vec![] }));
    agent
        .wait_metric("no schedules left", "outpost_schedules", |v| v == 0.0)
        .await;
}
