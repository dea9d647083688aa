//! Decoded values are rendered as net-snmp text (`snmpwalk -On` lines), as JSON (job results,
//! trap events) and with MIB names; none may panic, whatever the varbind holds.
//!
//! Seeds: replies captured from snmpd (every value type it serves: strings, OIDs, IpAddress,
//! Counter32/64, Gauge32, TimeTicks, noSuchObject, endOfMibView) and traps with one varbind
//! of each snmptrap type (bench/fuzz/capture.py).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

use outpost_snmp::mib::Mib;
use outpost_snmp::{AnyPdu, Message, ScopedPduData};

static MIB: OnceLock<Mib> = OnceLock::new();

fn varbinds(pdu: AnyPdu) -> Vec<outpost_snmp::VarBind> {
    match pdu {
        AnyPdu::Pdu(p) => p.varbinds,
        // The trap receiver renders a v1 trap in its v2 form.
        AnyPdu::TrapV1(t) => t.to_v2_varbinds(),
    }
}

fuzz_target!(|data: &[u8]| {
    let vbs = match Message::decode(data) {
        Ok(Message::Community(c)) => varbinds(c.pdu),
        Ok(Message::V3(v)) => match v.data {
            ScopedPduData::Plain(s) => varbinds(s.pdu),
            ScopedPduData::Encrypted(_) => Vec::new(),
        },
        Err(_) => Vec::new(),
    };
    let mib = MIB.get_or_init(Mib::builtin);
    for vb in vbs {
        let text = vb.to_string();
        assert!(!text.is_empty());
        let json = serde_json::to_string(&vb).expect("a varbind serializes to JSON");
        assert!(
            serde_json::from_str::<serde_json::Value>(&json).is_ok(),
            "invalid JSON: {json}"
        );
        let _ = vb.value.type_name();
        let _ = mib.name_of(&vb.oid);
    }
});
