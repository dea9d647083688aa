//! Issue 15: `RunSpec`, the one shape `container.run` params and an app's service become,
//! survives its JSON round trip unchanged (what a job stores is what the engine gets), any
//! JSON fed to it is an error or a spec (never a panic), and every spec that passes
//! `create::check` turns into a create body without panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use outpost_containers::create;
use outpost_containers::run_spec::{
    Healthcheck, Mount, MountKind, PortMap, Protocol, RestartPolicy, RunSpec,
};
use proptest::prelude::*;

fn word() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_.-]{0,12}"
}

fn text() -> impl Strategy<Value = String> {
    // Any characters, quotes, backslashes and non-ASCII included.
    "\\PC{0,16}"
}

fn port() -> impl Strategy<Value = PortMap> {
    (
        1u16..,
        proptest::option::of(1u16..),
        proptest::option::of(prop_oneof![
            Just("127.0.0.1".to_owned()),
            Just("::1".to_owned())
        ]),
        prop_oneof![
            Just(Protocol::Tcp),
            Just(Protocol::Udp),
            Just(Protocol::Sctp)
        ],
    )
        .prop_map(|(container_port, host_port, host_ip, protocol)| PortMap {
            container_port,
            host_port,
            host_ip,
            protocol,
        })
}

fn mount() -> impl Strategy<Value = Mount> {
    (
        prop_oneof![
            Just(MountKind::Bind),
            Just(MountKind::Volume),
            Just(MountKind::Tmpfs)
        ],
        proptest::option::of(word().prop_map(|w| format!("/{w}"))),
        word().prop_map(|w| format!("/{w}")),
        any::<bool>(),
    )
        .prop_map(|(kind, source, target, read_only)| Mount {
            kind,
            source,
            target,
            read_only,
        })
}

fn restart() -> impl Strategy<Value = RestartPolicy> {
    prop_oneof![
        Just(RestartPolicy::No),
        Just(RestartPolicy::Always),
        Just(RestartPolicy::UnlessStopped),
        proptest::option::of(0u32..100)
            .prop_map(|max_retries| RestartPolicy::OnFailure { max_retries }),
    ]
}

fn healthcheck() -> impl Strategy<Value = Healthcheck> {
    (
        proptest::collection::vec(text(), 1..4),
        proptest::option::of(0u64..1_000_000),
        proptest::option::of(0u64..1_000_000),
        proptest::option::of(0u32..10),
        proptest::option::of(0u64..1_000_000),
    )
        .prop_map(
            |(test, interval_ms, timeout_ms, retries, start_period_ms)| Healthcheck {
                test,
                interval_ms,
                timeout_ms,
                retries,
                start_period_ms,
            },
        )
}

prop_compose! {
    fn spec()(
        image in word(),
        name in proptest::option::of(word()),
        command in proptest::option::of(proptest::collection::vec(text(), 1..4)),
        entrypoint in proptest::option::of(proptest::collection::vec(text(), 0..3)),
        env in proptest::collection::btree_map("[A-Z_][A-Z0-9_]{0,8}", text(), 0..4),
        ports in proptest::collection::vec(port(), 0..3),
        mounts in proptest::collection::vec(mount(), 0..3),
        restart in restart(),
        network_mode in proptest::option::of(prop_oneof![Just("none".to_owned()), Just("host".to_owned()), word()]),
        memory_bytes in proptest::option::of(6_291_456u64..(1 << 40)),
        // Quarters of a CPU: exact in binary, so the JSON text round trip is exact too.
        cpus in proptest::option::of((1u32..64).prop_map(|q| f64::from(q) / 4.0)),
        labels in proptest::collection::btree_map(word(), text(), 0..4),
        privileged in any::<bool>(),
        working_dir in proptest::option::of(word().prop_map(|w| format!("/{w}"))),
        user in proptest::option::of(word()),
        healthcheck in proptest::option::of(healthcheck()),
    ) -> RunSpec {
        RunSpec {
            image, name, command, entrypoint, env, ports, mounts, restart, network_mode,
            memory_bytes, cpus, labels, privileged, working_dir, user, healthcheck,
        }
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        text().prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("image".to_owned()),
                    Just("ports".to_owned()),
                    Just("mounts".to_owned()),
                    Just("restart".to_owned()),
                    Just("env".to_owned()),
                    Just("policy".to_owned()),
                    Just("container_port".to_owned()),
                    word()
                ],
                inner,
                0..5
            )
            .prop_map(|m: BTreeMap<String, serde_json::Value>| {
                serde_json::Value::Object(m.into_iter().collect())
            }),
        ]
    })
}

proptest! {
    #[test]
    fn issue15_run_spec_json_round_trip_is_exact(s in spec()) {
        let text = serde_json::to_string(&s).unwrap();
        let back: RunSpec = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &s);
        // And through a JSON tree, as a job's params arrive.
        let v = serde_json::to_value(&s).unwrap();
        let back: RunSpec = serde_json::from_value(v).unwrap();
        prop_assert_eq!(back, s);
    }

    #[test]
    fn issue15_any_checked_spec_becomes_a_create_body(s in spec()) {
        if create::check(&s).is_ok() {
            let body = create::create_body(&s);
            prop_assert_eq!(body.image.as_deref(), Some(s.image.as_str()));
            prop_assert_eq!(body.env.map(|e| e.len()).unwrap_or(0), s.env.len());
        }
    }

    #[test]
    fn issue15_arbitrary_json_is_a_spec_or_an_error_never_a_panic(v in json_value()) {
        if let Ok(s) = serde_json::from_value::<RunSpec>(v) {
            let _ = create::check(&s);
            let _ = create::create_body(&s);
        }
    }
}
