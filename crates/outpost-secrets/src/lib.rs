//! Secrets at rest.
//!
//! One 256-bit key ([`Keyring`]) lives outside the store: `DATA_DIR/secret.key` (mode 0600)
//! or a file named by `OUTPOST_SECRET_KEY_FILE` (systemd credentials). Each secret field is
//! sealed separately with AES-256-GCM; the associated data names its row and field, so a
//! sealed value copied to another row, or another field, does not open. A sealed value names
//! the key that sealed it (a key id, never the key), so a wrong key is a clear error
//! ([`SecretError::WrongKey`]), never garbage.
//!
//! Rotation ([`Rotation`]) re-seals under a new key written beside the old one first, so a
//! crash at any point leaves every value openable: the keyring holds a pending key until the
//! rotation is committed by renaming it over the old one.

mod error;
mod json;
mod key;
mod rotation;
mod seal;

pub use error::SecretError;
pub use json::SEALED_TAG;
pub use key::{Keyring, KEY_FILE, NEXT_KEY_FILE};
pub use rotation::Rotation;
pub use secrecy::{ExposeSecret, SecretString};
