//! Arbitrary request frames never panic; the protobuf round-trips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use flate2::read::GzDecoder;
use outpost_host::processes::{Process, ProcessList};
use outpost_host::socktop::{self, answer, parse_request, Frame, Reply};
use outpost_host::Host;
use proptest::prelude::*;
use std::io::Read;
use std::sync::OnceLock;

fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(Host::default)
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(s in ".{0,200}") {
        let _ = parse_request(Frame::Text(&s));
        let _ = answer(host(), Frame::Text(&s));
    }

    #[test]
    fn arbitrary_json_shapes_never_panic(kind in "[a-z]{0,12}", extra in any::<i64>()) {
        let s = format!(r#"{{"type":"{kind}","n":{extra}}}"#);
        let _ = answer(host(), Frame::Text(&s));
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = answer(host(), Frame::Binary(&b));
        if let Ok(s) = std::str::from_utf8(&b) {
            let _ = answer(host(), Frame::Text(s));
        }
    }

    #[test]
    fn process_list_round_trips(rows in proptest::collection::vec(
        (any::<u32>(), ".{0,20}", 0.0f32..=100.0, any::<u64>()), 0..60)) {
        let list = ProcessList {
            rows: rows.iter().map(|(pid, name, cpu, mem)| Process {
                pid: *pid,
                name: name.clone(),
                cpu_percent: *cpu,
                rss_bytes: *mem,
            }).collect(),
        };
        let Reply::Binary(b) = socktop::processes_reply(&list) else {
            panic!("processes must be binary")
        };
        let raw = if b.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            GzDecoder::new(&b[..]).read_to_end(&mut out).unwrap();
            out
        } else {
            b.to_vec()
        };
        let decoded: socktop::Processes = prost::Message::decode(raw.as_slice()).unwrap();
        prop_assert_eq!(decoded, socktop::processes(&list));
    }
}

proptest! {
    // /proc and /sys content is input too: no parser panics on any text.
    #[test]
    fn proc_parsers_never_panic(s in "(?s).{0,400}") {
        let _ = outpost_host::cpu::parse_stat(&s);
        let _ = outpost_host::memory::parse_meminfo(&s);
        let _ = outpost_host::net::parse_net_dev(&s);
        let _ = outpost_host::disks::parse_mounts(&s);
        let _ = outpost_host::processes::parse_pid_stat(&s);
    }

    #[test]
    fn proc_parsers_never_panic_on_near_valid_lines(
        prefix in "(cpu[0-9]?|MemTotal:|[a-z]{1,4}:|[0-9]{1,5} \\()",
        nums in proptest::collection::vec("-?[0-9]{0,22}|\\(|\\)|\\\\[0-7]{0,3}", 0..30),
    ) {
        let s = format!("{prefix} {}", nums.join(" "));
        let _ = outpost_host::cpu::parse_stat(&s);
        let _ = outpost_host::memory::parse_meminfo(&s);
        let _ = outpost_host::net::parse_net_dev(&s);
        let _ = outpost_host::disks::parse_mounts(&s);
        let _ = outpost_host::processes::parse_pid_stat(&s);
    }
}
