use std::path::PathBuf;

/// Why a key could not be loaded or a value not opened. Never carries key bytes or
/// plaintext.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret key file {path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },
    #[error("secret key file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The value was sealed under another key: the store was copied without its key, or
    /// the key file was replaced.
    #[error(
        "{row}/{field} was sealed under key {sealed_with}, but the key in use is {have}: \
         this is not the key this store's secrets were sealed with"
    )]
    WrongKey {
        row: String,
        field: String,
        sealed_with: String,
        have: String,
    },
    /// The right key, but the value does not open: changed, or moved from another row or
    /// field.
    #[error("{row}/{field}: the sealed value does not open (changed, or moved from another row)")]
    Tampered { row: String, field: String },
    #[error("{row}/{field}: not a sealed value ({reason})")]
    Malformed {
        row: String,
        field: String,
        reason: &'static str,
    },
    #[error("the system random source failed")]
    Random,
}
