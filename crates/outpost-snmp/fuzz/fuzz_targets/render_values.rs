//! Decoded values are rendered as net-snmp text and JSON; neither may panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

use outpost_snmp::mib::Mib;
use outpost_snmp::{AnyPdu, Message};

static MIB: OnceLock<Mib> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let vbs = match Message::decode(data) {
        Ok(Message::Community(c)) => match c.pdu {
            AnyPdu::Pdu(p) => p.varbinds,
            AnyPdu::TrapV1(t) => t.varbinds,
        },
        Ok(Message::V3(v)) => match v.data {
            outpost_snmp::ScopedPduData::Plain(s) => match s.pdu {
                AnyPdu::Pdu(p) => p.varbinds,
                AnyPdu::TrapV1(t) => t.varbinds,
            },
            _ => Vec::new(),
        },
        Err(_) => Vec::new(),
    };
    for vb in vbs {
        let _ = vb.to_string();
        let _ = MIB.get_or_init(Mib::builtin).name_of(&vb.oid);
    }
});
