//! Issue 19: the WAMP v2 `wamp.2.json` codec against arbitrary input (never a panic, typed
//! errors), round trips (every message we encode decodes to itself), and WAMP-CRA
//! signatures against vectors computed by autobahn's own `derive_key`/`compute_wcs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use outpost_proto::wamp::{
    derive_key, hello_details, sign_challenge, CraChallenge, CraError, Dict, Message, Payload,
    WampError, MAX_ID,
};
use proptest::prelude::*;
use serde_json::{json, Value};

fn uri() -> impl Strategy<Value = String> {
    "[a-z_]{1,8}(\\.[a-z0-9_é]{1,8}){0,4}"
}

fn id() -> impl Strategy<Value = u64> {
    prop_oneof![0..=MAX_ID, Just(MAX_ID), Just(1u64)]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // Finite floats exact in few digits: JSON has no NaN, and serde_json (without its
        // `float_roundtrip` feature) may read long decimals back one ulp off.
        any::<i32>().prop_map(|n| Value::from(f64::from(n) / 8.0)),
        "[ -~é☃\"\\\\\n]{0,10}".prop_map(Value::from),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn dict() -> impl Strategy<Value = Dict> {
    prop::collection::btree_map("[a-z_]{0,8}", value(), 0..4).prop_map(|m| m.into_iter().collect())
}

fn payload() -> impl Strategy<Value = Payload> {
    (prop::collection::vec(value(), 0..4), dict())
        .prop_map(|(args, kwargs)| Payload { args, kwargs })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (uri(), dict()).prop_map(|(realm, details)| Message::Hello { realm, details }),
        (id(), dict()).prop_map(|(session, details)| Message::Welcome { session, details }),
        (dict(), uri()).prop_map(|(details, reason)| Message::Abort { details, reason }),
        ("[a-z-]{0,10}", dict()).prop_map(|(method, extra)| Message::Challenge { method, extra }),
        ("[ -~]{0,44}", dict())
            .prop_map(|(signature, extra)| Message::Authenticate { signature, extra }),
        (dict(), uri()).prop_map(|(details, reason)| Message::Goodbye { details, reason }),
        (id(), id(), dict(), uri(), payload()).prop_map(
            |(request_type, request, details, error, payload)| Message::Error {
                request_type,
                request,
                details,
                error,
                payload
            }
        ),
        (id(), dict(), uri(), payload()).prop_map(|(request, options, topic, payload)| {
            Message::Publish {
                request,
                options,
                topic,
                payload,
            }
        }),
        (id(), id()).prop_map(|(request, publication)| Message::Published {
            request,
            publication
        }),
        (id(), dict(), uri()).prop_map(|(request, options, topic)| Message::Subscribe {
            request,
            options,
            topic
        }),
        (id(), id()).prop_map(|(request, subscription)| Message::Subscribed {
            request,
            subscription
        }),
        (id(), id()).prop_map(|(request, subscription)| Message::Unsubscribe {
            request,
            subscription
        }),
        id().prop_map(|request| Message::Unsubscribed { request }),
        (id(), id(), dict(), payload()).prop_map(
            |(subscription, publication, details, payload)| Message::Event {
                subscription,
                publication,
                details,
                payload
            }
        ),
        (id(), dict(), uri(), payload()).prop_map(|(request, options, procedure, payload)| {
            Message::Call {
                request,
                options,
                procedure,
                payload,
            }
        }),
        (id(), dict(), payload()).prop_map(|(request, details, payload)| Message::Result {
            request,
            details,
            payload
        }),
        (id(), dict(), uri()).prop_map(|(request, options, procedure)| Message::Register {
            request,
            options,
            procedure
        }),
        (id(), id()).prop_map(|(request, registration)| Message::Registered {
            request,
            registration
        }),
        (id(), id()).prop_map(|(request, registration)| Message::Unregister {
            request,
            registration
        }),
        (id(), dict()).prop_map(|(request, details)| Message::Unregistered { request, details }),
        (id(), id(), dict(), payload()).prop_map(|(request, registration, details, payload)| {
            Message::Invocation {
                request,
                registration,
                details,
                payload,
            }
        }),
        (id(), dict(), payload()).prop_map(|(request, options, payload)| Message::Yield {
            request,
            options,
            payload
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn issue19_every_message_round_trips(m in message()) {
        let text = m.encode();
        prop_assert_eq!(Message::decode(text.as_bytes()), Ok(m.clone()), "{}", text);
        // The first element is the type code the message reports.
        let v: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(v[0].as_u64(), Some(m.kind()));
    }

    #[test]
    fn issue19_arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(m) = Message::decode(&bytes) {
            prop_assert_eq!(Message::decode(m.encode().as_bytes()), Ok(m));
        }
    }

    /// Arrays that look like messages (a known type code, then random elements) are the
    /// inputs that reach the field readers: each decodes or fails with a typed error.
    #[test]
    fn issue19_near_messages_decode_or_fail_typed(
        code in prop::sample::select(vec![1u64, 2, 3, 4, 5, 6, 8, 16, 17, 32, 33, 34, 35, 36, 48, 50, 64, 65, 66, 67, 68, 70]),
        rest in prop::collection::vec(prop_oneof![value(), id().prop_map(Value::from), uri().prop_map(Value::from)], 0..7),
    ) {
        let mut arr = vec![Value::from(code)];
        arr.extend(rest);
        let text = Value::Array(arr).to_string();
        match Message::decode(text.as_bytes()) {
            Ok(m) => {
                prop_assert_eq!(m.kind(), code);
                prop_assert_eq!(Message::decode(m.encode().as_bytes()), Ok(m));
            }
            Err(WampError::Shape { .. }) => {}
            Err(e) => prop_assert!(false, "unexpected error {e:?} for {text}"),
        }
    }

    /// A CHALLENGE extra with arbitrary values parses or fails typed, and signs.
    #[test]
    fn issue19_cra_extra_parses_or_fails_typed(
        challenge in prop::option::of(value()),
        salt in prop::option::of(value()),
        iterations in prop::option::of(prop_oneof![(0u64..2000).prop_map(Value::from), value()]),
        keylen in prop::option::of(prop_oneof![(0u64..200).prop_map(Value::from), value()]),
    ) {
        let mut extra = Dict::new();
        for (k, v) in [("challenge", challenge), ("salt", salt), ("iterations", iterations), ("keylen", keylen)] {
            if let Some(v) = v {
                extra.insert(k.into(), v);
            }
        }
        if let Ok(c) = CraChallenge::from_extra(&extra) {
            prop_assert!(c.iterations >= 1 && c.keylen >= 1);
            // base64 of 32 bytes.
            prop_assert_eq!(c.sign(b"secret").len(), 44);
        }
    }
}

/// `[secret, salt, iterations, keylen, challenge, derived key, signature]`, printed by
/// autobahn 26.10.2 (the Crossbar venv) with `autobahn.wamp.auth.derive_key` and
/// `compute_wcs`, keyed as its `AuthWampCra.on_challenge` does: the secret's UTF-8 bytes,
/// or with a salt the derived key's base64 text.
const AUTOBAHN_VECTORS: &str = r#"[
["secret-without-salt", null, null, null, "{\"authid\": \"1-2\", \"authrole\": \"device\", \"authmethod\": \"wampcra\", \"authprovider\": \"static\", \"session\": 4815162342, \"nonce\": \"LHRTC9zeOIrt_9U3\", \"timestamp\": \"2026-11-26T23:59:00.000Z\"}", null, "dytf9XhFHWNYIlWtuvDRN9RgoMcT4/3HhIYeuDtJ4Io="],
["ünïcødé secret", null, null, null, "plain challenge", null, "fQwBRP6aH/QLIBYcJs7Xr8qDCvZ5/2EeaGXtcJoZ2Ew="],
["", null, null, null, "", null, "thNnmggU2ex3L5XXeMNfxf8Wl8STcVZTxscSFEKSxa0="],
["prq7+YkJ1/KlW1X0YczMHw==", "salt123", 100, 16, "{\"authid\": \"1-2\", \"authrole\": \"device\", \"authmethod\": \"wampcra\", \"authprovider\": \"static\", \"session\": 4815162342, \"nonce\": \"LHRTC9zeOIrt_9U3\", \"timestamp\": \"2026-11-26T23:59:00.000Z\"}", "fPCrUKxzKFHkuQQIbjrTWQ==", "1AqCZrWvrEERJfjE71RnfJQsuQSMkNfreB9E8pcOjl0="],
["secret2", "saltsalt", 1000, 32, "c", "HJgNfQJFzclqPY6RDiOfR2/O99UDD44ntYCjNvfLHHc=", "3bP4Ewgmkvp4pTRg0ZLi/WQ4NvidH5o94mTsAVp3Zfs="],
["s", "NaCl", 1, 64, "challenge", "D5uTZY78TWiyEahPN2OiV3OAKm8XEGLqYupY2hF1WRs7gk4hkDKBxYhXfWqM3Fy7S4UIEst26J7kDKCsUygrRw==", "MiwWqv3xl+d1L93rU58i9w2T7Ctr2/b2fZ9ZNwoS3zU="]
]"#;

#[test]
fn issue19_wampcra_matches_autobahn_vectors() {
    let vectors: Vec<Vec<Value>> = serde_json::from_str(AUTOBAHN_VECTORS).unwrap();
    assert_eq!(vectors.len(), 6);
    for v in vectors {
        let secret = v[0].as_str().unwrap();
        let want = v[6].as_str().unwrap();
        // Through the CHALLENGE extra, as the client sees it.
        let mut extra = Dict::new();
        extra.insert("challenge".into(), v[4].clone());
        for (i, k) in [(1, "salt"), (2, "iterations"), (3, "keylen")] {
            if !v[i].is_null() {
                extra.insert(k.into(), v[i].clone());
            }
        }
        let c = CraChallenge::from_extra(&extra).unwrap();
        assert_eq!(c.sign(secret.as_bytes()), want, "vector {v:?}");
        // And the two steps on their own.
        let key = match v[1].as_str() {
            Some(salt) => {
                let k = derive_key(
                    secret.as_bytes(),
                    salt.as_bytes(),
                    v[2].as_u64().unwrap() as u32,
                    v[3].as_u64().unwrap() as usize,
                );
                assert_eq!(k, v[5].as_str().unwrap(), "derived key of {v:?}");
                k
            }
            None => secret.to_owned(),
        };
        assert_eq!(sign_challenge(key.as_bytes(), v[4].as_str().unwrap()), want);
    }
}

#[test]
fn issue19_wampcra_extra_errors_name_the_field() {
    let e = |v: Value| CraChallenge::from_extra(v.as_object().unwrap());
    assert_eq!(e(json!({})), Err(CraError::MissingChallenge));
    assert_eq!(e(json!({"challenge": 5})), Err(CraError::MissingChallenge));
    assert_eq!(
        e(json!({"challenge": "c", "salt": 1})),
        Err(CraError::BadSalt)
    );
    assert_eq!(
        e(json!({"challenge": "c", "salt": "s", "iterations": 0})),
        Err(CraError::Iterations)
    );
    // A router asking for a billion rounds is refused, not obeyed.
    assert_eq!(
        e(json!({"challenge": "c", "salt": "s", "iterations": 1_000_000_000u64})),
        Err(CraError::Iterations)
    );
    assert_eq!(
        e(json!({"challenge": "c", "salt": "s", "keylen": 4096})),
        Err(CraError::Keylen)
    );
    assert!(CraError::Keylen.to_string().contains("`keylen`"));
}

#[test]
fn issue19_hello_carries_authid_and_wampcra() {
    let m = Message::Hello {
        realm: "realm1".into(),
        details: hello_details("7-42", &["wampcra"]),
    };
    let v: Value = serde_json::from_str(&m.encode()).unwrap();
    assert_eq!(v[0], 1);
    assert_eq!(v[1], "realm1");
    assert_eq!(v[2]["authid"], "7-42");
    assert_eq!(v[2]["authmethods"], json!(["wampcra"]));
    for role in ["caller", "callee", "publisher", "subscriber"] {
        assert!(v[2]["roles"][role].is_object(), "role {role}");
    }
}
