//! Issue 10: the process view's requests and the files and output they parse
//! never panic, whatever they hold, and every per-process request gets
//! exactly one reply: a detail, a journal or socktop's error shape.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use flate2::read::GzDecoder;
use outpost_host::journal::{journal_match, parse_entries};
use outpost_host::process_detail::{parse_cmdline, parse_io, parse_smaps_rollup_rss, parse_status};
use outpost_host::processes::parse_statm;
use outpost_host::socktop::{answer, Frame, Reply};
use outpost_host::{Host, HostConfig};
use proptest::prelude::*;
use std::io::Read;
use std::sync::OnceLock;

fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    // No journal here: a journal request must not start journalctl per case.
    HOST.get_or_init(|| {
        Host::new(HostConfig {
            journalctl: "/nonexistent/journalctl".into(),
            ..HostConfig::default()
        })
    })
}

fn json(reply: Reply) -> serde_json::Value {
    let text = match reply {
        Reply::Text(t) => t.to_string(),
        Reply::Binary(b) => {
            let mut s = String::new();
            GzDecoder::new(&b[..]).read_to_string(&mut s).unwrap();
            s
        }
    };
    serde_json::from_str(&text).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn issue10_per_pid_requests_always_get_one_wellformed_reply(
        which in prop::bool::ANY,
        pid in prop_oneof![".{0,30}", any::<u64>().prop_map(|n| n.to_string()), (0u32..70_000).prop_map(|n| n.to_string())],
    ) {
        let name = if which { "get_process_metrics" } else { "get_journal_entries" };
        let v = json(answer(host(), Frame::Text(&format!("{name}:{pid}"))));
        if v.get("error").is_some() {
            prop_assert_eq!(v["request"].as_str(), Some(name));
        } else if which {
            prop_assert!(v["process"]["pid"].is_u64());
        } else {
            prop_assert!(v["entries"].is_array());
        }
    }

    #[test]
    fn issue10_proc_file_parsers_never_panic(s in ".{0,300}", b in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_status(&s);
        let _ = parse_smaps_rollup_rss(&s);
        let _ = parse_io(&s);
        let _ = parse_statm(&s);
        let _ = parse_cmdline(&b);
        let _ = journal_match(&s, 1);
        let _ = parse_entries(&s);
    }

    #[test]
    fn issue10_journal_json_of_any_shape_never_panics(
        ts in ".{0,25}", prio in ".{0,4}", msg in proptest::collection::vec(any::<i64>(), 0..20),
    ) {
        let line = serde_json::json!({"__REALTIME_TIMESTAMP": ts, "PRIORITY": prio, "MESSAGE": msg, "_PID": msg.len()});
        let e = parse_entries(&line.to_string());
        prop_assert_eq!(e.len(), 1);
        prop_assert!(e[0].priority <= 7);
    }
}
