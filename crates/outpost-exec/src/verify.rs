//! Checks an audit log and names its first bad line (see `audit.rs` for the format).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::Deserialize;

use crate::audit::{sha256_hex, GENESIS, MAX_LINE};

/// A log that checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub lines: u64,
    /// SHA-256 of the last line (the chain's head; of [`GENESIS`] for an empty log). Compare
    /// with a copy held elsewhere to detect lines removed from the end.
    pub head: String,
}

/// The first bad line (1-based; 0 when the file could not be read at all).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {failure}")]
pub struct VerifyError {
    pub line: u64,
    pub failure: VerifyFailure,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyFailure {
    #[error("cannot read the log: {0}")]
    Io(String),
    #[error("cut short: the last line has no newline")]
    Truncated,
    #[error("not an audit line ({0}): edited")]
    Malformed(String),
    #[error("its hash does not match its content: edited")]
    Edited,
    #[error("sequence {found} where {expected} was expected: line {expected} was removed")]
    Removed { expected: u64, found: u64 },
    #[error("sequence {found} where {expected} was expected: lines were reordered or duplicated")]
    Reordered { expected: u64, found: u64 },
    #[error("its prev does not match the line before it: that line was replaced or edited and re-hashed")]
    ChainBroken,
}

#[derive(Deserialize)]
struct ChainFields {
    seq: u64,
    prev: String,
}

const MARKER: &[u8] = b",\"hash\":\"";

/// One line's own check: the hash over its prefix, and its `seq` and `prev`.
pub(crate) fn check_line(line: &[u8]) -> Result<(u64, String), VerifyFailure> {
    let at = line
        .windows(MARKER.len())
        .rposition(|w| w == MARKER)
        .ok_or_else(|| VerifyFailure::Malformed("no hash field".into()))?;
    let (prefix, rest) = line.split_at(at);
    let hash = &rest[MARKER.len()..];
    let Some(hash) = hash.strip_suffix(b"\"}") else {
        return Err(VerifyFailure::Malformed(
            "does not end with the hash".into(),
        ));
    };
    if hash.len() != 64 || !hash.iter().all(|b| b.is_ascii_hexdigit()) {
        return Err(VerifyFailure::Malformed(
            "the hash is not 64 hex digits".into(),
        ));
    }
    if sha256_hex(prefix).as_bytes() != hash {
        return Err(VerifyFailure::Edited);
    }
    let fields: ChainFields = serde_json::from_slice(line)
        .map_err(|e| VerifyFailure::Malformed(format!("not JSON: {e}")))?;
    Ok((fields.seq, fields.prev))
}

/// Reads the whole log at `path` and checks every line and the chain between them.
pub fn verify(path: impl AsRef<Path>) -> Result<VerifyReport, VerifyError> {
    let file = File::open(path.as_ref()).map_err(|e| VerifyError {
        line: 0,
        failure: VerifyFailure::Io(e.to_string()),
    })?;
    let mut reader = BufReader::new(file);
    // First pass: each line alone, up to the first that fails on its own.
    let mut lines: Vec<(u64, String, String)> = Vec::new(); // (seq, prev, own line hash)
    let mut own_failure: Option<VerifyError> = None;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let line_no = lines.len() as u64 + 1;
        let n = (&mut reader)
            .take(MAX_LINE as u64 + 2)
            .read_until(b'\n', &mut buf)
            .map_err(|e| VerifyError {
                line: line_no,
                failure: VerifyFailure::Io(e.to_string()),
            })?;
        if n == 0 {
            break;
        }
        if buf.last() != Some(&b'\n') {
            let failure = if n > MAX_LINE {
                VerifyFailure::Malformed(format!("longer than {MAX_LINE} bytes"))
            } else {
                VerifyFailure::Truncated
            };
            own_failure = Some(VerifyError {
                line: line_no,
                failure,
            });
            break;
        }
        buf.pop();
        match check_line(&buf) {
            Ok((seq, prev)) => lines.push((seq, prev, sha256_hex(&buf))),
            Err(failure) => {
                own_failure = Some(VerifyError {
                    line: line_no,
                    failure,
                });
                break;
            }
        }
    }
    // Second pass: order and chain, over the lines that passed alone.
    let mut expected_prev = sha256_hex(GENESIS.as_bytes());
    for (i, (seq, prev, own)) in lines.iter().enumerate() {
        let line = i as u64 + 1;
        if *seq != line {
            let failure = if *seq > line && !lines[i..].iter().any(|l| l.0 == line) {
                VerifyFailure::Removed {
                    expected: line,
                    found: *seq,
                }
            } else {
                VerifyFailure::Reordered {
                    expected: line,
                    found: *seq,
                }
            };
            return Err(VerifyError { line, failure });
        }
        if *prev != expected_prev {
            return Err(VerifyError {
                line,
                failure: VerifyFailure::ChainBroken,
            });
        }
        expected_prev.clone_from(own);
    }
    if let Some(e) = own_failure {
        return Err(e);
    }
    Ok(VerifyReport {
        lines: lines.len() as u64,
        head: expected_prev,
    })
}
