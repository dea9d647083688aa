//! Issue 10: arbitrary envelopes and sizes through the path a broker message takes
//! (`uplink::inbound::handle_bytes`, with the agent's real registry, dispatcher and store).
//! Whatever the bytes, the answer is either nothing (accepted, or a message that needs no
//! answer) or one bounded `error` with a documented code, naming the job whenever its id was
//! readable; never a panic. The MQTT integration test
//! `issue10_mqtt_hostile_envelopes_get_bounded_errors_and_no_reconnect` drives the same path
//! through Mosquitto and checks the connection never drops.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{sync::OnceLock, time::Duration};

use outpost::uplink::inbound::{self, Handled};
use outpost_core::{CoreMetrics, Dispatcher, DispatcherConfig, Store, StoreConfig};
use outpost_proto::Message;
use outpost_test_support::fixture::Fixture;
use proptest::prelude::*;
use serde_json::{json, Value};

/// One agent core for every case: building a store per case would measure SQLite, not us.
fn world() -> &'static Fixture<Dispatcher> {
    static W: OnceLock<Fixture<Dispatcher>> = OnceLock::new();
    W.get_or_init(|| {
        Fixture::new(|rt, dir| {
            let metrics = CoreMetrics::default();
            let (store, _) =
                Store::open(StoreConfig::new(dir.join("p.db")), metrics.clone()).unwrap();
            let registry = outpost::executors::registry(
                std::time::Instant::now(),
                outpost::executors::Host::default(),
            );
            let _guard = rt.enter();
            Dispatcher::new(
                registry,
                store,
                metrics,
                DispatcherConfig {
                    queue_capacity: 100_000,
                    max_timeout: Duration::from_secs(60),
                },
            )
        })
    })
}

/// Every code `docs/protocol.md` documents.
fn documented() -> Vec<String> {
    let doc = include_str!("../../../docs/protocol.md");
    let table = doc
        .split("<!-- error-codes:begin -->")
        .nth(1)
        .and_then(|t| t.split("<!-- error-codes:end -->").next())
        .unwrap();
    table
        .lines()
        .filter_map(|l| Some(l.strip_prefix("| `")?.split('`').next()?.to_owned()))
        .collect()
}

fn answer(bytes: &[u8]) -> Handled {
    let w = world();
    w.rt.block_on(inbound::handle_bytes(
        &w.value,
        bytes,
        "uplink:mqtt",
        Duration::from_secs(5),
    ))
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Envelopes that are nearly right: real types and kinds, fields of any shape, and ids that
/// are UUIDs, garbage, or absent; sometimes padded past the size limit.
fn envelope() -> impl Strategy<Value = (Vec<u8>, Option<String>)> {
    let kind = prop_oneof![
        Just("echo".to_owned()),
        Just("sleep".to_owned()),
        Just("agent.info".to_owned()),
        Just("metrics".to_owned()),
        "[a-z.]{0,12}",
    ];
    let typ = prop_oneof![
        Just(json!("job")),
        Just(json!("cancel")),
        Just(json!("ack")),
        Just(json!("heartbeat")),
        Just(json!("hello")),
        Just(json!("result")),
        "[a-z]{0,10}".prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
    ];
    let id = prop_oneof![
        Just(None),
        Just(Some(uuid::Uuid::now_v7().to_string())),
        "[ -~]{0,40}".prop_map(Some),
    ];
    let version = prop_oneof![
        Just(json!(1)),
        Just(json!(2)),
        Just(json!("1")),
        Just(Value::Null)
    ];
    (
        typ,
        kind,
        id,
        json_value(),
        version,
        prop::option::of(any::<u64>()),
        prop_oneof![Just(0usize), Just(0usize), Just(1usize << 20)],
    )
        .prop_map(|(typ, kind, id, params, v, timeout, pad)| {
            // The id first, as control planes write it, so a scan can find it even when the
            // rest is too large or broken.
            let mut m = serde_json::Map::new();
            if let Some(id) = &id {
                m.insert("id".into(), json!(id));
            }
            m.insert("v".into(), v);
            m.insert("type".into(), typ);
            m.insert("kind".into(), json!(kind));
            m.insert("params".into(), params);
            if let Some(t) = timeout {
                m.insert("timeout_ms".into(), json!(t % 100_000));
            }
            if pad > 0 {
                m.insert("pad".into(), json!("x".repeat(pad)));
            }
            (serde_json::to_vec(&Value::Object(m)).unwrap(), id)
        })
}

fn check(bytes: &[u8], id: Option<&str>) -> Result<(), TestCaseError> {
    match answer(bytes) {
        Handled::Nothing | Handled::Ack(_) => {}
        Handled::Reply(Message::Error {
            code,
            message,
            about,
        }) => {
            prop_assert!(documented().contains(&code), "undocumented code {code}");
            prop_assert!(message.len() <= 700, "{code}: {} bytes", message.len());
            if let Some(about) = &about {
                prop_assert!(about.len() <= 128);
            }
            // A readable job id is named, whatever else is wrong.
            if let Some(id) = id.filter(|i| i.len() <= 128 && !i.contains(['"', '\\'])) {
                if code != "unexpected" {
                    prop_assert_eq!(about.as_deref(), Some(id), "{}: {}", code, message);
                }
            }
            if bytes.len() > outpost_proto::envelope::MAX_MESSAGE_BYTES {
                prop_assert_eq!(code, "too_large");
            }
        }
        Handled::Reply(other) => prop_assert!(false, "unexpected reply {other:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn issue10_arbitrary_bytes_through_the_broker_path_get_one_bounded_error(
        bytes in prop::collection::vec(any::<u8>(), 0..4096)
    ) {
        check(&bytes, None)?;
    }

    #[test]
    fn issue10_arbitrary_envelopes_and_sizes_name_their_job(case in envelope()) {
        let (bytes, id) = case;
        check(&bytes, id.as_deref())?;
    }
}
