//! The MikroTik RouterOS API wire (TCP 8728, or TLS on 8729 as `api-ssl`): a stream of
//! *sentences*, each a run of length-prefixed *words* ended by an empty word.
//!
//! - A word's length comes first in 1 to 5 bytes: below 0x80 one byte; below 0x4000 two
//!   bytes with the top bits `10`; below 0x20_0000 three bytes with `110`; below
//!   0x1000_0000 four bytes with `1110`; else `0xF0` and the length in four bytes. A first
//!   byte of 0xF8 or above is a reserved control byte, never a length.
//! - A command sentence is the command word (`/interface/print`) and its arguments
//!   (`=name=value` attributes, `?query` words, `.tag=` and `.proplist=`).
//! - Replies begin with `!re` (one row), `!done` (the command finished; it may carry
//!   `=ret=`), `!trap` (the command failed: `=message=`, maybe `=category=`; `!done`
//!   still follows), `!fatal` (the router closes the connection; its reason is the next
//!   word) or `!empty` (RouterOS 7.18+: no rows).
//!
//! Decoding is incremental over a byte buffer ([`Decoder`]) and bounded by [`Limits`]: a
//! length prefix that announces more than a word may hold is refused before any of its
//! bytes is buffered, so a hostile peer cannot make the agent allocate what it announces.

mod reply;
mod word;

pub use reply::{command_sentence, parse_reply, Reply, ReplyKind};
pub use word::{decode_length, encode_length, encode_sentence, encode_word, Decoder};

/// Bounds on what one peer may make the decoder hold. The defaults are the Towerops
/// agent's published ones (compat doc §4): 10 MiB per word, 10,000 words per sentence,
/// and 16 MiB per sentence (the original bounds a whole response by 16 MiB; one sentence
/// can never exceed that either).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_word: usize,
    pub max_words: usize,
    pub max_sentence_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_word: MAX_WORD,
            max_words: MAX_WORDS,
            max_sentence_bytes: MAX_SENTENCE_BYTES,
        }
    }
}

/// 10 MiB: the largest word accepted.
pub const MAX_WORD: usize = 10 << 20;
/// 10,000 words in one sentence at most.
pub const MAX_WORDS: usize = 10_000;
/// 16 MiB: the most bytes (prefixes included) one sentence may take.
pub const MAX_SENTENCE_BYTES: usize = 16 << 20;
/// The largest length the 5-byte prefix can carry.
pub const MAX_ENCODABLE: usize = u32::MAX as usize;

/// What is wrong with bytes from a RouterOS peer (or with a sentence to send).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterOsError {
    #[error("reserved control byte 0x{0:02x} where a word length was expected")]
    ControlByte(u8),
    #[error("a word of {len} bytes is over the limit of {max}")]
    WordTooLong { len: usize, max: usize },
    #[error("a sentence of more than {max} words")]
    TooManyWords { max: usize },
    #[error("a sentence of more than {max} bytes")]
    SentenceTooLarge { max: usize },
    #[error("an empty sentence")]
    EmptySentence,
    #[error("not a reply: the sentence starts with {0:?}")]
    UnknownReply(String),
}
