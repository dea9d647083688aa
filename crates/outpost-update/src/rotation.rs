//! Key rotation: a manifest signed by a key the agent does not trust yet is accepted only
//! when a **rotation statement** for that key, signed by a key it already trusts, is
//! served beside the manifest.
//!
//! The statement lives at `BASE/keys/KEYID.json` (KEYID as minisign prints it, 16
//! uppercase hex digits) with its signature at `BASE/keys/KEYID.json.minisig`:
//!
//! ```json
//! {"purpose": "outpost-key-rotation", "new_public_key": "RWQ...", "comment": "2027 key"}
//! ```
//!
//! `purpose` keeps a statement from ever being mistaken for a manifest and the reverse
//! (each refuses the other's fields). The introduced key is trusted for that check only,
//! never stored: the statement keeps being served until the agents' configured keys (or a
//! new build's compiled-in key) name the new key, and removing it revokes the rotation.
//! One step only: a statement must be signed by a trusted key, not by a key that another
//! statement introduced.

use serde::{Deserialize, Serialize};

use crate::error::{FieldError, UpdateError};
use crate::keys::{KeyId, TrustedKey, TrustedKeys};
use crate::manifest::parse_json;
use crate::verify;

pub const PURPOSE: &str = "outpost-key-rotation";
/// A statement is a key and a comment.
pub const MAX_STATEMENT_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationStatement {
    pub purpose: String,
    /// The new key's base64 line (`RW...`), as in its minisign `.pub` file.
    pub new_public_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl RotationStatement {
    pub fn new(new_public_key: &str, comment: Option<&str>) -> RotationStatement {
        RotationStatement {
            purpose: PURPOSE.into(),
            new_public_key: new_public_key.trim().to_owned(),
            comment: comment.map(str::to_owned),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn parse(bytes: &[u8]) -> Result<RotationStatement, FieldError> {
        if bytes.len() > MAX_STATEMENT_BYTES {
            return Err(FieldError::new(
                ".",
                format!("larger than {MAX_STATEMENT_BYTES} bytes"),
            ));
        }
        let s: RotationStatement = parse_json(bytes)?;
        if s.purpose != PURPOSE {
            return Err(FieldError::new("purpose", format!("must be {PURPOSE:?}")));
        }
        Ok(s)
    }
}

/// The URL path of the statement for `id`, under the manifest's base URL.
pub fn statement_path(id: KeyId) -> String {
    format!("keys/{id}.json")
}

/// Checks a fetched statement for `wanted`: signed by a trusted key, naming exactly
/// `wanted`. Returns the key it introduces.
pub fn accept(
    bytes: &[u8],
    sig_text: &str,
    trusted: &TrustedKeys,
    wanted: KeyId,
) -> Result<TrustedKey, UpdateError> {
    let key_id = wanted.to_string();
    let sig = verify::decode(sig_text).map_err(|why| UpdateError::RotationStatement {
        key_id: key_id.clone(),
        error: FieldError::new("signature", why),
    })?;
    let signer = trusted
        .find(sig.signer)
        .ok_or_else(|| UpdateError::UntrustedRotation {
            key_id: key_id.clone(),
            signer: sig.signer.to_string(),
        })?;
    if !sig.verifies(signer, bytes) {
        return Err(UpdateError::BadRotationSignature {
            key_id,
            signer: signer.id.to_string(),
        });
    }
    let statement =
        RotationStatement::parse(bytes).map_err(|error| UpdateError::RotationStatement {
            key_id: key_id.clone(),
            error,
        })?;
    let key = TrustedKey::parse(&statement.new_public_key).map_err(|why| {
        UpdateError::RotationStatement {
            key_id: key_id.clone(),
            error: FieldError::new("new_public_key", why),
        }
    })?;
    if key.id != wanted {
        return Err(UpdateError::RotationStatement {
            key_id,
            error: FieldError::new(
                "new_public_key",
                format!("names key {}, not the manifest's signer", key.id),
            ),
        });
    }
    Ok(key)
}
