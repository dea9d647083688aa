//! Any bytes a WebSocket peer sends, as a text or a binary frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_host::socktop::{parse_request, Frame};

fuzz_target!(|data: &[u8]| {
    let _ = parse_request(Frame::Binary(data));
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_request(Frame::Text(text));
    }
});
