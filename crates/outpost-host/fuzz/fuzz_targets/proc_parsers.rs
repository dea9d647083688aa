//! /proc content is input: every parser takes any text without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let _ = outpost_host::cpu::parse_stat(&s);
    let _ = outpost_host::memory::parse_meminfo(&s);
    let _ = outpost_host::net::parse_net_dev(&s);
    let _ = outpost_host::disks::parse_mounts(&s);
    let _ = outpost_host::processes::parse_pid_stat(&s);
});
