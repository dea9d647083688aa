//! Bytes from the control plane: a bare envelope (MQTT) or a Phoenix frame carrying one
//! (WebSocket), decoded as the uplinks decode them. Never a panic; a decoded envelope
//! encodes and decodes again to the same type; a decoded frame re-encodes to a frame.
//!
//! Input: one mode byte, then the message. Bit 0: 0 bare envelope, 1 Phoenix frame.
//! Bit 1: 0 the bytes as they are (seeds: every message type of docs/protocol.md and the
//! frames of its WebSocket section), 1 bytes a structured envelope is built from: a type
//! from the protocol's list with that type's fields, of the right shape or not.
//!
//! `stage_<type>` functions mark each type decoded, in libFuzzer's coverage output.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use outpost_proto::envelope::TYPES;
use outpost_proto::{phoenix::Frame, Message};
use serde_json::{json, Map, Value};

// Each marker's body differs (its name): rustc merges identical functions, which would fold
// every marker into one name in the coverage output.
macro_rules! stages {
    ($($f:ident),* $(,)?) => {
        $(#[inline(never)] fn $f() { std::hint::black_box(stringify!($f)); })*
    };
}
stages!(
    stage_hello,
    stage_welcome,
    stage_job,
    stage_result,
    stage_event,
    stage_ack,
    stage_heartbeat,
    stage_cancel,
    stage_error,
    stage_frame_decoded,
    stage_frame_reply
);

fn mark(m: &Message) {
    match m {
        Message::Hello { .. } => stage_hello(),
        Message::Welcome { .. } => stage_welcome(),
        Message::Job { .. } => stage_job(),
        Message::Result { .. } => stage_result(),
        Message::Event { .. } => stage_event(),
        Message::Ack { .. } => stage_ack(),
        Message::Heartbeat {} => stage_heartbeat(),
        Message::Cancel { .. } => stage_cancel(),
        Message::Error { .. } => stage_error(),
    }
}

/// Each type's fields (docs/protocol.md), with a generator of a right-shaped value.
fn fields(t: &str) -> &'static [&'static str] {
    match t {
        "hello" => &["agent_id", "version", "capabilities"],
        "welcome" => &["settings"],
        "job" => &["id", "kind", "params", "timeout_ms"],
        "result" => &["seq", "result"],
        "event" => &["seq", "event"],
        "ack" => &["seq"],
        "cancel" => &["id"],
        "error" => &["code", "message", "about"],
        _ => &[],
    }
}

fn right_shape(u: &mut Unstructured, field: &str) -> arbitrary::Result<Value> {
    Ok(match field {
        "capabilities" => json!(["echo", "sleep", u.arbitrary::<String>()?]),
        "settings" | "params" | "result" | "event" => json!({ "k": u.arbitrary::<String>()? }),
        "seq" | "timeout_ms" => json!(u.arbitrary::<u64>()?),
        "id" | "about" if u.ratio(3, 4)? => json!(format!("{:032x}", u.arbitrary::<u128>()?)),
        _ => json!(u.arbitrary::<String>()?),
    })
}

fn any_value(u: &mut Unstructured, depth: u32) -> arbitrary::Result<Value> {
    let pick = if depth == 0 {
        u.int_in_range(0..=4)?
    } else {
        u.int_in_range(0..=6)?
    };
    Ok(match pick {
        0 => Value::Null,
        1 => json!(u.arbitrary::<bool>()?),
        2 => json!(u.arbitrary::<i64>()?),
        3 => json!(u.arbitrary::<u64>()?),
        4 => json!(u.arbitrary::<String>()?),
        5 => Value::Array(
            (0..u.int_in_range(0..=3)?)
                .map(|_| any_value(u, depth - 1))
                .collect::<Result<_, _>>()?,
        ),
        _ => json!({ "k": any_value(u, depth - 1)? }),
    })
}

fn structured(u: &mut Unstructured, framed: bool) -> arbitrary::Result<Vec<u8>> {
    let t = if u.ratio(15, 16)? {
        (*u.choose(TYPES)?).to_owned()
    } else {
        u.arbitrary()?
    };
    let mut env = Map::new();
    if u.ratio(31, 32)? {
        env.insert(
            "v".into(),
            if u.ratio(15, 16)? {
                json!(1)
            } else {
                any_value(u, 0)?
            },
        );
    }
    env.insert("type".into(), json!(t));
    for f in fields(&t) {
        if u.ratio(1, 16)? {
            continue; // a missing field
        }
        let v = if u.ratio(7, 8)? {
            right_shape(u, f)?
        } else {
            any_value(u, 1)?
        };
        env.insert((*f).into(), v);
    }
    if u.ratio(1, 8)? {
        env.insert(u.arbitrary()?, any_value(u, 1)?); // an unknown field, ignored
    }
    let env = Value::Object(env);
    let out = if framed {
        let event = if u.ratio(3, 4)? {
            t.clone()
        } else {
            (*u.choose(&["phx_reply", "phx_error", "phx_close"])?).to_owned()
        };
        let payload = if event == "phx_reply" {
            json!({ "status": if u.ratio(1, 2)? { "ok" } else { "error" }, "response": env })
        } else {
            env
        };
        json!([
            Value::Null,
            format!("{}", u.arbitrary::<u16>()?),
            "agent:fuzz",
            event,
            payload
        ])
    } else {
        env
    };
    Ok(serde_json::to_vec(&out).unwrap_or_default())
}

fn envelope(m: Result<Message, outpost_proto::DecodeError>) {
    let Ok(m) = m else {
        return;
    };
    mark(&m);
    let again = Message::decode(&m.encode()).expect("an envelope we encode decodes");
    assert_eq!(again.type_name(), m.type_name());
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let framed = mode & 1 == 1;
    let built;
    let bytes = if mode & 2 == 0 {
        rest
    } else {
        built = structured(&mut Unstructured::new(rest), framed).unwrap_or_default();
        &built[..]
    };
    if !framed {
        envelope(Message::decode(bytes));
        return;
    }
    let Ok(f) = Frame::decode(bytes) else {
        return;
    };
    stage_frame_decoded();
    Frame::decode(f.encode().as_bytes()).expect("a frame we encode decodes");
    match f.reply() {
        Some(Ok(resp)) | Some(Err(resp)) => {
            stage_frame_reply();
            envelope(Message::from_value(resp.clone()));
        }
        None => envelope(Message::from_value(f.payload)),
    }
});
