//! Why a collection failed. /proc and /sys content is input, so malformed
//! content is an error value, never a panic.

use std::path::PathBuf;

/// A failure to collect one group of host metrics.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A file under /proc or /sys could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file we tried to read, so an operator can check it by hand.
        path: PathBuf,
        /// What the kernel said.
        #[source]
        source: std::io::Error,
    },
    /// A file was read but its content was not in the expected shape.
    #[error("parsing {path}: {what}")]
    Parse {
        /// The file whose content was odd.
        path: PathBuf,
        /// What was missing or malformed.
        what: &'static str,
    },
    /// No process has this pid (it never existed or has exited).
    #[error("Process {pid} not found")]
    NoSuchProcess {
        /// The pid asked for.
        pid: u32,
    },
}

impl HostError {
    pub(crate) fn read(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        HostError::Read {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn parse(path: impl Into<PathBuf>, what: &'static str) -> Self {
        HostError::Parse {
            path: path.into(),
            what,
        }
    }
}

/// Reads a whole /proc or /sys file into a string, naming the path on error.
pub(crate) fn read_file(path: &std::path::Path) -> Result<String, HostError> {
    std::fs::read_to_string(path).map_err(|e| HostError::read(path, e))
}
