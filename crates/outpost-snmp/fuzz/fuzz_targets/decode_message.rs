//! Every datagram the poller or the trap receiver reads goes through this. A decoded message
//! re-encodes, and its encoding decodes and encodes to the same bytes (our encoder never
//! writes what our decoder refuses or reads differently).
//!
//! Seeds: datagrams captured from snmpd, snmptrap and snmpinform (bench/fuzz/capture.py).
#![no_main]
use libfuzzer_sys::fuzz_target;
use outpost_snmp::{Message, Version};

// Each marker's body differs (its name): rustc merges identical functions, which would fold
// every marker into one name in the coverage output (bench/fuzz/run.sh reads them).
macro_rules! stages {
    ($($f:ident),* $(,)?) => {
        $(#[inline(never)] fn $f() { std::hint::black_box(stringify!($f)); })*
    };
}
stages!(stage_decoded_v1, stage_decoded_v2c, stage_decoded_v3);

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Message::decode(data) else {
        return;
    };
    match m.version() {
        Version::V1 => stage_decoded_v1(),
        Version::V2c => stage_decoded_v2c(),
        Version::V3 => stage_decoded_v3(),
    }
    let once = m.encode();
    let again = Message::decode(&once).expect("our own encoding of a decoded message decodes");
    assert_eq!(
        again.encode(),
        once,
        "encode(decode(encode(m))) differs from encode(m)"
    );
});
