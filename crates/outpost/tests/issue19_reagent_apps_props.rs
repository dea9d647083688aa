//! Issue 19, Reagent's app arguments: any JSON dict given to `request_app_state` (or
//! received from the backend's `get_requested_app_states`) is a request or an error naming
//! a field, never a panic; an accepted one always gives a Compose text the apps parser
//! accepts, in Reagent's container, with the request's environment intact.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use outpost::adapters::reagent::apps::{self, DeviceInfo};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "PROD", "DEV", "RUNNING", "PRESENT", "REMOVED", "STOPPED", "1.0.0", "app"
        ])
        .prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(2, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const KEYS: &[&str] = &[
    "app_key",
    "app_name",
    "stage",
    "target_state",
    "manually_requested_state",
    "version",
    "present_version",
    "environment",
    "requestor_account_key",
    "account_id",
    "release_key",
    "request_update",
];

/// Dicts with Reagent's keys holding anything.
fn dict() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((prop::sample::select(KEYS), value()), 0..12)
        .prop_map(|kv| kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// Valid requests, environment values of any text.
fn valid() -> impl Strategy<Value = Map<String, Value>> {
    (
        any::<u32>(),
        "[a-zA-Z0-9_-]{1,40}",
        prop::sample::select(vec![
            "RUNNING",
            "PRESENT",
            "STOPPED",
            "REMOVED",
            "UNINSTALLED",
        ]),
        "[a-zA-Z0-9_.-]{1,20}",
        prop::collection::btree_map("[A-Z_][A-Z0-9_]{0,10}", ".{0,20}", 0..5),
    )
        .prop_map(|(key, name, target, version, env)| {
            let env: Map<String, Value> = env
                .into_iter()
                .map(|(k, v)| (k, json!({"value": v})))
                .collect();
            json!({"app_key": key, "app_name": name, "stage": "PROD", "target_state": target,
                "version": version, "environment": env})
            .as_object()
            .unwrap()
            .clone()
        })
}

fn device() -> DeviceInfo {
    DeviceInfo {
        serial: "SER".into(),
        swarm_key: 7,
        device_key: 42,
        arch: "arm64".into(),
        backoff_ms: apps::BACKOFF_MS,
        ..Default::default()
    }
}

proptest! {
    #[test]
    fn issue19_any_dict_is_a_request_or_an_error(d in dict()) {
        for r in [apps::parse_request(&d), apps::parse_record(&d)] {
            match r {
                Ok(r) => {
                    let app = outpost_containers::apps::parse(
                        r.compose(&device()).as_bytes(),
                        &r.container(),
                        std::path::Path::new("/"),
                    );
                    prop_assert!(app.is_ok(), "{:?}", app);
                }
                Err(e) => prop_assert!(!e.is_empty()),
            }
        }
    }

    #[test]
    fn issue19_a_valid_request_keeps_its_environment_in_reagents_container(d in valid()) {
        let r = match apps::parse_request(&d) {
            Ok(r) => r,
            // A long name with a long key: refused, naming the limit.
            Err(e) => {
                prop_assert!(e.contains("longer than 63"), "{}", e);
                prop_assert!(d["app_name"].as_str().unwrap().len() + d["app_key"].to_string().len() + 6 > 63);
                return Ok(());
            }
        };
        let app = outpost_containers::apps::parse(
            r.compose(&device()).as_bytes(),
            &r.container(),
            std::path::Path::new("/"),
        )
        .unwrap();
        let s = &app.services[apps::SERVICE];
        let container = r.container();
        prop_assert_eq!(s.container_name.as_deref(), Some(container.as_str()));
        prop_assert_eq!(&s.image, &r.image(&device()));
        for (k, v) in d["environment"].as_object().unwrap() {
            // Reagent's own variables win over the request's of the same name.
            if ["ENV", "APP_KEY", "APP_NAME", "DEVICE_KEY", "SWARM_KEY", "DEVICE_NAME"].contains(&k.as_str()) {
                continue;
            }
            prop_assert_eq!(&s.environment[k], v["value"].as_str().unwrap());
        }
        prop_assert_eq!(&s.environment["APP_KEY"], &r.app_key.to_string());
    }
}
