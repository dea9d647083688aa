//! Why bytes are not a WAMP message.

/// A frame that failed to decode. Texts are bounded (see [`crate::bounded`]), so a hostile
/// router cannot make our logs grow with its input.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WampError {
    #[error("WAMP frame of {0} bytes exceeds the {max}-byte limit", max = super::MAX_FRAME_BYTES)]
    TooLarge(usize),
    #[error("WAMP frame is not JSON: {0}")]
    Malformed(String),
    #[error("WAMP frame is not a non-empty array starting with a message type")]
    NotAMessage,
    #[error("unknown WAMP message type {0}")]
    UnknownType(u64),
    /// The message type is known but an element is missing or of the wrong kind.
    #[error("WAMP {message}: {what}")]
    Shape {
        message: &'static str,
        what: &'static str,
    },
}
