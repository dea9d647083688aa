//! What the tests' control planes ([`crate::mqtt_peer`], [`crate::phoenix`]) read in the
//! agent's messages, whichever transport carried them.

use outpost_proto::Message;

/// An `error` the agent sent: (code, about, message).
pub type ErrorReply = (String, Option<String>, String);

/// The `error`s among `messages`, in order.
pub fn errors(messages: impl IntoIterator<Item = Message>) -> Vec<ErrorReply> {
    messages.into_iter().filter_map(error_reply).collect()
}

/// The `error` in `m`, if it is one.
pub fn error_reply(m: Message) -> Option<ErrorReply> {
    match m {
        Message::Error {
            code,
            about,
            message,
        } => Some((code, about, message)),
        _ => None,
    }
}

/// The job id of the `result` in `m`, if it is one.
pub fn result_id(m: Message) -> Option<String> {
    match m {
        Message::Result { result, .. } => Some(result["id"].as_str()?.to_owned()),
        _ => None,
    }
}
