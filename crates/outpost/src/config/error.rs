//! The one error a section's check returns: the key at fault and what is wrong with it.
//! `layers.rs` adds where the value came from (flag, variable, file and line, default).

use std::fmt;

/// A value that has the right type but is not acceptable. Never holds a secret's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct KeyError {
    /// The dotted key, as `config keys` lists it.
    pub key: &'static str,
    pub message: String,
}

impl KeyError {
    pub fn new(key: &'static str, message: impl fmt::Display) -> Self {
        KeyError {
            key,
            message: message.to_string(),
        }
    }
}
