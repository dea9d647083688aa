//! Every byte of a `POST /v1/jobs` body: decoding and validation must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let reg = outpost::executors::registry(std::time::Instant::now(), outpost::executors::Host::default());
    let _ = outpost::api::jobs::decode_job(&reg, data);
});
