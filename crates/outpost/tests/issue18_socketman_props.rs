//! issue 18: the SocketMan wire read back what it wrote. Inbound jobs round-trip through
//! `parse_job`; outbound DELIVERED and PROCESSED are JSON that names the same id and carries
//! the same text (cut at SocketMan's limit, on a character boundary).
#![cfg(feature = "socketman")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use outpost::adapters::socketman::wire::{self, MAX_ID};
use proptest::prelude::*;
use serde_json::{json, Value};

fn id() -> impl Strategy<Value = String> {
    "\\PC{1,36}"
}

proptest! {
    #[test]
    fn issue18_socketman_inbound_jobs_round_trip(
        id in id(),
        msg in proptest::option::of("\\PC{0,200}"),
        kind in proptest::option::of("[a-z]{1,10}"),
        extra in "[a-z]{0,8}",
    ) {
        let mut meta = serde_json::Map::new();
        if let Some(m) = &msg { meta.insert("msg".into(), json!(m)); }
        if let Some(k) = &kind { meta.insert("type".into(), json!(k)); }
        let body = json!({"id": id, "timestamp": extra, "meta": meta});
        let job = wire::parse_job(body.to_string().as_bytes()).unwrap();
        prop_assert_eq!(job.id, id.chars().take(MAX_ID).collect::<String>());
        prop_assert_eq!(job.msg, msg);
        prop_assert_eq!(job.kind, kind);
    }

    #[test]
    fn issue18_socketman_replies_read_back(
        id in id(),
        ts in 0i64..=i64::from(u32::MAX),
        text in "\\PC{0,300}",
        refused in proptest::option::of("\\PC{1,80}"),
    ) {
        let d: Value = serde_json::from_slice(&wire::delivered(&id, ts, refused.as_deref())).unwrap();
        prop_assert_eq!(d["id"].as_str(), Some(id.as_str()));
        prop_assert_eq!(d["timestamp"].as_i64(), Some(ts));
        prop_assert_eq!(d["meta"]["delivered"].as_bool(), Some(refused.is_none()));
        prop_assert_eq!(d["meta"]["refused"].as_str(), refused.as_deref());
        let p: Value = serde_json::from_slice(&wire::processed(&id, ts, &text)).unwrap();
        prop_assert_eq!(p["id"].as_str(), Some(id.as_str()));
        let want = if text.is_empty() { "DNE" } else { text.as_str() };
        prop_assert_eq!(p["meta"]["msg"].as_str(), Some(want));
    }
}

/// Bytes that are not a job never panic the reader, and what it accepts has a bounded id.
#[test]
fn issue18_socketman_garbage_is_refused_or_bounded() {
    let mut runner = proptest::test_runner::TestRunner::default();
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..256), |bytes| {
            if let Ok(job) = wire::parse_job(&bytes) {
                prop_assert!(job.id.chars().count() <= MAX_ID + 35);
            }
            Ok(())
        })
        .unwrap();
}
