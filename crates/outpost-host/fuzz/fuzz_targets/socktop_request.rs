//! Any frame a socktop client sends to `/ws`, through the handler `api/ws.rs` really calls:
//! `socktop::answer` (parse, then collect from the host's caches and encode the reply).
//! Every frame gets one reply: JSON text, or gzipped JSON/protobuf in a binary frame.
//!
//! Input: one mode byte, then the frame. Bit 0: 0 a text frame (when UTF-8), 1 a binary one.
//! Seeds: the frames socktop 1.60's TUI and connector send (get_metrics, get_disks,
//! get_processes, the JSON form, get_process_metrics:PID, get_journal_entries:PID).
#![no_main]

use std::io::Read;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use outpost_host::socktop::{answer, parse_request, Frame, Reply};
use outpost_host::Host;

#[inline(never)]
fn stage_request_parsed() {
    // A body of its own: rustc merges identical functions, which would fold the markers.
    std::hint::black_box("stage_request_parsed");
}
#[inline(never)]
fn stage_data_reply() {
    std::hint::black_box("stage_data_reply");
}

fn host() -> &'static Host {
    static H: OnceLock<Host> = OnceLock::new();
    H.get_or_init(Host::default)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let frame = if mode & 1 == 1 {
        Frame::Binary(rest)
    } else {
        match std::str::from_utf8(rest) {
            Ok(t) => Frame::Text(t),
            Err(_) => return,
        }
    };
    let parsed = parse_request(frame).is_ok();
    if parsed {
        stage_request_parsed();
    }
    match answer(host(), frame) {
        Reply::Text(t) => {
            let v: serde_json::Value = serde_json::from_str(&t).expect("a text reply is JSON");
            assert!(
                parsed || v.get("error").is_some(),
                "an unparsed frame got a data reply: {t}"
            );
            if v.get("error").is_none() {
                stage_data_reply();
            }
        }
        Reply::Binary(b) => {
            assert!(parsed, "an unparsed frame got a binary reply");
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&b[..])
                .read_to_end(&mut out)
                .expect("a binary reply is gzip");
            stage_data_reply();
        }
    }
});
