//! Phoenix Channels **v1** framing as the Towerops server speaks it: one JSON object per
//! text frame, `{"topic","event","payload","ref"}` (no `join_ref`; `ref` a string or
//! null). Agent payloads are `{"binary":"<standard padded base64 of a protobuf>"}`, except
//! the join and the Phoenix heartbeat. Decoding takes bytes from the network: bounded by
//! the reference's limits, typed errors, never a panic.

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;

/// The largest frame read (the original's read limit).
pub const MAX_FRAME_BYTES: usize = 16 << 20;
/// The largest protobuf inside a `binary` payload.
pub const MAX_BINARY_BYTES: usize = 10 << 20;
/// The base64 length of [`MAX_BINARY_BYTES`]: longer `binary` strings are refused unread.
pub const MAX_BINARY_BASE64: usize = MAX_BINARY_BYTES.div_ceil(3) * 4;

/// The Phoenix framework's own topic (heartbeats).
pub const PHOENIX_TOPIC: &str = "phoenix";

/// Event names of this wire.
pub mod event {
    pub const JOIN: &str = "phx_join";
    pub const REPLY: &str = "phx_reply";
    pub const ERROR: &str = "phx_error";
    pub const CLOSE: &str = "phx_close";
    /// The Phoenix heartbeat (topic `phoenix`) and the application one (our topic).
    pub const HEARTBEAT: &str = "heartbeat";
    // Server → agent.
    pub const JOBS: &str = "jobs";
    pub const DISCOVERY_JOB: &str = "discovery_job";
    pub const BACKUP_JOB: &str = "backup_job";
    pub const CHECK_JOBS: &str = "check_jobs";
    pub const RESTART: &str = "restart";
    pub const UPDATE: &str = "update";
    // Agent → server.
    pub const RESULT: &str = "result";
    pub const AGENT_ERROR: &str = "error";
    pub const CREDENTIAL_TEST_RESULT: &str = "credential_test_result";
    pub const CREDENTIAL_PROBE_RESULT: &str = "credential_probe_result";
    pub const MONITORING_CHECK: &str = "monitoring_check";
    pub const CHECK_RESULT: &str = "check_result";
    pub const MIKROTIK_RESULT: &str = "mikrotik_result";
    pub const LLDP_TOPOLOGY_RESULT: &str = "lldp_topology_result";
    pub const CONFIG_BACKUP_RESULT: &str = "config_backup_result";
    pub const TRAP: &str = "trap";
}

/// One v1 frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub topic: String,
    pub event: String,
    pub payload: Value,
    /// Correlates a `phx_reply` with what it answers; null on unsolicited pushes.
    pub msg_ref: Option<String>,
}

/// Why bytes are not a v1 frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {0} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("not JSON: {0}")]
    Malformed(String),
    #[error("not a Phoenix v1 frame: {0}")]
    Shape(&'static str),
}

/// Why a frame's payload is not the protobuf it should carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("payload is not an object with a string \"binary\"")]
    NotBinary,
    #[error("binary of {0} base64 bytes exceeds the {MAX_BINARY_BASE64}-byte limit")]
    TooLarge(usize),
    #[error("binary is not standard base64: {0}")]
    Base64(String),
    #[error("binary is not the expected protobuf: {0}")]
    Protobuf(String),
}

/// A `phx_reply`'s payload: `{"status", "response"}`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reply<'a> {
    /// Empty when missing or not a string (never `ok` then).
    pub status: &'a str,
    pub response: &'a Value,
}

impl Reply<'_> {
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }

    /// `response.reason` when it is a string (rejections carry one).
    pub fn reason(&self) -> Option<&str> {
        self.response.get("reason").and_then(Value::as_str)
    }
}

fn opt_ref(v: Option<&Value>) -> Result<Option<String>, FrameError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        // Phoenix clients may send numbers; the string form compares with ours.
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(FrameError::Shape("ref must be a string or null")),
    }
}

/// The text of a serde error, bounded: it may quote input.
fn short(e: &impl std::fmt::Display) -> String {
    let mut s = e.to_string();
    if s.len() > 200 {
        let mut cut = 200;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[derive(Serialize)]
struct Out<'a, P: Serialize> {
    topic: &'a str,
    event: &'a str,
    payload: P,
    #[serde(rename = "ref")]
    msg_ref: Option<&'a str>,
}

#[derive(Serialize)]
struct BinaryPayload {
    binary: String,
}

impl Frame {
    pub fn decode(bytes: &[u8]) -> Result<Frame, FrameError> {
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(FrameError::TooLarge(bytes.len()));
        }
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| FrameError::Malformed(short(&e)))?;
        let Value::Object(mut o) = v else {
            return Err(FrameError::Shape("expected a JSON object"));
        };
        let topic = match o.remove("topic") {
            Some(Value::String(s)) => s,
            _ => return Err(FrameError::Shape("topic must be a string")),
        };
        let event = match o.remove("event") {
            Some(Value::String(s)) => s,
            _ => return Err(FrameError::Shape("event must be a string")),
        };
        let msg_ref = opt_ref(o.get("ref"))?;
        // The server always sends a payload; a missing one reads as null (`restart`
        // carries nothing the agent reads).
        let payload = o.remove("payload").unwrap_or(Value::Null);
        Ok(Frame {
            topic,
            event,
            payload,
            msg_ref,
        })
    }

    pub fn encode(&self) -> String {
        encode_with(
            &self.topic,
            &self.event,
            &self.payload,
            self.msg_ref.as_deref(),
        )
    }

    /// The reply this frame carries, if it is a `phx_reply`.
    pub fn reply(&self) -> Option<Reply<'_>> {
        if self.event != event::REPLY {
            return None;
        }
        static NULL: Value = Value::Null;
        Some(Reply {
            status: self
                .payload
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or(""),
            response: self.payload.get("response").unwrap_or(&NULL),
        })
    }

    /// The protobuf `M` in this frame's `binary` payload.
    pub fn binary<M: prost::Message + Default>(&self) -> Result<M, PayloadError> {
        decode_binary(&self.payload)
    }
}

fn encode_with<P: Serialize>(
    topic: &str,
    event: &str,
    payload: P,
    msg_ref: Option<&str>,
) -> String {
    // Serializing strings and a `Value` cannot fail; the empty fallback keeps this total.
    serde_json::to_string(&Out {
        topic,
        event,
        payload,
        msg_ref,
    })
    .unwrap_or_default()
}

/// The standard padded base64 of `msg`'s protobuf encoding.
pub fn binary_base64(msg: &impl prost::Message) -> String {
    base64::engine::general_purpose::STANDARD.encode(msg.encode_to_vec())
}

/// A frame pushing `msg` as `{"binary": ...}`.
pub fn encode_binary(
    topic: &str,
    event: &str,
    msg: &impl prost::Message,
    msg_ref: Option<&str>,
) -> String {
    encode_with(
        topic,
        event,
        BinaryPayload {
            binary: binary_base64(msg),
        },
        msg_ref,
    )
}

/// The protobuf `M` in a `{"binary": ...}` payload, within [`MAX_BINARY_BYTES`].
pub fn decode_binary<M: prost::Message + Default>(payload: &Value) -> Result<M, PayloadError> {
    let b64 = payload
        .get("binary")
        .and_then(Value::as_str)
        .ok_or(PayloadError::NotBinary)?;
    if b64.len() > MAX_BINARY_BASE64 {
        return Err(PayloadError::TooLarge(b64.len()));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| PayloadError::Base64(short(&e)))?;
    M::decode(bytes.as_slice()).map_err(|e| PayloadError::Protobuf(short(&e)))
}

/// The `update` event's payload: plain JSON, both fields required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateRequest {
    pub url: String,
    pub checksum: String,
}

impl UpdateRequest {
    /// `None` when a field is missing or not a string (the original ignores such updates).
    pub fn from_payload(payload: &Value) -> Option<UpdateRequest> {
        let field = |k: &str| {
            payload
                .get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Some(UpdateRequest {
            url: field("url")?,
            checksum: field("checksum")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::towerops::{AgentError, AgentJob, AgentJobList, JobType};
    use serde_json::json;

    #[test]
    fn issue17_frame_v1_object_with_all_four_keys() {
        let f = Frame {
            topic: "phoenix".into(),
            event: "heartbeat".into(),
            payload: json!({}),
            msg_ref: None,
        };
        let v: Value = serde_json::from_str(&f.encode()).unwrap_or_default();
        assert_eq!(
            v,
            json!({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": null})
        );
    }

    #[test]
    fn issue17_binary_payload_is_standard_padded_base64_of_the_protobuf() {
        let e = AgentError {
            job_id: "j".into(),
            ..Default::default()
        };
        let text = encode_binary("agent:x", event::AGENT_ERROR, &e, Some("7"));
        let v: Value = serde_json::from_str(&text).unwrap_or_default();
        // job_id (field 2, length-delimited) = "j": 0x12 0x01 0x6a, "EgFq" in base64.
        assert_eq!(v["payload"], json!({"binary": "EgFq"}));
        assert_eq!(v["ref"], json!("7"));
        let f = Frame::decode(text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.binary::<AgentError>(), Ok(e));
    }

    #[test]
    fn issue17_decode_errors_are_typed() {
        assert!(matches!(Frame::decode(b"[1,2]"), Err(FrameError::Shape(_))));
        assert!(matches!(Frame::decode(b"{"), Err(FrameError::Malformed(_))));
        assert!(matches!(
            Frame::decode(br#"{"topic":"t","event":"e","payload":{},"ref":[]}"#),
            Err(FrameError::Shape(_))
        ));
        let big = vec![b' '; MAX_FRAME_BYTES + 1];
        assert_eq!(
            Frame::decode(&big),
            Err(FrameError::TooLarge(MAX_FRAME_BYTES + 1))
        );
        assert_eq!(
            decode_binary::<AgentJobList>(&json!({"binary": 3})),
            Err(PayloadError::NotBinary)
        );
        assert!(matches!(
            decode_binary::<AgentJobList>(&json!({"binary": "not base64!"})),
            Err(PayloadError::Base64(_))
        ));
        // "/w==" is 0xff: a truncated varint tag.
        assert!(matches!(
            decode_binary::<AgentJobList>(&json!({"binary": "/w=="})),
            Err(PayloadError::Protobuf(_))
        ));
        let long = "A".repeat(MAX_BINARY_BASE64 + 4);
        assert_eq!(
            decode_binary::<AgentJobList>(&json!({ "binary": long })),
            Err(PayloadError::TooLarge(MAX_BINARY_BASE64 + 4))
        );
    }

    #[test]
    fn issue17_unknown_job_type_keeps_its_number() {
        let list = AgentJobList {
            jobs: vec![AgentJob {
                job_id: "x".into(),
                job_type: 9,
                ..Default::default()
            }],
        };
        let payload = json!({ "binary": binary_base64(&list) });
        let back: AgentJobList = decode_binary(&payload).unwrap_or_default();
        assert_eq!(back.jobs[0].job_type, 9);
        assert!(JobType::try_from(back.jobs[0].job_type).is_err());
    }

    #[test]
    fn issue17_update_needs_both_fields() {
        assert_eq!(
            UpdateRequest::from_payload(&json!({"url": "https://u", "checksum": "ab"})),
            Some(UpdateRequest {
                url: "https://u".into(),
                checksum: "ab".into()
            })
        );
        assert_eq!(
            UpdateRequest::from_payload(&json!({"url": "https://u"})),
            None
        );
        assert_eq!(UpdateRequest::from_payload(&Value::Null), None);
    }
}
