//! The Towerops host-keys file: trust on first use for the SSH host keys (config backups)
//! and TLS certificates (RouterOS API over TLS) of the devices the agent reaches.
//!
//! The file is the original agent's, so an operator's existing `known_hosts.json` keeps
//! working: a JSON object mapping `"ssh:<ip>:<port>"` to `"<keytype> <sha256 hex>"` and
//! `"tls:<ip>:<port>"` to the certificate's SHA-256 in hex. A first sighting is written to
//! the file durably *before* the connection proceeds, so a crash cannot forget a key the
//! agent already trusted; a later mismatch is refused, never overwritten. Removing an entry
//! (by editing the file) is how an operator accepts a device's new key.
//!
//! Blocking: `check` may write and fsync the file. Call it from `spawn_blocking`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The file is read whole; anything larger is not a host-keys file.
const MAX_FILE_BYTES: u64 = 16 << 20;
/// A bound on the entries kept, so a stream of new devices cannot grow the file without end.
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    /// The key seen differs from the one trusted before: possibly a man in the middle.
    #[error("host key for {entry} changed: trusted {trusted}, presented {presented} (possible MITM; remove the entry from {file} to accept the new key)")]
    Mismatch {
        entry: String,
        trusted: String,
        presented: String,
        file: String,
    },
    #[error("host-keys file {file}: {reason}")]
    File { file: String, reason: String },
    #[error("host-keys file {file} is full ({MAX_ENTRIES} entries); {entry} was not trusted")]
    Full { file: String, entry: String },
}

/// How a presented key was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// It matched the entry already in the file.
    Known,
    /// There was no entry: it is now recorded (trust on first use).
    FirstUse,
}

/// The entry name for an SSH host key.
pub fn ssh_entry(ip: &str, port: u16) -> String {
    format!("ssh:{ip}:{port}")
}

/// The entry name for a TLS certificate.
pub fn tls_entry(ip: &str, port: u16) -> String {
    format!("tls:{ip}:{port}")
}

#[derive(Debug)]
pub struct HostKeys {
    path: PathBuf,
    entries: Mutex<BTreeMap<String, String>>,
}

impl HostKeys {
    /// Reads `path` (absent is empty) and checks that its directory is writable, as the
    /// original does at start: a store that cannot record a first key would fail every
    /// first connection later, far from the cause.
    pub fn open(path: &Path) -> Result<Self, HostKeyError> {
        let file = path.display().to_string();
        let err = |reason: String| HostKeyError::File {
            file: file.clone(),
            reason,
        };
        let entries = match std::fs::metadata(path) {
            Ok(m) if m.len() > MAX_FILE_BYTES => {
                return Err(err(format!("larger than {MAX_FILE_BYTES} bytes")))
            }
            Ok(_) => {
                let text = std::fs::read(path).map_err(|e| err(e.to_string()))?;
                if text.iter().all(u8::is_ascii_whitespace) {
                    BTreeMap::new()
                } else {
                    serde_json::from_slice::<BTreeMap<String, String>>(&text)
                        .map_err(|e| err(format!("not a JSON object of strings: {e}")))?
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(err(e.to_string())),
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let probe = dir.join(format!(".host-keys-probe.{}", std::process::id()));
        std::fs::write(&probe, b"")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|e| err(format!("directory {} is not writable: {e}", dir.display())))?;
        Ok(Self {
            path: path.to_path_buf(),
            entries: Mutex::new(entries),
        })
    }

    /// The trusted value of `entry`, if any.
    pub fn get(&self, entry: &str) -> Option<String> {
        self.lock().get(entry).cloned()
    }

    /// Accepts `presented` for `entry` when it matches the trusted value, or records it
    /// durably when there is none. Values compare case-insensitively (hex digests).
    pub fn check(&self, entry: &str, presented: &str) -> Result<Trust, HostKeyError> {
        let mut map = self.lock();
        if let Some(trusted) = map.get(entry) {
            if trusted.eq_ignore_ascii_case(presented) {
                return Ok(Trust::Known);
            }
            return Err(HostKeyError::Mismatch {
                entry: entry.to_owned(),
                trusted: trusted.clone(),
                presented: presented.to_owned(),
                file: self.path.display().to_string(),
            });
        }
        if map.len() >= MAX_ENTRIES {
            return Err(HostKeyError::Full {
                file: self.path.display().to_string(),
                entry: entry.to_owned(),
            });
        }
        map.insert(entry.to_owned(), presented.to_ascii_lowercase());
        let written = serde_json::to_vec_pretty(&*map)
            .map_err(std::io::Error::other)
            .and_then(|body| crate::durable::replace_file(&self.path, &body, 0o600));
        if let Err(e) = written {
            // Not recorded means not trusted: the next attempt asks again.
            map.remove(entry);
            return Err(HostKeyError::File {
                file: self.path.display().to_string(),
                reason: format!("recording {entry}: {e}"),
            });
        }
        tracing::info!(entry, file = %self.path.display(), "towerops: host key trusted on first use");
        Ok(Trust::FirstUse)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        // A panic while holding the lock cannot leave the map half-written: every mutation
        // above is a single insert or remove.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue17_host_keys_first_use_is_recorded_then_a_change_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts.json");
        let keys = HostKeys::open(&path).unwrap();
        let e = ssh_entry("192.0.2.1", 22);
        assert_eq!(keys.check(&e, "ssh-ed25519 AB12").unwrap(), Trust::FirstUse);
        // Durable before the caller proceeds: a fresh reader sees it.
        let again = HostKeys::open(&path).unwrap();
        assert_eq!(again.get(&e).as_deref(), Some("ssh-ed25519 ab12"));
        assert_eq!(again.check(&e, "SSH-ED25519 ab12").unwrap(), Trust::Known);
        let err = again.check(&e, "ssh-ed25519 ffff").unwrap_err();
        assert!(matches!(err, HostKeyError::Mismatch { .. }), "{err}");
        assert!(err.to_string().contains("possible MITM"), "{err}");
        // The mismatch never replaced the trusted key.
        assert_eq!(
            HostKeys::open(&path).unwrap().get(&e).as_deref(),
            Some("ssh-ed25519 ab12")
        );
    }

    #[test]
    fn issue17_host_keys_reads_the_original_agents_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts.json");
        std::fs::write(
            &path,
            r#"{"ssh:10.0.0.1:22":"ssh-rsa 00ff","tls:10.0.0.1:8729":"abcd"}"#,
        )
        .unwrap();
        let keys = HostKeys::open(&path).unwrap();
        assert_eq!(
            keys.check(&tls_entry("10.0.0.1", 8729), "ABCD").unwrap(),
            Trust::Known
        );
        assert!(keys
            .check(&ssh_entry("10.0.0.1", 22), "ssh-rsa 0000")
            .is_err());
    }

    #[test]
    fn issue17_host_keys_bad_file_or_unwritable_dir_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts.json");
        std::fs::write(&path, b"[1,2]").unwrap();
        let err = HostKeys::open(&path).unwrap_err();
        assert!(err.to_string().contains("not a JSON object"), "{err}");
        let missing = dir.path().join("nope").join("known_hosts.json");
        let err = HostKeys::open(&missing).unwrap_err();
        assert!(err.to_string().contains("not writable"), "{err}");
    }
}
