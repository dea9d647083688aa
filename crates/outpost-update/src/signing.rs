//! Key generation and signing in minisign's format, with the `minisign` crate (the
//! reference implementation's author's pure-Rust port): the release tool
//! (`outpost release keygen|sign`) and the tests use this one code path, so what the tests
//! verify is what operators publish. Behind the `sign` feature: agents only verify.

use thiserror::Error;

use crate::keys::{KeyId, TrustedKey};

#[derive(Debug, Error)]
#[error("{0}")]
pub struct SignError(String);

fn err(e: impl std::fmt::Display) -> SignError {
    SignError(e.to_string())
}

/// A new key pair as minisign writes its files.
pub struct GeneratedKey {
    pub id: KeyId,
    /// The `.pub` file's text (an untrusted comment line and the base64 line).
    pub public: String,
    /// The `.key` file's text: keep it offline.
    pub secret: String,
}

/// A new key pair; the secret key is encrypted with `password` when one is given (scrypt,
/// as minisign does), else written unencrypted (the box with its checksum, readable with
/// an empty password: the crate's own "unencrypted" form is raw bytes, not a file).
pub fn keygen(password: Option<&str>) -> Result<GeneratedKey, SignError> {
    let kp = minisign::KeyPair::generate_encrypted_keypair(Some(
        password.unwrap_or_default().to_owned(),
    ))
    .map_err(err)?;
    let public = kp.pk.to_box().map_err(err)?.to_string();
    let secret = kp
        .sk
        .to_box(Some("outpost release key"))
        .map_err(err)?
        .to_string();
    let id = TrustedKey::parse(&public).map_err(SignError)?.id;
    Ok(GeneratedKey { id, public, secret })
}

/// Signs `data` with the secret key file's text (`password`: for an encrypted key; an
/// unencrypted key takes `None`). Returns the `.minisig` file's text.
pub fn sign(
    secret: &str,
    password: Option<&str>,
    data: &[u8],
    trusted_comment: Option<&str>,
) -> Result<String, SignError> {
    let sk = minisign::SecretKeyBox::from_string(secret)
        .map_err(err)?
        .into_secret_key(Some(password.unwrap_or_default().to_owned()))
        .map_err(err)?;
    let sig = minisign::sign(None, &sk, data, trusted_comment, None).map_err(err)?;
    Ok(sig.into_string())
}

/// The id of the key in a secret key file (to name the rotation statement's file).
pub fn public_of(secret: &str, password: Option<&str>) -> Result<String, SignError> {
    let sk = minisign::SecretKeyBox::from_string(secret)
        .map_err(err)?
        .into_secret_key(Some(password.unwrap_or_default().to_owned()))
        .map_err(err)?;
    let pk = minisign::PublicKey::from_secret_key(&sk).map_err(err)?;
    Ok(pk.to_box().map_err(err)?.to_string())
}
