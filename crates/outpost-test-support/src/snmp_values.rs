//! SNMP values tests generate (proptest strategies for OIDs and `Value`s) or send (a v2c
//! linkDown trap, the v3 trap user of `shared/peers.md`).

use std::sync::Arc;

use outpost_snmp::message::CommunityMessage;
use outpost_snmp::{
    AnyPdu, AuthProtocol, Message, Oid, Pdu, PduType, PrivProtocol, UsmUser, Value, VarBind,
    Version,
};
use proptest::prelude::*;

/// OIDs the BER codec can encode: first arc 0..=2, the second under 40 below 2, then up to
/// 20 arcs of any size.
pub fn encodable_oid() -> impl Strategy<Value = Oid> {
    (
        0u32..3,
        any::<u32>(),
        prop::collection::vec(any::<u32>(), 0..20),
    )
        .prop_map(|(a, b, rest)| {
            let b = if a < 2 { b % 40 } else { b % (u32::MAX - 80) };
            let mut v = vec![a, b];
            v.extend(rest);
            Oid(v)
        })
}

/// OIDs of random arcs, or under prefixes the built-in MIB names (so names are exercised).
pub fn named_oid() -> impl Strategy<Value = Oid> {
    let prefixes = prop::sample::select(vec![
        vec![],
        vec![1, 3, 6, 1, 2, 1, 1, 3],
        vec![1, 3, 6, 1, 6, 3, 1, 1, 5],
        vec![1, 3, 6, 1, 2, 1, 2, 2, 1, 1],
        vec![1, 3, 6, 1, 4, 1, 8072],
    ]);
    let arc = prop_oneof![0u32..200, any::<u32>()];
    (prefixes, prop::collection::vec(arc, 0..8)).prop_map(|(mut p, tail)| {
        p.extend(tail);
        Oid::new(p)
    })
}

/// Bytes that are often text (with quotes, backslashes and control characters), sometimes
/// not UTF-8 at all.
pub fn text_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        "[ -~\"\\\\\t\n\r\u{1}\u{1f}\u{7f}é€😀]{0,24}".prop_map(String::into_bytes),
    ]
}

/// Every kind of `Value`, one alternative each, with the OIDs, octet strings and Opaque
/// contents the caller's test is about.
pub fn value(
    oid: impl Strategy<Value = Oid> + 'static,
    octets: impl Strategy<Value = Vec<u8>> + 'static,
    opaque: impl Strategy<Value = Vec<u8>> + 'static,
) -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::Integer),
        octets.prop_map(Value::OctetString),
        Just(Value::Null),
        oid.prop_map(Value::ObjectId),
        any::<[u8; 4]>().prop_map(Value::IpAddress),
        any::<u32>().prop_map(Value::Counter32),
        any::<u32>().prop_map(Value::Gauge32),
        any::<u32>().prop_map(Value::TimeTicks),
        opaque.prop_map(Value::Opaque),
        any::<u64>().prop_map(Value::Counter64),
        Just(Value::NoSuchObject),
        Just(Value::NoSuchInstance),
        Just(Value::EndOfMibView),
    ]
}

/// A v2c linkDown trap (sysUpTime, snmpTrapOID, ifIndex) with this request id, encoded.
pub fn v2c_trap(community: &str, request_id: i32) -> Vec<u8> {
    let oid = |s: &str| s.parse::<Oid>().unwrap();
    Message::Community(CommunityMessage {
        version: Version::V2c,
        community: community.as_bytes().to_vec().into(),
        pdu: AnyPdu::Pdu(Pdu::new(
            PduType::TrapV2,
            request_id,
            vec![
                VarBind::new(
                    oid(".1.3.6.1.2.1.1.3.0"),
                    Value::TimeTicks(request_id as u32),
                ),
                VarBind::new(
                    oid(".1.3.6.1.6.3.1.1.4.1.0"),
                    Value::ObjectId(oid(".1.3.6.1.6.3.1.1.5.3")),
                ),
                VarBind::new(oid(".1.3.6.1.2.1.2.2.1.1.2"), Value::Integer(2)),
            ],
        )),
    })
    .encode()
}

/// The v3 user trap tests send as (`trapuser`, SHA `authpass123`, AES `privpass123`), as
/// `shared/peers.md` configures snmptrapd and the agent's `trap.v3_users`.
pub fn trap_user() -> Arc<UsmUser> {
    Arc::new(
        UsmUser::new(
            "trapuser",
            Some((AuthProtocol::Sha1, "authpass123".to_string().into())),
            Some((PrivProtocol::Aes128, "privpass123".to_string().into())),
        )
        .unwrap(),
    )
}

/// net-snmp's sender arguments for [`trap_user`].
pub const TRAP_USER_ARGS: [&str; 13] = [
    "-v3",
    "-u",
    "trapuser",
    "-l",
    "authPriv",
    "-a",
    "SHA",
    "-A",
    "authpass123",
    "-x",
    "AES",
    "-X",
    "privpass123",
];
