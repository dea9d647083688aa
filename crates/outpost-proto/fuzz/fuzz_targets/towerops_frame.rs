//! Issue 17: bytes from a Towerops server, decoded as the adapter decodes them: a Phoenix
//! v1 frame, then its payload as each message the server sends (`jobs`, `discovery_job`,
//! `backup_job` → AgentJobList; `check_jobs` → CheckList; `update` → plain JSON), and a
//! `phx_reply`'s status. Never a panic; a decoded frame re-encodes to itself, and a
//! decoded message re-encodes and decodes to itself.
//!
//! Input: one mode byte, then the message. Bit 0: 0 the bytes as they are (a frame),
//! 1 the bytes as protobuf wrapped into a `jobs` (bit 1 clear) or `check_jobs` frame.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use outpost_proto::towerops::{encode_binary, AgentJobList, CheckList, Frame, UpdateRequest};

fn round_trip<M: prost::Message + Default + PartialEq>(f: &Frame) {
    if let Ok(m) = f.binary::<M>() {
        let again = Frame::decode(encode_binary(&f.topic, &f.event, &m, None).as_bytes())
            .expect("a frame we encode decodes");
        assert!(
            again.binary::<M>().ok() == Some(m),
            "a message we encode decodes to itself"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let built;
    let bytes = if mode & 1 == 0 {
        rest
    } else {
        let event = if mode & 2 == 0 { "jobs" } else { "check_jobs" };
        built = serde_json::json!({
            "topic": "agent:agent-1-0",
            "event": event,
            "payload": {"binary": base64::engine::general_purpose::STANDARD.encode(rest)},
            "ref": null,
        })
        .to_string();
        built.as_bytes()
    };
    let Ok(f) = Frame::decode(bytes) else {
        return;
    };
    assert_eq!(
        Frame::decode(f.encode().as_bytes()).as_ref(),
        Ok(&f),
        "a frame we encode decodes to itself"
    );
    if let Some(r) = f.reply() {
        let _ = (r.is_ok(), r.reason());
    }
    let _ = UpdateRequest::from_payload(&f.payload);
    round_trip::<AgentJobList>(&f);
    round_trip::<CheckList>(&f);
});
