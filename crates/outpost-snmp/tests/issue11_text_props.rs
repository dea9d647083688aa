//! Issue 11: a poll's result formats OIDs, names and net-snmp lines straight into one buffer
//! (`push_to`) instead of through `fmt`. The text must be exactly what `Display` shows, and
//! the JSON fields a value writes must be exactly those of its own serialization.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use outpost_snmp::mib::Mib;
use outpost_snmp::{Oid, Value, VarBind};
use proptest::prelude::*;

fn oid() -> impl Strategy<Value = Oid> {
    prop_oneof![
        prop::collection::vec(any::<u32>(), 0..40).prop_map(Oid::new),
        // Under names the built-in MIBs know (ifTable columns, system), with any suffix.
        (
            prop::sample::select(vec![
                vec![1u32, 3, 6, 1, 2, 1, 2, 2, 1, 2],
                vec![1, 3, 6, 1, 2, 1, 1, 5],
                vec![1, 3, 6, 1, 6, 3, 1, 1, 5, 3],
                vec![1, 3, 6, 1],
            ]),
            prop::collection::vec(any::<u32>(), 0..4)
        )
            .prop_map(|(mut a, b)| {
                a.extend(b);
                Oid::new(a)
            }),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::Integer),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(Value::OctetString),
        "[ -~é\n\"]{0,40}".prop_map(|s| Value::OctetString(s.into_bytes())),
        Just(Value::Null),
        oid().prop_map(Value::ObjectId),
        any::<[u8; 4]>().prop_map(Value::IpAddress),
        any::<u32>().prop_map(Value::Counter32),
        any::<u32>().prop_map(Value::Gauge32),
        any::<u32>().prop_map(Value::TimeTicks),
        prop::collection::vec(any::<u8>(), 0..16).prop_map(Value::Opaque),
        any::<u64>().prop_map(Value::Counter64),
        Just(Value::NoSuchObject),
        Just(Value::NoSuchInstance),
        Just(Value::EndOfMibView),
    ]
}

/// A map holding only the value's fields, written with `serialize_fields`.
struct Fields<'a>(&'a Value);

impl serde::Serialize for Fields<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        self.0.serialize_fields(&mut m)?;
        m.end()
    }
}

proptest! {
    #[test]
    fn issue11_pushed_text_is_what_display_shows(o in oid(), v in value()) {
        let mib = Mib::builtin();
        let mut out = String::from("prefix:");
        o.push_to(&mut out);
        prop_assert_eq!(&out["prefix:".len()..], o.to_string());
        let named = mib.named(&o);
        out.clear();
        named.push_to(&mut out);
        prop_assert_eq!(&out, &named.to_string());
        prop_assert_eq!(&out, &mib.name_of(&o));
        prop_assert_eq!(named.is_known(), !out.starts_with('.'));
        let vb = VarBind::new(o, v);
        out.clear();
        vb.push_to(&mut out);
        prop_assert_eq!(out, vb.to_string());
    }

    #[test]
    fn issue11_value_fields_are_its_own_serialization(v in value()) {
        let whole = serde_json::to_value(&v).unwrap();
        let fields = serde_json::to_value(Fields(&v)).unwrap();
        prop_assert_eq!(&whole, &fields);
        // The hex form still holds every byte.
        if let Value::OctetString(b) | Value::Opaque(b) = &v {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            prop_assert_eq!(whole["hex"].as_str().unwrap(), hex);
        }
        if let Value::IpAddress([a, b, c, d]) = v {
            prop_assert_eq!(whole["value"].as_str().unwrap(), format!("{a}.{b}.{c}.{d}"));
        }
    }
}
