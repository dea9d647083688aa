//! /proc content is input: every parser takes any text without panicking.
//!
//! Input: one mode byte, then the text. The mode picks the parser (0 /proc/stat,
//! 1 /proc/meminfo, 2 /proc/net/dev, 3 /proc/mounts, 4 /proc/PID/stat, else all of them),
//! so each seed (a real file of that kind) is mutated against its own parser.
//! `stage_*` functions mark a parser that accepted its input, in libFuzzer's coverage output.
#![no_main]

use libfuzzer_sys::fuzz_target;

// Each marker's body differs (its name): rustc merges identical functions, which would fold
// every marker into one name in the coverage output.
macro_rules! stages {
    ($($f:ident),* $(,)?) => {
        $(#[inline(never)] fn $f() { std::hint::black_box(stringify!($f)); })*
    };
}
stages!(
    stage_stat,
    stage_meminfo,
    stage_net_dev,
    stage_mounts,
    stage_pid_stat
);

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let s = String::from_utf8_lossy(rest);
    let all = mode % 8 > 4;
    if all || mode % 8 == 0 {
        if outpost_host::cpu::parse_stat(&s).is_ok() {
            stage_stat();
        }
    }
    if all || mode % 8 == 1 {
        if outpost_host::memory::parse_meminfo(&s).is_ok() {
            stage_meminfo();
        }
    }
    if all || mode % 8 == 2 {
        if !outpost_host::net::parse_net_dev(&s).is_empty() {
            stage_net_dev();
        }
    }
    if all || mode % 8 == 3 {
        if !outpost_host::disks::parse_mounts(&s).is_empty() {
            stage_mounts();
        }
    }
    if all || mode % 8 == 4 {
        if outpost_host::processes::parse_pid_stat(&s).is_some() {
            stage_pid_stat();
        }
    }
});
