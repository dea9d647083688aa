//! Issue 5: the envelope and frame decoders against arbitrary input, and round trips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use outpost_proto::{phoenix::Frame, Message};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    "[ -~é☃]{0,16}"
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (text(), text(), prop::collection::vec(text(), 0..4)).prop_map(
            |(agent_id, version, capabilities)| Message::Hello {
                agent_id,
                version,
                capabilities
            }
        ),
        (text(), text(), proptest::option::of(any::<u64>())).prop_map(|(id, kind, timeout_ms)| {
            Message::Job {
                id,
                kind,
                params: serde_json::json!({"k": 1}),
                timeout_ms,
            }
        }),
        any::<u64>().prop_map(|seq| Message::Ack { seq }),
        (any::<u64>(), text()).prop_map(|(seq, s)| Message::Result {
            seq,
            result: serde_json::json!({"id": s})
        }),
        (any::<u64>(), text()).prop_map(|(seq, s)| Message::Event {
            seq,
            event: serde_json::json!({"kind": s})
        }),
        Just(Message::Heartbeat {}),
        text().prop_map(|id| Message::Cancel { id }),
        (text(), text(), proptest::option::of(text())).prop_map(|(code, message, about)| {
            Message::Error {
                code,
                message,
                about,
            }
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn issue5_envelope_round_trips(m in message()) {
        prop_assert_eq!(Message::decode(&m.encode()).unwrap(), m);
    }

    #[test]
    fn issue5_envelope_decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = Message::decode(&bytes);
    }

    #[test]
    fn issue5_frame_round_trips(jr in proptest::option::of(text()), r in proptest::option::of(text()), topic in text(), m in message()) {
        let f = Frame { join_ref: jr, msg_ref: r, topic, event: m.type_name().into(), payload: m.to_value() };
        let back = Frame::decode(f.encode().as_bytes()).unwrap();
        prop_assert_eq!(Message::from_value(back.payload.clone()).unwrap(), m);
        prop_assert_eq!(back, f);
    }

    #[test]
    fn issue5_frame_decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(f) = Frame::decode(&bytes) {
            let _ = Message::from_value(f.payload);
        }
    }
}

/// Any JSON value a result or event body may be.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        text().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Issue 11: the send path's envelopes (written straight to text, and wrapped in a
    /// Phoenix frame as text) decode as the messages `Message::encode` would have sent.
    #[test]
    fn issue11_delivered_envelopes_round_trip_as_messages(seq in any::<u64>(), body in json_value(), event in any::<bool>()) {
        use outpost_proto::Delivered;
        let (kind, want) = if event {
            (Delivered::Event, Message::Event { seq, event: body.clone() })
        } else {
            (Delivered::Result, Message::Result { seq, result: body.clone() })
        };
        let text = kind.encode(seq, &body).unwrap();
        prop_assert_eq!(Message::decode(text.as_bytes()).unwrap(), want.clone());
        let frame = Frame::encode_with_payload(Some("1"), Some("7"), "agent:x", kind.type_name(), &text);
        let back = Frame::decode(frame.as_bytes()).unwrap();
        prop_assert_eq!(back.event.as_str(), kind.type_name());
        prop_assert_eq!(Message::from_value(back.payload).unwrap(), want);
    }
}
