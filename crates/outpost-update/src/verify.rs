//! Signature checks: minisign signatures (ed25519 over the BLAKE2b-512 of the document,
//! minisign's default "prehashed" mode) verified by the `minisign-verify` crate. We only
//! read the signer's key id out of the signature to choose the key; no crypto of our own.

use base64::Engine as _;
use minisign_verify::Signature;

use crate::keys::{KeyId, TrustedKey};

/// A `.minisig` file is four short lines; anything much longer is not one.
pub const MAX_SIGNATURE_BYTES: usize = 4096;

/// A decoded signature and the id of the key that made it.
pub struct DecodedSignature {
    pub signer: KeyId,
    sig: Signature,
}

/// Decodes a `.minisig` file's text.
pub fn decode(text: &str) -> Result<DecodedSignature, String> {
    if text.len() > MAX_SIGNATURE_BYTES {
        return Err(format!("larger than {MAX_SIGNATURE_BYTES} bytes"));
    }
    let sig = Signature::decode(text).map_err(|e| e.to_string())?;
    // minisign-verify keeps the key id private: read it from the second line (algorithm,
    // key id, signature), which `decode` has just accepted.
    let line = text.lines().nth(1).unwrap_or_default().trim();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(line)
        .map_err(|_| "signature line is not base64".to_string())?;
    let mut id = [0u8; 8];
    id.copy_from_slice(raw.get(2..10).ok_or("signature line too short")?);
    Ok(DecodedSignature {
        signer: KeyId(id),
        sig,
    })
}

impl DecodedSignature {
    /// Whether `key` signed `bytes`. Legacy (non-prehashed) signatures are refused:
    /// minisign has not made them by default since 0.8.
    pub fn verifies(&self, key: &TrustedKey, bytes: &[u8]) -> bool {
        key.id == self.signer && key.key.verify(bytes, &self.sig, false).is_ok()
    }
}
