//! What a caller asks to run. Loosely typed on purpose: every field is checked by the
//! resolver, so a wrong shape becomes an audited [`Refusal`](crate::Refusal) naming the field
//! rather than a decode error nobody records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Exactly one of `command`, `script` and `inline`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// An allowlisted command's name; its values go in `params`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// A script in the scripts directory, by file name; its arguments go in `args`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// Script content sent with the request (only when inline scripts are allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<InlineScript>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Value>,
    /// Never accepted: present only so that a request carrying environment variables is
    /// refused by name (and audited) instead of silently dropped.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, Value>,
    /// A shorter timeout than the command's own (never a longer one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Anything else: refused as `unknown_field`.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InlineScript {
    /// Standard base64 (rusty_agent's encoding) of the script's bytes.
    pub content_base64: String,
    /// `sh`, `bash` or `python3`; without it, the script's shebang, else `sh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<String>,
}

impl Request {
    /// A request for an allowlisted command.
    pub fn command(name: impl Into<String>) -> Self {
        Self {
            command: Some(name.into()),
            ..Self::default()
        }
    }

    /// Adds a parameter (builder style, for callers and tests).
    pub fn param(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.params.insert(name.into(), value.into());
        self
    }

    /// A request for a script in the scripts directory.
    pub fn script(name: impl Into<String>) -> Self {
        Self {
            script: Some(name.into()),
            ..Self::default()
        }
    }

    /// A request for an inline script with these bytes (base64-encoded here).
    pub fn inline(content: &[u8], interpreter: Option<&str>) -> Self {
        use base64::Engine as _;
        Self {
            inline: Some(InlineScript {
                content_base64: base64::engine::general_purpose::STANDARD.encode(content),
                interpreter: interpreter.map(str::to_owned),
            }),
            ..Self::default()
        }
    }

    /// Adds a script argument.
    pub fn arg(mut self, value: impl Into<Value>) -> Self {
        self.args.push(value.into());
        self
    }
}
