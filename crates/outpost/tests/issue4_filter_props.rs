//! Issue 4: bytes from the network can't panic the trap receiver. The same filter the
//! read loop runs (decode, community/network check, v3 lookup, authentication, decryption,
//! normalization) on arbitrary bytes and on mutations of valid v2c and v3 authPriv traps.
//! The cargo-fuzz target `trap_filter` (crates/outpost/fuzz) runs the same check longer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use outpost::trap::{
    config::TrapSection,
    filter::{Decision, Filter},
    DropReason, TrapSettings,
};
use outpost_snmp::message::{CommunityMessage, ScopedPdu};
use outpost_snmp::security::{self, EngineParams, SealParams, SecurityLevel};
use outpost_snmp::size::DEFAULT_MSG_MAX_SIZE;
use outpost_snmp::{AnyPdu, Message, Oid, Pdu, PduType, Value, VarBind, Version};
use outpost_test_support::snmp_values::trap_user;
use proptest::prelude::*;

fn filter() -> &'static Filter {
    static F: OnceLock<Filter> = OnceLock::new();
    F.get_or_init(|| {
        let section: TrapSection = toml::from_str(
            r#"enabled = true
port = 162
listen = "127.0.0.1"
communities = "public"
allowed_networks = "127.0.0.0/8"
v3_users = "trapuser:0x8000000001020304:SHA:authpass123:AES:privpass123"
recv_buffer_bytes = 65536
queue_capacity = 16
log = false"#,
        )
        .unwrap();
        let mut s = TrapSettings::from_section(&section, b"\x80\x00\x1f\x88\x04props").unwrap();
        Filter::new(&mut s)
    })
}

fn varbinds() -> Vec<VarBind> {
    let oid = |s: &str| s.parse::<Oid>().unwrap();
    vec![
        VarBind::new(oid(".1.3.6.1.2.1.1.3.0"), Value::TimeTicks(5)),
        VarBind::new(
            oid(".1.3.6.1.6.3.1.1.4.1.0"),
            Value::ObjectId(oid(".1.3.6.1.6.3.1.1.5.3")),
        ),
    ]
}

fn v2c() -> Vec<u8> {
    Message::Community(CommunityMessage {
        version: Version::V2c,
        community: b"public".to_vec().into(),
        pdu: AnyPdu::Pdu(Pdu::new(PduType::TrapV2, 9, varbinds())),
    })
    .encode()
}

fn v3() -> Vec<u8> {
    let user = trap_user();
    let engine = EngineParams {
        engine_id: vec![0x80, 0, 0, 0, 1, 2, 3, 4],
        boots: 1,
        time: 1,
    };
    let keys = user.localize(&engine.engine_id).unwrap();
    let scoped = ScopedPdu {
        context_engine_id: engine.engine_id.clone(),
        context_name: vec![],
        pdu: AnyPdu::Pdu(Pdu::new(PduType::TrapV2, 10, varbinds())),
    };
    security::seal(&SealParams {
        msg_id: 1,
        max_size: DEFAULT_MSG_MAX_SIZE,
        level: SecurityLevel::AuthPriv,
        reportable: false,
        engine: &engine,
        user_name: b"trapuser",
        scoped: &scoped,
        keys: &keys,
        salt: 7,
    })
    .unwrap()
}

fn check(b: &[u8]) -> Decision {
    let d = filter().check(b, "127.0.0.1:40000".parse().unwrap());
    if let Decision::Accept(n, _) = &d {
        let _ = n.payload();
        let _ = outpost::trap::log::line(n);
    }
    d
}

#[test]
fn issue4_valid_v2c_and_v3_traps_are_accepted_and_tampering_is_refused() {
    assert!(matches!(check(&v2c()), Decision::Accept(..)));
    assert!(matches!(check(&v3()), Decision::Accept(..)));
    // Flip one byte near the end (inside the encrypted PDU or the MAC): authentication fails.
    let mut t = v3();
    let i = t.len() - 2;
    t[i] ^= 0x55;
    assert!(matches!(
        check(&t),
        Decision::Drop(DropReason::AuthFailure | DropReason::Malformed)
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn issue4_arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = check(&b);
    }

    #[test]
    fn issue4_mutated_traps_never_panic(
        which in any::<bool>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut b = if which { v2c() } else { v3() };
        for (i, v) in edits {
            let at = i.index(b.len());
            b[at] = v;
        }
        let keep = cut.index(b.len() + 1);
        b.truncate(keep.max(b.len() / 2));
        let _ = check(&b);
    }
}
