//! Bytes from the control plane: Phoenix frames and bare envelopes must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_proto::{phoenix::Frame, Message};

fuzz_target!(|data: &[u8]| {
    let _ = Message::decode(data);
    if let Ok(f) = Frame::decode(data) {
        let _ = f.reply();
        let _ = Message::from_value(f.payload);
    }
});
