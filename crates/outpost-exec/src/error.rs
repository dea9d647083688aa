//! The crate's typed errors. A [`Refusal`](crate::Refusal) is not among them for callers
//! that only plan; [`ExecError::Refused`] carries it (and its audit line) for callers that run.

use std::io;
use std::path::PathBuf;

use crate::exec::Refused;

/// A `[commands.NAME]` table, or the exec settings, that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("commands.{command}.{field}: {message}")]
    Invalid {
        command: String,
        field: String,
        message: String,
    },
    #[error("exec.{key}: {message}")]
    Settings { key: &'static str, message: String },
}

/// The audit log could not be opened or written. A command whose decision line cannot be
/// written does not run.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("audit log {path} is not a regular file")]
    NotRegular { path: PathBuf },
    #[error(
        "audit log {path}: its last line is incomplete or damaged ({why}); run the verifier \
         and move the file aside: nothing is appended after a broken line"
    )]
    BrokenTail { path: PathBuf, why: String },
    #[error("audit record does not serialize: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Why an attempt did not produce a finished run.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Refused, and audited as refused.
    #[error("refused: {}", .0.refusal)]
    Refused(Box<Refused>),
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The sandbox could not be set up or the program could not start (audited as such).
    #[error("could not start {program}: {source}")]
    Spawn {
        program: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the blocking task running {0} panicked or was cancelled")]
    Join(&'static str),
}
