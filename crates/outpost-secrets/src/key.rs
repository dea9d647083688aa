//! The key: loading, creating and identifying it.

use std::{
    fs,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use ring::{
    aead::{LessSafeKey, UnboundKey, AES_256_GCM},
    digest,
    rand::{SecureRandom, SystemRandom},
};
use zeroize::Zeroizing;

use crate::SecretError;

/// The key file's name in the data directory.
pub const KEY_FILE: &str = "secret.key";
/// A rotation's new key, beside the old one until the rotation commits.
pub const NEXT_KEY_FILE: &str = "secret.key.next";

/// One AES-256-GCM key and its id.
pub(crate) struct Key {
    pub(crate) aead: LessSafeKey,
    pub(crate) id: String,
}

impl Key {
    pub(crate) fn from_bytes(bytes: &[u8; 32]) -> Result<Key, SecretError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| SecretError::Random)?;
        // The id is a hash of the key under its own label: it identifies the key in sealed
        // values and logs without revealing anything usable about it.
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"outpost secret key id v1\0");
        ctx.update(bytes);
        let id = hex::encode(&ctx.finish().as_ref()[..8]);
        Ok(Key {
            aead: LessSafeKey::new(unbound),
            id,
        })
    }

    pub(crate) fn generate() -> Result<(Key, Zeroizing<[u8; 32]>), SecretError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| SecretError::Random)?;
        Ok((Key::from_bytes(&bytes)?, bytes))
    }
}

/// The key that seals new values, and a pending rotation's key, which only opens them.
pub struct Keyring {
    pub(crate) current: Key,
    pub(crate) pending: Option<Key>,
    pub(crate) path: PathBuf,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("key_id", &self.current.id)
            .field("pending", &self.pending.as_ref().map(|k| &k.id))
            .field("path", &self.path)
            .finish()
    }
}

impl Keyring {
    /// Loads the key from `path`, creating it (mode 0600, never overwriting) when `create`
    /// and it does not exist. A `secret.key.next` beside it (an interrupted rotation) is
    /// loaded too, so values already re-sealed under it still open.
    pub fn load(path: &Path, create: bool) -> Result<Keyring, SecretError> {
        let current = match read_key(path)? {
            Some(k) => k,
            None if create => create_key_file(path)?,
            None => {
                return Err(SecretError::KeyFile {
                    path: path.to_owned(),
                    reason: "does not exist".into(),
                })
            }
        };
        let pending = match path.parent() {
            Some(dir) if path.file_name() == Some(KEY_FILE.as_ref()) => {
                read_key(&dir.join(NEXT_KEY_FILE))?
            }
            _ => None,
        };
        Ok(Keyring {
            current,
            pending,
            path: path.to_owned(),
        })
    }

    /// A keyring with a fresh random key that lives only in memory (tests, `--new-key`).
    pub fn ephemeral() -> Result<Keyring, SecretError> {
        let (current, _) = Key::generate()?;
        Ok(Keyring {
            current,
            pending: None,
            path: PathBuf::new(),
        })
    }

    /// The id of the key that seals: 16 hex characters, safe to log.
    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    /// Where the key was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when an interrupted rotation left a pending key.
    pub fn rotation_pending(&self) -> bool {
        self.pending.is_some()
    }

    pub(crate) fn by_id(&self, id: &str) -> Option<&Key> {
        std::iter::once(&self.current)
            .chain(self.pending.as_ref())
            .find(|k| k.id == id)
    }
}

/// Reads a key file: 32 raw bytes, or 64 hex digits with optional surrounding whitespace
/// (what `outpost` writes, and what an operator can paste into a credential). Refuses a file
/// that others can read.
pub(crate) fn read_key(path: &Path) -> Result<Option<Key>, SecretError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SecretError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    let bad = |reason: &str| SecretError::KeyFile {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if !meta.is_file() {
        return Err(bad("not a regular file"));
    }
    if meta.permissions().mode() & 0o007 != 0 {
        return Err(bad(
            "other users can access it (chmod 600, or 400 for a credential)",
        ));
    }
    let raw = Zeroizing::new(fs::read(path).map_err(|source| SecretError::Io {
        path: path.to_owned(),
        source,
    })?);
    let mut bytes = Zeroizing::new([0u8; 32]);
    if raw.len() == 32 {
        bytes.copy_from_slice(&raw);
    } else {
        let text =
            std::str::from_utf8(&raw).map_err(|_| bad("neither 32 bytes nor 64 hex digits"))?;
        hex::decode_to_slice(text.trim(), bytes.as_mut())
            .map_err(|_| bad("neither 32 bytes nor 64 hex digits"))?;
    }
    Key::from_bytes(&bytes).map(Some)
}

/// Creates a key file with a new random key: 0600 from creation, `create_new` so two
/// starts never both write one, synced before anything is sealed under it.
pub(crate) fn create_key_file(path: &Path) -> Result<Key, SecretError> {
    let io = |source| SecretError::Io {
        path: path.to_owned(),
        source,
    };
    let (key, bytes) = Key::generate()?;
    let mut text = Zeroizing::new(hex::encode(bytes.as_ref()));
    text.push('\n');
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    sync_parent(path).map_err(io)?;
    Ok(key)
}

pub(crate) fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => fs::File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}
