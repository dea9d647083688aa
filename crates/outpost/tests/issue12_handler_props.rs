//! Issue 12: invariant 4 through the real handler. The issue-2 proptests drive
//! `api::jobs::decode_job`, which the `POST /v1/jobs` handler never calls (it decodes with
//! the `JsonBody` extractor and validates in the dispatcher). These send arbitrary bytes and
//! arbitrary JSON to a running `outpost run`, through axum, the extractor, the dispatcher and
//! the store: every answer is a 2xx or a 4xx in the documented JSON error shape, and the
//! agent keeps serving.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::OnceLock;

use common::{Agent, Options};
use outpost_test_support::fixture::Fixture;
use proptest::prelude::*;

fn world() -> &'static Fixture<Agent> {
    static W: OnceLock<Fixture<Agent>> = OnceLock::new();
    W.get_or_init(|| {
        // Jobs that are accepted really run: keep them harmless and short.
        Fixture::new(|_, dir| {
            let a = Agent::start(
                Options::new(dir)
                    .env("OUTPOST_JOBS_MAX_TIMEOUT_MS", "2000")
                    .env("OUTPOST_JOBS_DEFAULT_TIMEOUT_MS", "1000"),
            );
            // Kept in a static, never dropped: its process goes with the test binary.
            outpost_test_support::fixture::kill_at_exit(a.pid() as u32);
            a
        })
    })
}

fn post(body: Vec<u8>) -> Result<(), TestCaseError> {
    let w = world();
    let (status, ctype, text) = w.rt.block_on(async {
        let r = w.value.post_body("/v1/jobs", body).await;
        let status = r.status().as_u16();
        let ctype = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("").to_owned())
            .unwrap_or_default();
        (status, ctype, r.text().await.unwrap())
    });
    prop_assert!(status < 500, "{status}: {text}");
    prop_assert!(
        ctype.starts_with("application/json"),
        "{status} {ctype}: {text}"
    );
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    if status >= 400 {
        prop_assert!(v["error"]["code"].is_string(), "{text}");
        prop_assert!(v["error"]["message"].is_string(), "{text}");
        prop_assert!(text.len() < 4096, "{} bytes", text.len());
    } else {
        prop_assert!(v["id"].is_string(), "{text}");
    }
    Ok(())
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[^\u{0}]{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..5)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Kinds that run nothing outside the process: no SNMP target is ever contacted.
fn body() -> impl Strategy<Value = serde_json::Value> {
    (
        prop_oneof![
            Just("echo"),
            Just("sleep"),
            Just("metrics"),
            Just("agent.info"),
            Just("no.such"),
        ],
        json_value(),
        prop::option::of(0u64..5000),
    )
        .prop_map(|(kind, params, timeout)| {
            let mut b = serde_json::json!({"kind": kind, "params": params});
            if let Some(t) = timeout {
                b["timeout_ms"] = t.into();
            }
            b
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn issue12_arbitrary_bytes_through_the_real_handler_are_2xx_or_json_4xx(
        bytes in prop::collection::vec(any::<u8>(), 0..512)
    ) {
        post(bytes)?;
    }

    #[test]
    fn issue12_arbitrary_jobs_through_the_real_handler_are_2xx_or_json_4xx(b in body()) {
        post(serde_json::to_vec(&b).unwrap())?;
    }
}
