//! Sealing one value to its row and field.
//!
//! Format: `$op1$<key id>$<base64url(nonce ‖ ciphertext ‖ tag)>`. The nonce is 96 random
//! bits per value: a store holds thousands of secrets, far below the 2^32 values a random
//! GCM nonce allows under one key.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use ring::{
    aead::{Aad, Nonce, NONCE_LEN},
    rand::{SecureRandom, SystemRandom},
};
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::{key::Key, Keyring, SecretError};

const PREFIX: &str = "$op1$";

/// Binds a value to (row, field), each length-prefixed so no two pairs share a byte string.
fn associated_data(row: &str, field: &str) -> Vec<u8> {
    let mut ad = Vec::with_capacity(24 + row.len() + field.len());
    ad.extend_from_slice(b"outpost secret v1\0");
    for part in [row, field] {
        ad.extend_from_slice(&(part.len() as u64).to_be_bytes());
        ad.extend_from_slice(part.as_bytes());
    }
    ad
}

pub(crate) fn seal_with(
    key: &Key,
    row: &str,
    field: &str,
    plaintext: &str,
) -> Result<String, SecretError> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| SecretError::Random)?;
    let mut buf = Vec::with_capacity(NONCE_LEN + plaintext.len() + 16);
    buf.extend_from_slice(&nonce);
    buf.extend_from_slice(plaintext.as_bytes());
    let body = &mut buf[NONCE_LEN..];
    let tag = key
        .aead
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(associated_data(row, field)),
            body,
        )
        .map_err(|_| SecretError::Random)?;
    buf.extend_from_slice(tag.as_ref());
    Ok(format!(
        "{PREFIX}{}${}",
        key.id,
        URL_SAFE_NO_PAD.encode(&buf)
    ))
}

impl Keyring {
    /// Seals `plaintext` for (row, field) under the current key.
    pub fn seal(&self, row: &str, field: &str, plaintext: &str) -> Result<String, SecretError> {
        seal_with(&self.current, row, field, plaintext)
    }

    /// Opens a value sealed for (row, field) by this keyring's current or pending key.
    pub fn open_value(
        &self,
        row: &str,
        field: &str,
        sealed: &str,
    ) -> Result<SecretString, SecretError> {
        open_with(&|id| self.by_id(id), &self.current.id, row, field, sealed)
    }
}

/// Opens with whichever key `keys` returns for the value's key id; `have` names the key in
/// use for the error when none matches.
pub(crate) fn open_with<'k>(
    keys: &dyn Fn(&str) -> Option<&'k Key>,
    have: &str,
    row: &str,
    field: &str,
    sealed: &str,
) -> Result<SecretString, SecretError> {
    let malformed = |reason| SecretError::Malformed {
        row: row.to_owned(),
        field: field.to_owned(),
        reason,
    };
    let rest = sealed
        .strip_prefix(PREFIX)
        .ok_or_else(|| malformed("no $op1$ prefix"))?;
    let (id, body) = rest.split_once('$').ok_or_else(|| malformed("no key id"))?;
    let key = keys(id).ok_or_else(|| SecretError::WrongKey {
        row: row.to_owned(),
        field: field.to_owned(),
        sealed_with: id.chars().take(16).collect(),
        have: have.to_owned(),
    })?;
    let mut buf = Zeroizing::new(
        URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| malformed("not base64url"))?,
    );
    if buf.len() < NONCE_LEN + 16 {
        return Err(malformed("too short"));
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&buf[..NONCE_LEN]);
    let tampered = || SecretError::Tampered {
        row: row.to_owned(),
        field: field.to_owned(),
    };
    let plain = key
        .aead
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(associated_data(row, field)),
            &mut buf[NONCE_LEN..],
        )
        .map_err(|_| tampered())?;
    let text = std::str::from_utf8(plain).map_err(|_| tampered())?;
    Ok(SecretString::from(text.to_owned()))
}
