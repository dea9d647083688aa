//! Issue 3: `snmp.get`, `snmp.walk` and `snmp.set` params at the submission edge. Any JSON
//! fails as a 4xx or is accepted, never panics; well-formed params are accepted; and what
//! would be stored has every secret blanked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use outpost::{api::jobs::decode_job, executors};
use proptest::prelude::*;
use serde_json::{json, Value};

const KINDS: &[&str] = &["snmp.get", "snmp.walk", "snmp.set"];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        "[^\u{0}]{0,12}".prop_map(Value::from),
        // Values that look like what the fields want, so decoding gets deep.
        prop_oneof![
            Just("2c"),
            Just("3"),
            Just("1"),
            Just("SHA"),
            Just("AES"),
            Just("127.0.0.1:161"),
            Just(".1.3.6.1.2.1.1.1.0"),
            Just("sysDescr.0"),
            Just("s"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("target".to_owned()),
                    Just("version".to_owned()),
                    Just("community".to_owned()),
                    Just("user".to_owned()),
                    Just("auth_protocol".to_owned()),
                    Just("auth_password".to_owned()),
                    Just("priv_protocol".to_owned()),
                    Just("priv_password".to_owned()),
                    Just("oids".to_owned()),
                    Just("oid".to_owned()),
                    Just("varbinds".to_owned()),
                    Just("type".to_owned()),
                    Just("value".to_owned()),
                    Just("timeout_ms".to_owned()),
                    Just("retries".to_owned()),
                    Just("max_repetitions".to_owned()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Secrets from an alphabet no other field uses, so finding one means it leaked.
fn secret() -> impl Strategy<Value = String> {
    "[A-Z]{8,24}"
}

fn oid() -> impl Strategy<Value = String> {
    prop::collection::vec(0u32..100_000, 1..12).prop_map(|v| {
        format!(
            ".1.3{}",
            v.iter().map(|n| format!(".{n}")).collect::<String>()
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn issue3_arbitrary_snmp_params_never_panic_and_fail_as_422(
        kind in prop::sample::select(KINDS), params in json_value()
    ) {
        let reg = executors::registry(Instant::now(), executors::Host::default());
        let body = serde_json::to_vec(&json!({"kind": kind, "params": params})).unwrap();
        if let Err(e) = decode_job(&reg, &body) {
            prop_assert_eq!(e.status.as_u16(), 422, "{:?}", e);
        }
    }

    #[test]
    fn issue3_valid_snmp_params_are_accepted_and_redacted(
        community in secret(), auth in secret(), privacy in secret(),
        v3 in any::<bool>(), oids in prop::collection::vec(oid(), 1..8),
        port in 1u16..,
    ) {
        let reg = executors::registry(Instant::now(), executors::Host::default());
        let target = if v3 {
            json!({"target": format!("udp6:[::1]:{port}"), "version": "3", "user": "probe",
                   "auth_protocol": "SHA-256", "auth_password": auth,
                   "priv_protocol": "AES256", "priv_password": privacy})
        } else {
            json!({"target": format!("tcp:127.0.0.1:{port}"), "version": "2c", "community": community})
        };
        let extra = [
            ("snmp.get", json!({"oids": oids})),
            ("snmp.walk", json!({"oid": oids[0], "max_repetitions": 20})),
            ("snmp.set", json!({"varbinds": oids.iter().map(|o| json!({"oid": o, "type": "i", "value": 5})).collect::<Vec<_>>()})),
        ];
        for (kind, extra) in extra {
            let mut params = target.clone();
            for (k, v) in extra.as_object().unwrap() {
                params[k] = v.clone();
            }
            let body = serde_json::to_vec(&json!({"kind": kind, "params": params})).unwrap();
            let job = decode_job(&reg, &body);
            prop_assert!(job.is_ok(), "{kind}: {:?}", job.err());
            let stored = executors::snmp::redact(&params).to_string();
            for s in [&community, &auth, &privacy] {
                prop_assert!(!stored.contains(s.as_str()), "{kind}: {stored}");
            }
            // A misspelt key is refused, not ignored.
            params["comunity"] = json!("x");
            let e = decode_job(&reg, &serde_json::to_vec(&json!({"kind": kind, "params": params})).unwrap()).unwrap_err();
            prop_assert_eq!(e.field.as_deref(), Some("params.comunity"));
        }
    }
}
