//! Every datagram the poller or the trap receiver reads goes through this.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = outpost_snmp::Message::decode(data) {
        // Re-encoding a decoded message must not panic either.
        let _ = m.encode();
    }
});
