//! Issue 19: bytes from a WAMP router (Crossbar, IronFlock), decoded as the Reagent adapter
//! decodes them: one `wamp.2.json` frame, and a CHALLENGE's extra as WAMP-CRA reads it.
//! Never a panic; a decoded message re-encodes and decodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_proto::wamp::{CraChallenge, Message};

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Message::decode(data) else {
        return;
    };
    assert_eq!(
        Message::decode(m.encode().as_bytes()).as_ref(),
        Ok(&m),
        "a message we encode decodes to itself"
    );
    if let Message::Challenge { extra, .. } = &m {
        if let Ok(c) = CraChallenge::from_extra(extra) {
            // Signing is bounded by MAX_ITERATIONS; keep each fuzz input cheap.
            if c.iterations <= 10_000 {
                assert_eq!(c.sign(b"secret").len(), 44, "a SHA-256 MAC in base64");
            }
        }
    }
});
