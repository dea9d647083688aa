//! Outpost's self-update, in the manner of TUF: a signed manifest per channel (offline
//! ed25519 keys in minisign's format, verified with `minisign-verify`), expiry, a counter
//! that never goes back (no replay, no freeze), no downgrade, a download checked against
//! the signed size and digest, and an atomic swap that keeps the previous build.
//!
//! One concept per file: `manifest` (the document), `keys` (trusted keys), `verify`
//! (signatures), `rotation` (a new key introduced by a trusted one), `state` (counters
//! seen), `version` (which way a build moves us), `fetch` (HTTPS), `download`, `swap`,
//! `container` (never replace a container's binary), `updater` (the steps in order),
//! `signing` (feature `sign`: keygen and sign, for the release tool and tests).

pub mod container;
pub mod download;
mod error;
pub mod fetch;
pub mod keys;
pub mod manifest;
pub mod rotation;
#[cfg(feature = "sign")]
pub mod signing;
pub mod state;
pub mod swap;
mod updater;
pub mod verify;
pub mod version;

pub use error::{FieldError, UpdateError};
pub use keys::{KeyId, TrustedKey, TrustedKeys, RELEASE_PUBLIC_KEY};
pub use manifest::{current_target, Manifest, Target};
pub use rotation::RotationStatement;
pub use updater::{unix_now, Checked, Outcome, Settings, Updater};
pub use version::Decision;
