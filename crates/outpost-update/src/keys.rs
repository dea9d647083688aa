//! The public keys an agent trusts: the release key compiled into the binary, plus the
//! operator's `update.public_keys`. Keys are minisign public keys (ed25519); a key is known
//! by its 8-byte key id, printed as minisign prints it (16 uppercase hex digits).

use std::fmt;

use base64::Engine as _;

use crate::error::FieldError;

/// The project's release key (minisign format), compiled in. Its secret half is kept
/// offline and never enters the repository.
pub const RELEASE_PUBLIC_KEY: &str = include_str!("../keys/release.pub");

/// A minisign key id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 8]);

impl fmt::Display for KeyId {
    /// As minisign prints it: the id read as a little-endian integer, in hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}

/// One trusted key.
#[derive(Clone)]
pub struct TrustedKey {
    pub id: KeyId,
    pub(crate) key: minisign_verify::PublicKey,
    /// The base64 line, as configured (shown by `update check`).
    pub base64: String,
}

impl fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrustedKey({})", self.id)
    }
}

impl TrustedKey {
    /// A public key from its base64 line (`RW...`) or a whole minisign `.pub` file's text.
    pub fn parse(text: &str) -> Result<TrustedKey, String> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .ok_or("no key")?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(line)
            .map_err(|_| "not base64")?;
        // Algorithm (2 bytes, "Ed"), key id (8), ed25519 key (32).
        if raw.len() != 42 || raw.get(..2) != Some(b"Ed".as_slice()) {
            return Err("not a minisign ed25519 public key".into());
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&raw[2..10]);
        let key = minisign_verify::PublicKey::from_base64(line)
            .map_err(|e| format!("not a minisign public key: {e}"))?;
        Ok(TrustedKey {
            id: KeyId(id),
            key,
            base64: line.to_owned(),
        })
    }
}

/// The keys a manifest (or a rotation statement) may be signed with.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: Vec<TrustedKey>,
}

impl TrustedKeys {
    /// No key at all (tests that name their own keys).
    pub fn empty() -> TrustedKeys {
        TrustedKeys::default()
    }

    /// The compiled-in release key.
    pub fn builtin() -> TrustedKeys {
        let mut k = TrustedKeys::empty();
        // The file is ours and checked by a test; a bad one would leave only the
        // configured keys, never accept anything more.
        if let Ok(key) = TrustedKey::parse(RELEASE_PUBLIC_KEY) {
            k.keys.push(key);
        }
        k
    }

    /// Adds the keys of `update.public_keys`: base64 lines separated by commas.
    pub fn add_list(&mut self, list: &str) -> Result<(), FieldError> {
        for (i, item) in list.split(',').map(str::trim).enumerate() {
            if item.is_empty() {
                continue;
            }
            let key = TrustedKey::parse(item)
                .map_err(|why| FieldError::new(format!("update.public_keys[{i}]"), why))?;
            self.add(key);
        }
        Ok(())
    }

    pub fn add(&mut self, key: TrustedKey) {
        if self.find(key.id).is_none() {
            self.keys.push(key);
        }
    }

    pub fn find(&self, id: KeyId) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &TrustedKey> {
        self.keys.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
