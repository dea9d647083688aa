//! Phoenix Channels v2 framing: each WebSocket text frame is a JSON array
//! `[join_ref, ref, topic, event, payload]`. Our envelope rides in the payload; the event
//! name is the envelope's type. `phx_join`, `phx_reply`, `phx_error`, `phx_close` and the
//! `phoenix` topic's `heartbeat` are the framework's own events.

use serde_json::Value;

/// One Phoenix frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub join_ref: Option<String>,
    /// Correlates a `phx_reply` with the message it answers.
    pub msg_ref: Option<String>,
    pub topic: String,
    pub event: String,
    pub payload: Value,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FrameError {
    #[error("not JSON: {0}")]
    Malformed(String),
    #[error("not a Phoenix v2 frame: {0}")]
    Shape(&'static str),
}

impl FrameError {
    /// The `code` of the `error` reply: the same vocabulary as the envelope's.
    pub fn code(&self) -> &'static str {
        match self {
            FrameError::Malformed(_) => "malformed",
            FrameError::Shape(_) => "invalid",
        }
    }
}

fn opt_string(v: &Value) -> Result<Option<String>, FrameError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        _ => Err(FrameError::Shape("refs must be strings or null")),
    }
}

impl Frame {
    pub fn decode(bytes: &[u8]) -> Result<Frame, FrameError> {
        if bytes.len() > crate::envelope::MAX_MESSAGE_BYTES {
            return Err(FrameError::Shape("frame exceeds the message size limit"));
        }
        let v: Value = serde_json::from_slice(bytes)
            .map_err(|e| FrameError::Malformed(crate::bounded(&e.to_string())))?;
        let Value::Array(mut parts) = v else {
            return Err(FrameError::Shape("expected a 5-element array"));
        };
        if parts.len() != 5 {
            return Err(FrameError::Shape("expected a 5-element array"));
        }
        let payload = parts.pop().unwrap_or(Value::Null);
        let event = match parts.pop() {
            Some(Value::String(s)) => s,
            _ => return Err(FrameError::Shape("event must be a string")),
        };
        let topic = match parts.pop() {
            Some(Value::String(s)) => s,
            _ => return Err(FrameError::Shape("topic must be a string")),
        };
        let msg_ref = opt_string(parts.get(1).unwrap_or(&Value::Null))?;
        let join_ref = opt_string(parts.first().unwrap_or(&Value::Null))?;
        Ok(Frame {
            join_ref,
            msg_ref,
            topic,
            event,
            payload,
        })
    }

    pub fn encode(&self) -> String {
        serde_json::json!([
            self.join_ref,
            self.msg_ref,
            self.topic,
            self.event,
            self.payload
        ])
        .to_string()
    }

    /// A frame whose payload is already JSON text (an envelope from
    /// [`Delivered::encode`](crate::Delivered::encode)): the payload is copied in, not
    /// parsed and re-encoded. `payload` must be one JSON value.
    pub fn encode_with_payload(
        join_ref: Option<&str>,
        msg_ref: Option<&str>,
        topic: &str,
        event: &str,
        payload: &str,
    ) -> String {
        // Four strings (or nulls) cannot fail to serialize.
        let head = serde_json::to_string(&(join_ref, msg_ref, topic, event)).unwrap_or_default();
        let mut out = String::with_capacity(head.len() + payload.len() + 1);
        // `head` is `[a,b,c,d]`: keep it open, add the payload, close it.
        out.push_str(head.strip_suffix(']').unwrap_or(&head));
        out.push(',');
        out.push_str(payload);
        out.push(']');
        out
    }

    /// For a `phx_reply`: `Ok(response)` when `status` is `ok`, else `Err(response)`.
    pub fn reply(&self) -> Option<Result<&Value, &Value>> {
        if self.event != "phx_reply" {
            return None;
        }
        let status = self.payload.get("status")?.as_str()?;
        let response = self.payload.get("response").unwrap_or(&Value::Null);
        Some(if status == "ok" {
            Ok(response)
        } else {
            Err(response)
        })
    }
}
