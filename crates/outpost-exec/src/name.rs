//! Command names: ASCII only, so a look-alike (Cyrillic `е`, fullwidth `ｅ`) can never equal
//! an allowed name, and the name is safe to print in a log line or a file name.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest command or script name.
pub const MAX_NAME: usize = 64;

/// A validated command name: `[A-Za-z0-9._-]{1,64}`, not starting with a dot (so a script
/// name can never be `.` or `..` or a hidden file).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommandName(String);

impl CommandName {
    /// Checks `name`; the error says what is wrong without echoing more than a bounded prefix.
    pub fn parse(name: &str) -> Result<Self, String> {
        if name.is_empty() {
            return Err("empty name".into());
        }
        if name.len() > MAX_NAME {
            return Err(format!("longer than {MAX_NAME} bytes"));
        }
        if name.starts_with('.') {
            return Err("starts with a dot".into());
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(format!(
                "character {:?} (U+{:04X}) is not one of A-Z a-z 0-9 . _ -",
                c, c as u32
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CommandName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<CommandName> for String {
    fn from(n: CommandName) -> String {
        n.0
    }
}

impl fmt::Display for CommandName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
