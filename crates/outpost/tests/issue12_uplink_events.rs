//! Issue 12 (items 3 and 6): the uplinks' typed internal events, end to end: every failure
//! is counted, its log line is rate-limited per uplink (one uplink's failures never hide
//! the other's lines), and the figures keep their names, labels and HELP texts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{metric, Agent, Options};

/// A loopback port with nothing listening on it (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_uplink_failures_are_all_counted_and_their_lines_rate_limited_per_uplink() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let a = Agent::start(
        Options::new(dir.path())
            .env("OUTPOST_AGENT_ID", "ev-1")
            .env(
                "OUTPOST_UPLINK_MQTT_URL",
                &format!("mqtt://127.0.0.1:{}", closed_port()),
            )
            .env(
                "OUTPOST_UPLINK_WS_URL",
                &format!("ws://127.0.0.1:{}/socket/websocket", closed_port()),
            )
            .env("OUTPOST_UPLINK_WS_INSECURE", "true")
            // Retry almost at once: many failures within one limiter interval (10 s).
            .env("OUTPOST_UPLINK_BACKOFF_INITIAL_MS", "1")
            .env("OUTPOST_UPLINK_BACKOFF_MAX_MS", "5"),
    );
    for uplink in ["mqtt", "ws"] {
        a.wait_metric(
            "twenty refused connections",
            &format!("outpost_uplink_reconnects_total{{uplink=\"{uplink}\"}}"),
            |v| v >= 20.0,
        )
        .await;
    }
    let log = a.log_text();
    let within_one_interval = started.elapsed() < Duration::from_secs(9);
    for (uplink, ended) in [
        ("mqtt", "mqtt uplink: connection lost"),
        ("ws", "ws uplink: disconnected"),
    ] {
        let reconnects = metric(
            &a.metrics().await,
            &format!("outpost_uplink_reconnects_total{{uplink=\"{uplink}\"}}"),
        );
        for needle in [
            ended,
            &format!("{uplink} uplink: reconnecting after backoff"),
        ] {
            let lines = lines_with(&log, needle);
            // The first line is always written, whatever the other uplink logged.
            assert!(!lines.is_empty(), "no {needle:?} line at all:\n{log}");
            assert!(
                !lines[0].contains("suppressed"),
                "the first line is the first failure: {}",
                lines[0]
            );
            // Then one per 10 s at most, each saying how many it stood for.
            let allowed = if within_one_interval { 1 } else { 2 };
            assert!(
                lines.len() <= allowed && (lines.len() as f64) < reconnects,
                "{} {needle:?} lines for {reconnects} failures:\n{log}",
                lines.len()
            );
            assert!(lines[1..].iter().all(|l| l.contains("suppressed")));
        }
    }
    assert_eq!(
        metric(
            &a.metrics().await,
            "outpost_uplink_connected{uplink=\"mqtt\"}"
        ),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_uplink_metric_names_labels_and_help_texts_are_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(
        Options::new(dir.path())
            .env("OUTPOST_AGENT_ID", "ev-2")
            .env(
                "OUTPOST_UPLINK_MQTT_URL",
                &format!("mqtt://127.0.0.1:{}", closed_port()),
            ),
    );
    a.wait_metric(
        "a refused connection",
        "outpost_uplink_reconnects_total{uplink=\"mqtt\"}",
        |v| v >= 1.0,
    )
    .await;
    let text = a.metrics().await;
    // The families this agent has series in (a refused connection: no rows sent, no
    // message rejected, nothing dropped by a broker), each as it always read.
    for line in [
        "# HELP outpost_uplink_connected 1 while the uplink is connected.",
        "# TYPE outpost_uplink_connected gauge",
        "outpost_uplink_connected{uplink=\"mqtt\"} 0",
        "# HELP outpost_uplink_reconnects Uplink connections that failed or ended.",
        "# TYPE outpost_uplink_reconnects counter",
        "# HELP outpost_uplink_acked Outbox rows acknowledged over the uplink.",
        "# TYPE outpost_uplink_acked counter",
        "outpost_uplink_acked_total{uplink=\"mqtt\"} 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    assert!(text.contains("outpost_uplink_reconnects_total{uplink=\"mqtt\"} "));
}
