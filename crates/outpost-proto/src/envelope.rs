//! The envelope: `{"v": 1, "type": "...", ...fields}`. Unknown fields are ignored; an unknown
//! type is a distinct error so the receiver can answer it with `error` instead of hanging up.

use serde::{Deserialize, Serialize};

/// The envelope version this build speaks.
pub const VERSION: u32 = 1;

/// Largest message a peer may send; larger ones are answered with `error` and dropped.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// One protocol message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// Agent to server, first: who I am and what I can do.
    Hello {
        agent_id: String,
        version: String,
        /// The job kinds this agent serves.
        capabilities: Vec<String>,
    },
    /// Server to agent, answering `hello`.
    Welcome {
        #[serde(default)]
        settings: serde_json::Value,
    },
    /// Server to agent: run this.
    Job {
        /// A UUID chosen by the sender. A job whose id the agent has seen is not run again:
        /// redelivery is harmless.
        id: String,
        kind: String,
        #[serde(default)]
        params: serde_json::Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// Agent to server: a job's terminal record, with its outbox sequence number.
    Result { seq: u64, result: serde_json::Value },
    /// Agent to server: something the agent noticed, with its outbox sequence number.
    Event { seq: u64, event: serde_json::Value },
    /// Server to agent: everything up to and including `seq` is delivered.
    Ack { seq: u64 },
    /// Either way: I am alive.
    Heartbeat {},
    /// Server to agent: stop this job.
    Cancel { id: String },
    /// Either way: your last message could not be honoured.
    Error {
        code: String,
        message: String,
        /// The id of the job or message the error is about, when there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        about: Option<String>,
    },
}

/// Longest text an error message carries from the input (a type name, a serde message
/// quoting a value): a reply must never echo an unbounded field back.
pub const MAX_ERROR_TEXT: usize = 512;

/// `text` cut to at most [`MAX_ERROR_TEXT`] bytes on a character boundary, marked when cut.
pub fn bounded(text: &str) -> String {
    if text.len() <= MAX_ERROR_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_ERROR_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &text[..end], text.len())
}

/// Why bytes are not a message. Every variant's text is bounded (see [`bounded`]).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("message of {0} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit")]
    TooLarge(usize),
    /// The bytes are not JSON at all.
    #[error("not JSON: {0}")]
    Malformed(String),
    /// JSON, but not an envelope: not an object, or no `v`/`type` of the right type.
    #[error("not an envelope: {0}")]
    Shape(String),
    #[error("envelope version {0} is not supported (this agent speaks {VERSION})")]
    Version(u64),
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// An envelope of a known type whose fields have the wrong shape.
    #[error("invalid {kind} message: {message}")]
    Invalid { kind: String, message: String },
}

impl DecodeError {
    /// The `code` of the `error` reply. The set is listed in `docs/protocol.md`, and
    /// [`CODES`] holds it for the test that keeps the two equal.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::TooLarge(_) => "too_large",
            DecodeError::Malformed(_) => "malformed",
            DecodeError::Shape(_) | DecodeError::Invalid { .. } => "invalid",
            DecodeError::Version(_) => "unsupported_version",
            DecodeError::UnknownType(_) => "unknown_type",
        }
    }
}

/// Every code [`DecodeError::code`] returns.
pub const CODES: &[&str] = &[
    "too_large",
    "malformed",
    "invalid",
    "unsupported_version",
    "unknown_type",
];

/// Every `type` an envelope may have (`docs/protocol.md`).
pub const TYPES: &[&str] = &[
    "hello",
    "welcome",
    "job",
    "result",
    "event",
    "ack",
    "heartbeat",
    "cancel",
    "error",
];

impl Message {
    /// Decodes one envelope.
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(DecodeError::TooLarge(bytes.len()));
        }
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| DecodeError::Malformed(bounded(&e.to_string())))?;
        Self::from_value(value)
    }

    /// Decodes an envelope already parsed as JSON (e.g. a Phoenix payload).
    pub fn from_value(value: serde_json::Value) -> Result<Message, DecodeError> {
        let obj = value
            .as_object()
            .ok_or_else(|| DecodeError::Shape("expected a JSON object".into()))?;
        match obj.get("v") {
            None => return Err(DecodeError::Shape("missing `v` (envelope version)".into())),
            Some(v) => match v.as_u64() {
                Some(n) if n == u64::from(VERSION) => {}
                Some(n) => return Err(DecodeError::Version(n)),
                None => return Err(DecodeError::Shape("`v` must be an integer".into())),
            },
        }
        let kind = match obj.get("type") {
            Some(serde_json::Value::String(t)) => t.clone(),
            Some(_) => return Err(DecodeError::Shape("`type` must be a string".into())),
            None => return Err(DecodeError::Shape("missing `type`".into())),
        };
        if !TYPES.contains(&kind.as_str()) {
            return Err(DecodeError::UnknownType(bounded(&kind)));
        }
        serde_json::from_value(value).map_err(|e| DecodeError::Invalid {
            kind,
            message: bounded(&e.to_string()),
        })
    }

    /// The envelope as a JSON value, `v` included.
    pub fn to_value(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(obj) = v.as_object_mut() {
            obj.insert("v".into(), VERSION.into());
        }
        v
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_value()).unwrap_or_default()
    }

    /// The `type` field, for logs and Phoenix event names.
    pub fn type_name(&self) -> &'static str {
        match self {
            Message::Hello { .. } => "hello",
            Message::Welcome { .. } => "welcome",
            Message::Job { .. } => "job",
            Message::Result { .. } => "result",
            Message::Event { .. } => "event",
            Message::Ack { .. } => "ack",
            Message::Heartbeat {} => "heartbeat",
            Message::Cancel { .. } => "cancel",
            Message::Error { .. } => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_ignored_and_unknown_types_named() {
        let m = Message::decode(br#"{"v":1,"type":"ack","seq":7,"extra":true}"#).unwrap();
        assert_eq!(m, Message::Ack { seq: 7 });
        assert_eq!(
            Message::decode(br#"{"v":1,"type":"launch"}"#),
            Err(DecodeError::UnknownType("launch".into()))
        );
        assert_eq!(
            Message::decode(br#"{"v":2,"type":"ack","seq":1}"#),
            Err(DecodeError::Version(2))
        );
        assert!(matches!(
            Message::decode(br#"{"v":1,"type":"ack","seq":"x"}"#),
            Err(DecodeError::Invalid { .. })
        ));
        assert!(matches!(
            Message::decode(b"{"),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn issue10_valid_json_of_the_wrong_shape_is_invalid_not_malformed() {
        for text in [
            &b"[1]"[..],
            b"7",
            br#"{"type":"job"}"#,
            br#"{"v":1}"#,
            br#"{"v":1,"type":3}"#,
            br#"{"v":"1","type":"ack"}"#,
        ] {
            let e = Message::decode(text).unwrap_err();
            assert_eq!(e.code(), "invalid", "{e}");
            assert!(!e.to_string().contains("not JSON"), "{e}");
        }
        assert_eq!(Message::decode(b"{x").unwrap_err().code(), "malformed");
    }

    #[test]
    fn issue10_error_texts_never_echo_unbounded_input() {
        let kind = "k".repeat(100_000);
        let e = Message::decode(format!(r#"{{"v":1,"type":"{kind}"}}"#).as_bytes()).unwrap_err();
        assert!(e.to_string().len() < 700, "{}", e.to_string().len());
        let e = Message::decode(format!(r#"{{"v":1,"type":"ack","seq":"{kind}"}}"#).as_bytes())
            .unwrap_err();
        assert_eq!(e.code(), "invalid");
        assert!(e.to_string().len() < 700, "{}", e.to_string().len());
        assert!(bounded("é".repeat(400).as_str()).len() < 600);
    }
}
