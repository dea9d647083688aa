//! WAMP-CRA (challenge-response authentication): the router's CHALLENGE extra carries a
//! `challenge` string; the client answers AUTHENTICATE with base64(HMAC-SHA256(key,
//! challenge)). The key is the secret as-is, or, when the extra has a `salt`, the base64
//! text of PBKDF2-HMAC-SHA256(secret, salt, iterations, keylen) (what autobahn and
//! Crossbar call a salted secret).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::Dict;

/// A router asking for more PBKDF2 rounds than this is refused, not obeyed: the count is
/// router input, and each round costs us CPU.
pub const MAX_ITERATIONS: u32 = 1_000_000;
/// The longest derived key we compute, in bytes.
pub const MAX_KEYLEN: usize = 128;

/// The defaults autobahn's `derive_key` uses when the extra has a salt but not these.
const DEFAULT_ITERATIONS: u32 = 1000;
const DEFAULT_KEYLEN: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CraError {
    #[error("WAMP-CRA challenge extra has no string `challenge`")]
    MissingChallenge,
    #[error("WAMP-CRA challenge `salt` must be a string")]
    BadSalt,
    #[error("WAMP-CRA challenge `iterations` must be an integer in 1..={MAX_ITERATIONS}")]
    Iterations,
    #[error("WAMP-CRA challenge `keylen` must be an integer in 1..={MAX_KEYLEN}")]
    Keylen,
}

/// The parsed extra of a `wampcra` CHALLENGE.
#[derive(Debug, Clone, PartialEq)]
pub struct CraChallenge {
    /// Signed as its UTF-8 bytes, exactly as received.
    pub challenge: String,
    /// With a salt, the key is derived (see [`derive_key`]).
    pub salt: Option<String>,
    pub iterations: u32,
    pub keylen: usize,
}

fn bounded_int(v: Option<&Value>, default: u64, max: u64) -> Option<u64> {
    match v {
        None | Some(Value::Null) => Some(default),
        Some(v) => v.as_u64().filter(|n| (1..=max).contains(n)),
    }
}

impl CraChallenge {
    pub fn from_extra(extra: &Dict) -> Result<CraChallenge, CraError> {
        let challenge = match extra.get("challenge") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(CraError::MissingChallenge),
        };
        let salt = match extra.get("salt") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(CraError::BadSalt),
        };
        let iterations = bounded_int(
            extra.get("iterations"),
            DEFAULT_ITERATIONS.into(),
            MAX_ITERATIONS.into(),
        )
        .and_then(|n| u32::try_from(n).ok())
        .ok_or(CraError::Iterations)?;
        let keylen = bounded_int(
            extra.get("keylen"),
            DEFAULT_KEYLEN as u64,
            MAX_KEYLEN as u64,
        )
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(CraError::Keylen)?;
        Ok(CraChallenge {
            challenge,
            salt,
            iterations,
            keylen,
        })
    }

    /// The AUTHENTICATE signature for `secret`.
    pub fn sign(&self, secret: &[u8]) -> String {
        match &self.salt {
            Some(salt) => {
                let key = derive_key(secret, salt.as_bytes(), self.iterations, self.keylen);
                sign_challenge(key.as_bytes(), &self.challenge)
            }
            None => sign_challenge(secret, &self.challenge),
        }
    }
}

/// A salted secret: base64(PBKDF2-HMAC-SHA256(secret, salt, iterations, keylen)). The
/// base64 text, not the raw bytes, is the HMAC key (autobahn's convention). `iterations`
/// and `keylen` are clamped to `1..=MAX_*`.
pub fn derive_key(secret: &[u8], salt: &[u8], iterations: u32, keylen: usize) -> String {
    let mut key = vec![0u8; keylen.clamp(1, MAX_KEYLEN)];
    pbkdf2::pbkdf2_hmac::<Sha256>(secret, salt, iterations.clamp(1, MAX_ITERATIONS), &mut key);
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// base64(HMAC-SHA256(key, challenge)).
pub fn sign_challenge(key: &[u8], challenge: &str) -> String {
    // HMAC takes a key of any length (longer keys are hashed first), so this cannot fail.
    let mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(challenge.as_bytes());
            mac.finalize().into_bytes()
        }
        Err(_) => return String::new(),
    };
    base64::engine::general_purpose::STANDARD.encode(mac)
}
