//! Issue 2: the job decoder (every byte of a `POST /v1/jobs` body) against arbitrary input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use outpost::{api::jobs::decode_job, executors};
use proptest::prelude::*;

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        "[^\u{0}]{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn issue2_arbitrary_bytes_never_panic_and_fail_as_4xx(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let reg = executors::registry(Instant::now(), executors::Host::default());
        if let Err(e) = decode_job(&reg, &bytes) {
            prop_assert!(e.status.is_client_error(), "{:?}", e);
        }
    }

    #[test]
    fn issue2_arbitrary_json_never_panics_and_names_a_field(v in json_value()) {
        let reg = executors::registry(Instant::now(), executors::Host::default());
        let bytes = serde_json::to_vec(&v).unwrap();
        if let Err(e) = decode_job(&reg, &bytes) {
            prop_assert!(e.status.is_client_error());
            prop_assert_eq!(e.status.as_u16(), 422, "valid JSON of the wrong shape is a 422");
        }
    }

    #[test]
    fn issue2_valid_jobs_round_trip(params in json_value(), timeout in proptest::option::of(1u64..3_600_000)) {
        let reg = executors::registry(Instant::now(), executors::Host::default());
        let mut body = serde_json::json!({"kind": "echo", "params": params});
        if let Some(t) = timeout {
            body["timeout_ms"] = t.into();
        }
        let job = decode_job(&reg, &serde_json::to_vec(&body).unwrap()).unwrap();
        prop_assert_eq!(job.kind, "echo");
        prop_assert_eq!(job.params, body["params"].clone());
        prop_assert_eq!(job.timeout_ms, timeout);
    }

    #[test]
    fn issue2_sleep_params_accept_exactly_the_valid_range(ms in any::<i64>()) {
        let reg = executors::registry(Instant::now(), executors::Host::default());
        let body = serde_json::json!({"kind": "sleep", "params": {"ms": ms}});
        let res = decode_job(&reg, &serde_json::to_vec(&body).unwrap());
        let valid = (0..=86_400_000).contains(&ms);
        prop_assert_eq!(res.is_ok(), valid);
        if let Err(e) = res {
            prop_assert_eq!(e.field.as_deref(), Some("params.ms"));
        }
    }
}
