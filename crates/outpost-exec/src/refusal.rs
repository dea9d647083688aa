//! Why a request does not run: a stable code, the field at fault, and a message for people.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Stable reason codes (the audit log and API replies carry them; tests match on them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// None, or more than one, of `command`, `script`, `inline`.
    NoTarget,
    /// A field the request shape does not have.
    UnknownField,
    /// A command or script name outside `[A-Za-z0-9._-]{1,64}` (a unicode look-alike too).
    BadName,
    UnknownCommand,
    UnknownParam,
    MissingParam,
    WrongType,
    NulByte,
    TooLong,
    TooMany,
    PatternMismatch,
    /// A string parameter starting with `-`, which the program could read as an option.
    OptionInjection,
    OutOfRange,
    NotInEnum,
    /// A `..`, `.` or empty component in a path parameter.
    PathTraversal,
    /// A path parameter that resolves (symlinks followed) outside its root.
    PathOutsideRoot,
    PathNotFound,
    /// Environment variables in a request: never accepted, dangerous ones named as such.
    EnvForbidden,
    EnvNotAllowed,
    /// `args` given to an allowlisted command (it takes `params`), or `params` to a script.
    ArgsNotAllowed,
    ScriptsDisabled,
    ScriptsDirUnsafe,
    ScriptNotFound,
    /// Not a regular file: a symlink, directory, FIFO, device.
    ScriptNotRegular,
    ScriptOwner,
    ScriptWritable,
    /// More than one hard link: a trusted file linked in from elsewhere.
    ScriptLinks,
    ScriptTooLarge,
    BadInterpreter,
    InlineDisabled,
    InlineInvalid,
    UserUnknown,
    /// Landlock was required by the command but the kernel does not have it.
    SandboxUnavailable,
    /// Ours, not the request's: a script could not be snapshotted (memfd, read).
    InternalError,
    /// Asked to run inside a container, but the command is not `in_containers` (or is a
    /// script or an inline script, which never run there).
    NotForContainers,
    /// A `local_only` command asked for by a job (any source but the agent itself).
    LocalOnly,
}

impl ReasonCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoTarget => "no_target",
            Self::UnknownField => "unknown_field",
            Self::BadName => "bad_name",
            Self::UnknownCommand => "unknown_command",
            Self::UnknownParam => "unknown_param",
            Self::MissingParam => "missing_param",
            Self::WrongType => "wrong_type",
            Self::NulByte => "nul_byte",
            Self::TooLong => "too_long",
            Self::TooMany => "too_many",
            Self::PatternMismatch => "pattern_mismatch",
            Self::OptionInjection => "option_injection",
            Self::OutOfRange => "out_of_range",
            Self::NotInEnum => "not_in_enum",
            Self::PathTraversal => "path_traversal",
            Self::PathOutsideRoot => "path_outside_root",
            Self::PathNotFound => "path_not_found",
            Self::EnvForbidden => "env_forbidden",
            Self::EnvNotAllowed => "env_not_allowed",
            Self::ArgsNotAllowed => "args_not_allowed",
            Self::ScriptsDisabled => "scripts_disabled",
            Self::ScriptsDirUnsafe => "scripts_dir_unsafe",
            Self::ScriptNotFound => "script_not_found",
            Self::ScriptNotRegular => "script_not_regular",
            Self::ScriptOwner => "script_owner",
            Self::ScriptWritable => "script_writable",
            Self::ScriptLinks => "script_links",
            Self::ScriptTooLarge => "script_too_large",
            Self::BadInterpreter => "bad_interpreter",
            Self::InlineDisabled => "inline_disabled",
            Self::InlineInvalid => "inline_invalid",
            Self::UserUnknown => "user_unknown",
            Self::SandboxUnavailable => "sandbox_unavailable",
            Self::InternalError => "internal_error",
            Self::NotForContainers => "not_for_containers",
            Self::LocalOnly => "local_only",
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request that will not run. `field` is the request's JSON path at fault (`command`,
/// `params.host`, `args[2]`, `env.LD_PRELOAD`, `inline`, `script`); `message` never echoes
/// more than a short, escaped prefix of the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub reason_code: ReasonCode,
    pub field: String,
    pub message: String,
}

impl Refusal {
    pub fn new(code: ReasonCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            reason_code: code,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.field, self.reason_code, self.message)
    }
}

impl std::error::Error for Refusal {}

/// At most 40 characters of `s`, escaped (`{:?}`), for a message that must name a value
/// without carrying it whole.
pub(crate) fn quote_prefix(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    format!("{out:?}")
}
