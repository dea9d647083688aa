//! Issue 17 ("a global SNMP rate of 200 PDUs/s by default (configurable)"): the one SNMP
//! engine's rate through `outpost run`. `snmp.max_pdus_per_second` spaces every datagram
//! the agent sends, retransmissions included; the Towerops adapter makes 200/s the default;
//! the operator's value wins; a bad value is a configuration error naming the key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Agent, Options, BIN};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_snmp_rate_spaces_every_datagram_retries_included() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(dir.path()).env("OUTPOST_SNMP_MAX_PDUS_PER_SECOND", "20"));
    let (addr, mut arrivals) = outpost_test_support::ports::silent_udp("127.0.0.1").await;
    // Two jobs at once to a target that never answers: 2 × (1 + 4 retries) datagrams.
    let params = json!({"target": addr.to_string(), "community": "public",
                        "oids": [".1.3.6.1.2.1.1.5.0"], "timeout_ms": 10, "retries": 4});
    let (x, y) = tokio::join!(
        a.run_job("snmp.get", params.clone()),
        a.run_job("snmp.get", params)
    );
    for job in [&x, &y] {
        assert_eq!(job["error"]["code"], "timeout", "{job}");
    }
    let mut t = Vec::new();
    while t.len() < 10 {
        match tokio::time::timeout(Duration::from_secs(10), arrivals.recv()).await {
            Ok(Some(at)) => t.push(at),
            _ => panic!("{} of 10 datagrams arrived", t.len()),
        }
    }
    // 20/s is one per 50 ms. One send may leave late (a busy scheduler) and close the gap
    // to the next, so the bound is on spans: never three within 50 ms (unpaced retries of
    // two requests come every ~10 ms), and ten over at least 400 ms.
    for w in t.windows(3) {
        assert!(
            w[2] - w[0] >= Duration::from_millis(50),
            "{:?} in {t:?}",
            w[2] - w[0]
        );
    }
    assert!(
        t[9] - t[0] >= Duration::from_millis(400),
        "{:?}",
        t[9] - t[0]
    );
    let m = a.metrics().await;
    assert_eq!(common::metric(&m, "outpost_snmp_max_pdus_per_second"), 20.0);
    assert_eq!(
        common::metric(&m, "outpost_snmp_retransmits_total"),
        8.0,
        "{m}"
    );
}

#[test]
fn issue17_snmp_rate_bad_values_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for text in [
        "[snmp]\nmax_pdus_per_second = -1\n",
        "[snmp]\nmax_pdus_per_second = \"fast\"\n",
        "[snmp]\nmax_pdu_per_second = 10\n",
    ] {
        let f = dir.path().join("c.toml");
        std::fs::write(&f, text).unwrap();
        let out = Command::new(BIN)
            .args(["config", "check", "--config"])
            .arg(&f)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(err.contains("snmp.max_pdu"), "{text}: {err}");
    }
}

/// With the Towerops adapter on, 200/s unless the operator says otherwise (0: none).
#[cfg(feature = "towerops")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_snmp_rate_towerops_defaults_to_200_and_the_operator_wins() {
    use outpost_test_support::towerops::Server;
    const TOKEN: &str = "tok-issue17-rate";
    let server = Server::start(TOKEN).await;
    for (set, want) in [(None, 200.0), (Some("0"), 0.0), (Some("50"), 50.0)] {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Options::new(dir.path())
            .env("TOWEROPS_API_URL", &server.api_url())
            .env("TOWEROPS_AGENT_TOKEN", TOKEN)
            .env("TOWEROPS_INSECURE", "true");
        if let Some(v) = set {
            o = o.env("OUTPOST_SNMP_MAX_PDUS_PER_SECOND", v);
        }
        let a = Agent::start(o);
        let m = a.metrics().await;
        assert_eq!(
            common::metric(&m, "outpost_snmp_max_pdus_per_second"),
            want,
            "{set:?}"
        );
    }
    // Without Towerops and without the key: no limit.
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(Options::new(dir.path()));
    let m = a.metrics().await;
    assert_eq!(common::metric(&m, "outpost_snmp_max_pdus_per_second"), 0.0);
}
