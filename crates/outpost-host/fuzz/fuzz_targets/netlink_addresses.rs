//! An rtnetlink RTM_GETADDR dump is input (`links::decode_addresses`): any bytes are decoded
//! or refused without panicking, and every address decoded came from a message of its own
//! (a header and an ifaddrmsg: at least 24 bytes each).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let _ = outpost_host::links::decode_addresses(data, &mut out);
    assert!(out.len() <= data.len() / 24);
});
