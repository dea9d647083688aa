//! Every datagram the poller or the trap receiver reads goes through this. A decoded message
//! re-encodes, and its encoding decodes and encodes to the same bytes (our encoder never
//! writes what our decoder refuses or reads differently).
//!
//! Seeds: datagrams captured from snmpd, snmptrap and snmpinform (bench/fuzz/capture.py).
#![no_main]
use libfuzzer_sys::fuzz_target;
use outpost_snmp::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Message::decode(data) else {
        return;
    };
    let once = m.encode();
    let again = Message::decode(&once).expect("our own encoding of a decoded message decodes");
    assert_eq!(again.encode(), once, "encode(decode(encode(m))) differs from encode(m)");
});
