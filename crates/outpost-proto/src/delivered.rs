//! The agent's send path for outbox rows: `result` and `event` envelopes written straight to
//! text around a body that is already serializable.
//!
//! [`Message::encode`](crate::Message::encode) builds a JSON tree first, which for a result
//! means rebuilding the whole output it carries. Results are what an agent sends most, and
//! their output is kept as text (issue 11), so here the envelope is written around the body
//! and the output's text is copied, not re-encoded. The bytes decode as the same
//! [`Message`](crate::Message) (a test keeps the two equal).

use serde::Serialize;

use crate::VERSION;

/// Which outbox item a delivered envelope carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    Result,
    Event,
}

impl Delivered {
    /// The envelope's `type` (and the Phoenix event name).
    pub fn type_name(self) -> &'static str {
        match self {
            Delivered::Result => "result",
            Delivered::Event => "event",
        }
    }

    /// `{"v":1,"type":"result","seq":N,"result":BODY}` (or the `event` equivalent).
    pub fn encode<T: Serialize + ?Sized>(
        self,
        seq: u64,
        body: &T,
    ) -> Result<String, serde_json::Error> {
        use std::io::Write as _;
        let mut out = Vec::with_capacity(256);
        // The body's field is named as the type: `"result":` or `"event":`.
        let kind = self.type_name();
        // Writing to a Vec cannot fail.
        let _ = write!(
            out,
            r#"{{"v":{VERSION},"type":"{kind}","seq":{seq},"{kind}":"#
        );
        serde_json::to_writer(&mut out, body)?;
        out.push(b'}');
        // Only ASCII was added around serde_json's own (UTF-8) output.
        String::from_utf8(out).map_err(|e| serde::ser::Error::custom(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Message;

    #[test]
    fn issue11_delivered_envelopes_decode_as_the_same_message() {
        let body = serde_json::json!({"id": "x", "output": {"a": [1, "é\n"]}});
        let text = Delivered::Result.encode(7, &body).unwrap();
        assert_eq!(
            Message::decode(text.as_bytes()).unwrap(),
            Message::Result {
                seq: 7,
                result: body.clone()
            }
        );
        let frame = crate::phoenix::Frame::encode_with_payload(
            Some("1"),
            None,
            "agent:\"x\"",
            "result",
            &text,
        );
        let back = crate::phoenix::Frame::decode(frame.as_bytes()).unwrap();
        assert_eq!(back.join_ref.as_deref(), Some("1"));
        assert_eq!(back.msg_ref, None);
        assert_eq!(back.topic, "agent:\"x\"");
        assert_eq!(back.event, "result");
        assert_eq!(
            back.payload,
            serde_json::from_str::<serde_json::Value>(&text).unwrap()
        );
        let text = Delivered::Event.encode(u64::MAX, &body).unwrap();
        assert_eq!(
            Message::decode(text.as_bytes()).unwrap(),
            Message::Event {
                seq: u64::MAX,
                event: body
            }
        );
    }
}
