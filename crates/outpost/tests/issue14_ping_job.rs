//! The `ping` job kind through `outpost run`, the agent started inside a network namespace
//! of the test's own (linked by a veth pair to a second one): one result per job with a row
//! per target, v4 and v6, a target with no route, a name that does not resolve; the engine
//! opens its ICMP sockets only on the first `ping` job; bad params are a 422 naming the field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Agent, Options};
use outpost_test_support::netns::{self, Netns};
use serde_json::json;

/// The raw ICMP sockets open in the namespace (`/proc/PID/net/raw*` is the namespace's view).
fn raw_sockets(pid: i32) -> usize {
    ["raw", "raw6"]
        .iter()
        .map(|f| {
            std::fs::read_to_string(format!("/proc/{pid}/net/{f}"))
                .unwrap()
                .lines()
                .skip(1)
                .count()
        })
        .sum()
}

#[test]
fn issue14_ping_job_has_a_row_per_target_and_opens_sockets_lazily() {
    let (a, b) = (Netns::new("ja"), Netns::new("jb"));
    let l = netns::link(&a, &b, 1);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_owned();
    let (b4, b6) = (l.b4.to_string(), l.b6.to_string());
    a.run(move || async move {
        let agent = Agent::start(Options::new(&data));
        assert_eq!(
            raw_sockets(agent.pid()),
            0,
            "an idle agent opens no ICMP socket"
        );

        let (st, body) = agent
            .submit(
                json!({"kind": "ping", "params": {
                    "targets": ["127.0.0.1", b4, b6, "10.9.9.9", "nosuch.invalid"],
                    "count": 3, "interval_ms": 20, "timeout_ms": 1000
                }}),
                Some(20.0),
            )
            .await;
        assert_eq!(st, 200, "{body}");
        assert_eq!(body["state"], "succeeded", "{body}");
        let rows = body["output"]["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 5, "{body}");
        for (row, host) in rows.iter().zip(["127.0.0.1", &b4, &b6]) {
            assert_eq!(row["host"], host);
            assert_eq!(row["target"], host);
            assert_eq!(
                (row["sent"].as_u64(), row["received"].as_u64()),
                (Some(3), Some(3)),
                "{row}"
            );
            assert_eq!(row["loss_pct"], 0.0);
            assert_eq!(row["probes"].as_array().unwrap().len(), 3);
            assert!(row["rtt_avg_ms"].as_f64().unwrap() > 0.0);
        }
        assert_eq!(rows[3]["received"], 0);
        assert_eq!(rows[3]["loss_pct"], 100.0);
        assert_eq!(rows[3]["probes"][0]["status"], "send_error", "{}", rows[3]);
        assert_eq!(rows[4]["host"], "nosuch.invalid");
        assert!(rows[4]["error"]
            .as_str()
            .unwrap()
            .starts_with("nosuch.invalid"));
        assert!(rows[4].get("sent").is_none());

        assert_eq!(
            raw_sockets(agent.pid()),
            2,
            "one socket per family, after the first job"
        );
        let m = agent.metrics().await;
        assert_eq!(common::metric(&m, "outpost_icmp_replies_total"), 9.0);
        assert_eq!(common::metric(&m, "outpost_icmp_sent_total"), 9.0);

        for (params, field) in [
            (json!({"targets": []}), "targets"),
            (json!({"targets": ["a b"]}), "targets[0]"),
            (json!({"targets": ["127.0.0.1"], "count": 0}), "count"),
            (
                json!({"targets": ["127.0.0.1"], "timeout_ms": 0}),
                "timeout_ms",
            ),
            (json!({"targets": ["127.0.0.1"], "ttl": 0}), "ttl"),
            (json!({"targets": ["127.0.0.1"], "bogus": 1}), "bogus"),
        ] {
            let (st, body) = agent
                .submit(json!({"kind": "ping", "params": params}), None)
                .await;
            assert_eq!(st, 422, "{params}: {body}");
            assert!(body.to_string().contains(field), "{params}: {body}");
        }
    });
}
