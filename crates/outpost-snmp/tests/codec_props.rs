//! Property tests of the codec: encode→decode is the identity for every
//! message kind, and no byte string (random or a mutated valid message)
//! makes a decoder panic. The cargo-fuzz targets in `fuzz/` run the same
//! decoders for longer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use outpost_snmp::message::{
    flags, CommunityMessage, Message, ScopedPdu, ScopedPduData, UsmParams, V3Message, Version,
};
use outpost_snmp::mib::Mib;
use outpost_snmp::pdu::{AnyPdu, Pdu, PduType, TrapV1Pdu};
use outpost_snmp::security::{self, EngineParams, SealParams, SecurityLevel, UsmUser};
use outpost_snmp::size::DEFAULT_MSG_MAX_SIZE;
use outpost_snmp::usm::LocalizedKeys;
use outpost_snmp::{AuthProtocol, Oid, PrivProtocol, Value, VarBind};
use outpost_test_support::snmp_values::{self, encodable_oid};
use proptest::prelude::*;
use secrecy::{ExposeSecret, SecretSlice};

fn oid() -> impl Strategy<Value = Oid> {
    encodable_oid()
}

fn value() -> impl Strategy<Value = Value> {
    snmp_values::value(
        oid(),
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::vec(any::<u8>(), 0..40),
    )
}

fn varbinds() -> impl Strategy<Value = Vec<VarBind>> {
    prop::collection::vec(
        (oid(), value()).prop_map(|(o, v)| VarBind::new(o, v)),
        0..12,
    )
}

fn pdu() -> impl Strategy<Value = Pdu> {
    let types = prop_oneof![
        Just(PduType::Get),
        Just(PduType::GetNext),
        Just(PduType::Response),
        Just(PduType::Set),
        Just(PduType::GetBulk),
        Just(PduType::Inform),
        Just(PduType::TrapV2),
        Just(PduType::Report),
    ];
    (types, any::<i32>(), any::<i32>(), any::<i32>(), varbinds()).prop_map(|(t, id, s, i, vbs)| {
        Pdu {
            pdu_type: t,
            request_id: id,
            error_status: s,
            error_index: i,
            varbinds: vbs,
        }
    })
}

fn trap_v1() -> impl Strategy<Value = TrapV1Pdu> {
    (
        oid(),
        any::<[u8; 4]>(),
        any::<i32>(),
        any::<i32>(),
        any::<u32>(),
        varbinds(),
    )
        .prop_map(
            |(enterprise, agent_addr, generic_trap, specific_trap, timestamp, varbinds)| {
                TrapV1Pdu {
                    enterprise,
                    agent_addr,
                    generic_trap,
                    specific_trap,
                    timestamp,
                    varbinds,
                }
            },
        )
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn v3_message() -> impl Strategy<Value = V3Message> {
    let usm = (
        bytes(32),
        any::<i32>(),
        any::<i32>(),
        bytes(32),
        bytes(48),
        bytes(8),
    )
        .prop_map(
            |(engine_id, engine_boots, engine_time, user_name, auth_params, priv_params)| {
                UsmParams {
                    engine_id,
                    engine_boots,
                    engine_time,
                    user_name,
                    auth_params,
                    priv_params,
                }
            },
        );
    let plain = (bytes(32), bytes(32), pdu()).prop_map(|(c, n, p)| {
        ScopedPduData::Plain(ScopedPdu {
            context_engine_id: c,
            context_name: n,
            pdu: AnyPdu::Pdu(p),
        })
    });
    (
        any::<i32>(),
        any::<i32>(),
        0u8..8,
        usm,
        prop_oneof![plain, bytes(200).prop_map(ScopedPduData::Encrypted)],
    )
        .prop_map(|(msg_id, max_size, fl, usm, data)| {
            // The priv flag is what tells a decoder the data is encrypted.
            let fl = match data {
                ScopedPduData::Encrypted(_) => fl | flags::PRIV,
                ScopedPduData::Plain(_) => fl & !flags::PRIV,
            };
            V3Message {
                msg_id,
                max_size,
                flags: fl,
                usm,
                data,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn community_roundtrip(v1 in any::<bool>(), community in bytes(40), p in pdu(), t in trap_v1(), use_trap in any::<bool>()) {
        let (version, any_pdu) = if v1 && use_trap {
            (Version::V1, AnyPdu::TrapV1(t))
        } else if v1 {
            let mut p = p;
            if matches!(p.pdu_type, PduType::GetBulk | PduType::Inform | PduType::TrapV2 | PduType::Report) {
                p.pdu_type = PduType::Get;
            }
            (Version::V1, AnyPdu::Pdu(p))
        } else {
            (Version::V2c, AnyPdu::Pdu(p))
        };
        let m = Message::Community(CommunityMessage { version, community: SecretSlice::from(community.clone()), pdu: any_pdu.clone() });
        let back = Message::decode(&m.encode()).unwrap();
        let Message::Community(c) = back else { panic!("not community") };
        prop_assert_eq!(c.version, version);
        prop_assert_eq!(c.community.expose_secret(), &community[..]);
        prop_assert_eq!(c.pdu, any_pdu);
    }

    #[test]
    fn v3_roundtrip(m in v3_message()) {
        let back = Message::decode(&Message::V3(m.clone()).encode()).unwrap();
        let Message::V3(v) = back else { panic!("not v3") };
        prop_assert_eq!(v, m);
    }

    #[test]
    fn issue4_oid_text_is_dotted_decimal(arcs in prop::collection::vec(any::<u32>(), 1..130)) {
        let want: String = arcs.iter().map(|a| format!(".{a}")).collect();
        prop_assert_eq!(Oid(arcs).to_string(), want);
    }

    #[test]
    fn issue4_named_oid_equals_name_of(
        base in prop::sample::select(vec![
            vec![1u32, 3, 6, 1, 2, 1, 1, 3],
            vec![1, 3, 6, 1, 2, 1, 2, 2, 1, 1],
            vec![1, 3, 6, 1, 6, 3, 1, 1, 5],
            vec![1, 3, 6, 1, 4, 1, 8072],
            vec![1, 3, 6, 1, 99],
            vec![2, 25],
        ]),
        tail in prop::collection::vec(any::<u32>(), 0..4),
    ) {
        let mib = outpost_snmp::mib::Mib::builtin();
        let mut arcs = base;
        arcs.extend(tail);
        let oid = Oid(arcs);
        prop_assert_eq!(mib.named(&oid).to_string(), mib.name_of(&oid));
    }

    #[test]
    fn value_text_never_panics(v in value()) {
        let _ = v.to_string();
        let _ = serde_json::to_string(&v).unwrap();
    }

    #[test]
    fn random_bytes_never_panic(b in bytes(600)) {
        let _ = Message::decode(&b);
        let _ = security::open(&b, Some(keys()));
    }

    #[test]
    fn mutated_messages_never_panic(p in pdu(), cut in any::<prop::sample::Index>(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8)) {
        let m = Message::Community(CommunityMessage { version: Version::V2c, community: SecretSlice::from(b"public".to_vec()), pdu: AnyPdu::Pdu(p) });
        let mut b = m.encode();
        for (i, x) in flips {
            let i = i.index(b.len());
            b[i] ^= x;
        }
        let c = cut.index(b.len() + 1);
        let _ = Message::decode(&b[..c]);
        if let Ok(Message::Community(c)) = Message::decode(&b) {
            if let AnyPdu::Pdu(p) = c.pdu { for vb in p.varbinds { let _ = vb.to_string(); } }
        }
    }

    /// seal→open is the identity for every auth/priv pair, and a flipped
    /// byte anywhere is rejected (authentication covers the whole message).
    #[test]
    fn v3_seal_open_roundtrip(p in pdu(), which in 0usize..7, salt in any::<u64>(), boots in 0i32..1000, time in 0i32..100000, flip in any::<prop::sample::Index>()) {
        let (keys, level) = &all_keys()[which];
        let engine = EngineParams { engine_id: ENGINE_ID.to_vec(), boots, time };
        let scoped = ScopedPdu { context_engine_id: ENGINE_ID.to_vec(), context_name: vec![], pdu: AnyPdu::Pdu(p) };
        let bytes = security::seal(&SealParams { msg_id: 7, max_size: DEFAULT_MSG_MAX_SIZE, level: *level, reportable: true, engine: &engine, user_name: b"user", scoped: &scoped, keys, salt }).unwrap();
        let (_, got) = security::open(&bytes, Some(keys)).unwrap();
        prop_assert_eq!(got, scoped);
        let mut bad = bytes.clone();
        let i = flip.index(bad.len());
        bad[i] ^= 0x01;
        // Either undecodable or rejected; never accepted as authentic.
        if let Ok((m, _)) = security::open(&bad, Some(keys)) {
            prop_assert!(m.flags & flags::AUTH == 0, "tampered message accepted at byte {}", i);
        }
    }
}

const ENGINE_ID: &[u8] = &[0x80, 0, 0x1f, 0x88, 0x80, 1, 2, 3, 4, 5, 6, 7];

fn keys() -> &'static LocalizedKeys {
    &all_keys()[0].0
}

/// Localized keys for each auth/priv pair (password-to-key is slow; once).
fn all_keys() -> &'static Vec<(LocalizedKeys, SecurityLevel)> {
    static K: OnceLock<Vec<(LocalizedKeys, SecurityLevel)>> = OnceLock::new();
    K.get_or_init(|| {
        let pairs = [
            (AuthProtocol::Sha1, Some(PrivProtocol::Aes128)),
            (AuthProtocol::Md5, Some(PrivProtocol::Des)),
            (AuthProtocol::Sha224, Some(PrivProtocol::Aes192)),
            (AuthProtocol::Sha256, Some(PrivProtocol::Aes256)),
            (AuthProtocol::Sha384, None),
            (AuthProtocol::Sha512, Some(PrivProtocol::Aes256)),
            (AuthProtocol::Sha1, Some(PrivProtocol::Aes256)),
        ];
        pairs
            .iter()
            .map(|(a, p)| {
                let u = UsmUser::new(
                    "user",
                    Some((*a, "authpass123".to_string().into())),
                    p.map(|p| (p, "privpass123".to_string().into())),
                )
                .unwrap();
                (u.localize(ENGINE_ID).unwrap(), u.level())
            })
            .collect()
    })
}

/// OIDs for the text checks: any (the empty one too), and under names the built-in MIBs
/// know (ifTable columns, system, snmpTraps), with any suffix.
fn text_oid() -> impl Strategy<Value = Oid> {
    prop_oneof![
        oid(),
        prop::collection::vec(any::<u32>(), 0..3).prop_map(Oid::new),
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

// Issue 11: a poll's result formats OIDs, names and net-snmp lines straight into one buffer
// (`push_to`) instead of through `fmt`. The text must be exactly what `Display` shows, and
// the JSON fields a value writes must be exactly those of its own serialization.

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
    fn issue11_pushed_text_is_what_display_shows(o in text_oid(), v in value()) {
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
