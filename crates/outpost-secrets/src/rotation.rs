//! Re-sealing everything under a new key, so that a crash at any step loses nothing:
//! 1. the new key is written to `secret.key.next` and synced (a restart now loads both keys);
//! 2. the caller re-seals every value in one store transaction ([`Rotation::reseal_json`]);
//! 3. [`Rotation::commit`] renames `secret.key.next` over `secret.key` and syncs the directory.
//!
//! A key from `OUTPOST_SECRET_KEY_FILE` belongs to the operator (a systemd credential): the
//! new key comes from a file they name, and step 3 is theirs (replacing the credential).

use std::{fs, path::Path};

use serde_json::Value;

use crate::{
    json::{map_sealed, seal_leaf},
    key::{create_key_file, read_key, sync_parent, Key},
    Keyring, SecretError, KEY_FILE, NEXT_KEY_FILE,
};

/// A rotation in progress: `from` opens (current or pending key), `to` seals.
pub struct Rotation {
    from: Keyring,
    to: Keyring,
    /// Set when the new key sits in `secret.key.next` and commit renames it.
    rename: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl Rotation {
    /// Step 1 for a key kept in the data directory: loads `secret.key` and the pending
    /// `secret.key.next`, creating the latter if no earlier rotation left one (an interrupted
    /// rotation resumes with the same new key).
    pub fn begin_in_dir(data_dir: &Path) -> Result<Rotation, SecretError> {
        let key_path = data_dir.join(KEY_FILE);
        let next_path = data_dir.join(NEXT_KEY_FILE);
        let from = Keyring::load(&key_path, false)?;
        let next: Key = match read_key(&next_path)? {
            Some(k) => k,
            None => create_key_file(&next_path)?,
        };
        let to = Keyring {
            current: next,
            pending: None,
            path: key_path.clone(),
        };
        Ok(Rotation {
            from,
            to,
            rename: Some((next_path, key_path)),
        })
    }

    /// A rotation between two keys the operator manages (nothing is renamed).
    pub fn between(from: Keyring, to: Keyring) -> Rotation {
        Rotation {
            from,
            to,
            rename: None,
        }
    }

    pub fn from_id(&self) -> &str {
        self.from.key_id()
    }

    pub fn to_id(&self) -> &str {
        self.to.key_id()
    }

    /// Step 2, per stored document: every sealed leaf opened with the old key (or the new
    /// one, when an interrupted rotation already re-sealed it) and sealed under the new key.
    pub fn reseal_json(&self, row: &str, v: &Value) -> Result<Value, SecretError> {
        let keys = |id: &str| self.from.by_id(id).or_else(|| self.to.by_id(id));
        let to = &self.to.current;
        map_sealed(&keys, self.from.key_id(), row, "", v, &mut |at, leaf| {
            seal_leaf(to, row, at, &leaf)
        })
    }

    /// Step 3: the new key replaces the old one. Returns the keyring now in use.
    pub fn commit(self) -> Result<Keyring, SecretError> {
        if let Some((next, key)) = &self.rename {
            fs::rename(next, key).map_err(|source| SecretError::Io {
                path: key.clone(),
                source,
            })?;
            sync_parent(key).map_err(|source| SecretError::Io {
                path: key.clone(),
                source,
            })?;
        }
        Ok(self.to)
    }
}
