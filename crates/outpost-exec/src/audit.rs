//! The audit log: one JSON line per decision and per outcome, append-only, hash-chained.
//!
//! Each line ends with `,"hash":"H"}` where H is the SHA-256 (hex) of every byte of the line
//! before that `,"hash":"`; each line's `prev` is the SHA-256 of the whole previous line
//! (without its newline), the first line's of [`GENESIS`]; `seq` is the line number. An edited
//! line fails its own hash; a removed, reordered or inserted line breaks `seq` and `prev`;
//! a cut last line has no newline. Removing whole lines from the END leaves a valid shorter
//! log: only a copy of the last hash held elsewhere (the `exec.audit` events the agent sends
//! carry every line's hash) shows that.
//!
//! The file is opened `O_APPEND | O_NOFOLLOW`, mode 0600; each line is one `write` and is
//! `fdatasync`ed before `append` returns, so a decision is on disk before its command runs.
//! A failed write poisons the log (nothing is appended after a possibly torn line, so nothing
//! more runs) until it is reopened.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::AuditError;
use crate::identity::Identity;
use crate::plan::TargetKind;
use crate::refusal::ReasonCode;
use crate::verify::check_line;

/// What the first line's `prev` is the SHA-256 of.
pub const GENESIS: &str = "outpost-exec audit log v1";

/// Longest line written; longer records are shortened (argv elements cut, then argv
/// dropped) and marked `truncated`.
pub const MAX_LINE: usize = 64 * 1024;

/// Where a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Api,
    Uplink,
    Schedule,
    Adapter,
    Cli,
    /// The connectivity monitor's recovery ladder.
    Connectivity,
}

/// Who asked: the source, and the token name, uplink or schedule id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub source: Source,
    pub who: String,
}

impl Origin {
    pub fn new(source: Source, who: impl Into<String>) -> Self {
        Self {
            source,
            who: who.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allowed,
    Refused,
    /// Not run, by the caller's own rule (the connectivity monitor's guard rails, its dry
    /// run): written by the caller, with its reason, so every decision is in the chain.
    Skipped,
}

/// A `decision` line is written before anything runs (allowed or refused); an allowed run
/// then gets an `outcome` line naming its decision line in `decision_seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Decision,
    Outcome,
}

/// One audit line. The agent turns each into an `exec.audit` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    pub time: String,
    pub phase: Phase,
    pub source: Source,
    pub who: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<TargetKind>,
    /// The command or script name as requested (at most 64 characters), `inline`, or empty.
    pub command: String,
    /// The container the command ran in (container.exec), absent for a run on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    /// The configured environment, secret values replaced by `<redacted>`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    pub decision: Decision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<ReasonCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub timed_out: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub cancelled: bool,
    /// The run could not start (sandbox set-up or exec failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout_dropped_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr_dropped_bytes: Option<u64>,
    /// `enforced`, `unavailable` or `off`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landlock: Option<String>,
    /// Fields were shortened to keep the line under [`MAX_LINE`].
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
    pub prev: String,
    /// Last, so that the hashed prefix is every other field (empty while being written).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
}

fn is_false(b: &bool) -> bool {
    !b
}

impl AuditRecord {
    /// A record with the given phase, origin, decision and command; the log fills `seq`,
    /// `time`, `prev` and `hash`.
    pub fn new(phase: Phase, origin: &Origin, decision: Decision, command: &str) -> Self {
        Self {
            seq: 0,
            time: String::new(),
            phase,
            source: origin.source,
            who: origin.who.chars().take(128).collect(),
            kind: None,
            command: command.chars().take(64).collect(),
            container: None,
            argv: None,
            env: BTreeMap::new(),
            script_sha256: None,
            identity: None,
            decision,
            reason_code: None,
            field: None,
            reason: None,
            decision_seq: None,
            exit_code: None,
            signal: None,
            timed_out: false,
            cancelled: false,
            error: None,
            duration_ms: None,
            stdout_bytes: None,
            stderr_bytes: None,
            stdout_dropped_bytes: None,
            stderr_dropped_bytes: None,
            landlock: None,
            truncated: false,
            prev: String::new(),
            hash: String::new(),
        }
    }

    /// Cuts what can be long (argv elements, env values, the reason), then drops argv.
    fn shorten(&mut self, step: u8) {
        self.truncated = true;
        let cut = |s: &mut String, n: usize| {
            if s.len() > n {
                let mut end = n;
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                s.truncate(end);
                s.push('…');
            }
        };
        match step {
            0 => {
                for a in self.argv.iter_mut().flatten() {
                    cut(a, 256);
                }
                for v in self.env.values_mut() {
                    cut(v, 256);
                }
                for s in [&mut self.reason, &mut self.error].into_iter().flatten() {
                    cut(s, 1024);
                }
            }
            _ => {
                self.argv = None;
                self.env.clear();
            }
        }
    }
}

struct State {
    file: File,
    seq: u64,
    /// SHA-256 hex of the last line (or of [`GENESIS`]).
    prev: String,
    /// A write failed: the file may end in a torn line.
    poisoned: bool,
}

/// The append side of the log. Appends are serialized by a mutex; each blocks for a
/// `write` and, when `fsync` is on, an `fdatasync` (call it from a blocking thread).
pub struct AuditLog {
    path: PathBuf,
    state: Mutex<State>,
    /// Sync every line to the disk. Off, a line is in the kernel before `append` returns,
    /// so it survives any crash of the process (not a power loss): the same promise as the
    /// agent's store with `store.sync = normal`, and ~4 ms less per line on a VM disk.
    fsync: bool,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .finish()
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl AuditLog {
    /// Opens (creating, 0600) the log at `path` and continues its chain from its last line,
    /// which must be whole and valid.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AuditError> {
        let path = path.as_ref().to_owned();
        let io = |source| AuditError::Io {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(AuditError::NotRegular { path });
        }
        if meta.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(io)?;
        }
        let (seq, prev) = last_line(&file, meta.len())
            .map_err(|why| AuditError::BrokenTail {
                path: path.clone(),
                why,
            })?
            .unwrap_or_else(|| (0, sha256_hex(GENESIS.as_bytes())));
        Ok(Self {
            path,
            state: Mutex::new(State {
                file,
                seq,
                prev,
                poisoned: false,
            }),
            fsync: true,
        })
    }

    /// Whether each line is synced to the disk (on by default; see the field).
    pub fn with_fsync(mut self, fsync: bool) -> Self {
        self.fsync = fsync;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` (its `seq`, `time`, `prev` and `hash` are set here) and returns it
    /// as written, once it is on disk.
    pub fn append(&self, mut record: AuditRecord) -> Result<AuditRecord, AuditError> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.poisoned {
            return Err(AuditError::Io {
                path: self.path.clone(),
                source: std::io::Error::other("an earlier write failed; reopen the log"),
            });
        }
        record.seq = st.seq + 1;
        record.time = crate::time::rfc3339(SystemTime::now());
        record.prev = st.prev.clone();
        record.hash = String::new();
        let mut body = serde_json::to_vec(&record)?;
        let mut step = 0;
        while body.len() > MAX_LINE - 80 && step < 2 {
            record.shorten(step);
            body = serde_json::to_vec(&record)?;
            step += 1;
        }
        // `{...}` -> `{...,"hash":"H"}` with H over everything before `,"hash":"`.
        body.pop();
        let hash = sha256_hex(&body);
        body.extend_from_slice(b",\"hash\":\"");
        body.extend_from_slice(hash.as_bytes());
        body.extend_from_slice(b"\"}");
        let line_hash = sha256_hex(&body);
        body.push(b'\n');
        let fsync = self.fsync;
        let written =
            st.file
                .write_all(&body)
                .and_then(|()| if fsync { st.file.sync_data() } else { Ok(()) });
        if let Err(source) = written {
            st.poisoned = true;
            return Err(AuditError::Io {
                path: self.path.clone(),
                source,
            });
        }
        st.seq = record.seq;
        st.prev = line_hash;
        record.hash = hash;
        Ok(record)
    }
}

/// The last line's `seq` and SHA-256, or `None` for an empty file.
fn last_line(file: &File, len: u64) -> Result<Option<(u64, String)>, String> {
    if len == 0 {
        return Ok(None);
    }
    let window = len.min(MAX_LINE as u64 + 1);
    let mut buf = vec![0u8; usize::try_from(window).map_err(|e| e.to_string())?];
    file.read_exact_at(&mut buf, len - window)
        .map_err(|e| format!("reading the tail: {e}"))?;
    if buf.last() != Some(&b'\n') {
        return Err("the file does not end with a newline (a cut line)".into());
    }
    buf.pop();
    let start = match buf.iter().rposition(|b| *b == b'\n') {
        Some(i) => i + 1,
        None if window == len => 0,
        None => return Err(format!("the last line is longer than {MAX_LINE} bytes")),
    };
    let line = &buf[start..];
    let (seq, _prev) = check_line(line).map_err(|f| f.to_string())?;
    Ok(Some((seq, sha256_hex(line))))
}
