//! Every byte of a `POST /v1/jobs` body: decoding and validation must never panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// Built once: the registry is read-only during decoding, and building it per input (with
/// its host handle) made each run ~3 ms, so a minute covered only ~20,000 inputs.
static REGISTRY: OnceLock<outpost_core::Registry> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let reg = REGISTRY.get_or_init(|| {
        outpost::executors::registry(std::time::Instant::now(), outpost::executors::Host::default())
    });
    let _ = outpost::api::jobs::decode_job(reg, data);
});
