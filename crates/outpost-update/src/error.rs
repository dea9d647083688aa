//! Every way an update can be refused or fail, as one typed error. Each variant names its
//! reason; [`UpdateError::code`] is the stable short name that job results and events
//! carry, and [`UpdateError::is_unreachable`] separates "could not reach the server" (exit
//! 1, try again later) from a refusal (exit 2: something is wrong with what was served).

use std::path::PathBuf;

use thiserror::Error;

/// A manifest or rotation statement that does not parse, naming the field.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{field}: {why}")]
pub struct FieldError {
    /// Dotted path, e.g. `targets.x86_64-linux-gnu.sha256`; `.` for the document itself.
    pub field: String,
    pub why: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, why: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            why: why.into(),
        }
    }
}

#[derive(Debug, Error)]
pub enum UpdateError {
    #[error("bad setting {key}: {why}")]
    Settings { key: &'static str, why: String },
    #[error("cannot reach {url}: {why}")]
    Unreachable { url: String, why: String },
    #[error("{url} answered HTTP {status}")]
    Http { url: String, status: u16 },
    #[error("{url} redirects to {location}: only https redirects are followed")]
    InsecureRedirect { url: String, location: String },
    #[error("{url} redirects more than {max} times")]
    TooManyRedirects { url: String, max: usize },
    #[error("{what} from {url} is larger than {limit} bytes")]
    DocumentTooLarge {
        what: &'static str,
        url: String,
        limit: u64,
    },
    #[error("manifest: {0}")]
    Manifest(FieldError),
    #[error("rotation statement {key_id}: {error}")]
    RotationStatement { key_id: String, error: FieldError },
    #[error("manifest signature is malformed: {0}")]
    SignatureFormat(String),
    #[error("manifest signature does not verify with key {key_id}")]
    BadSignature { key_id: String },
    #[error("manifest is signed by key {key_id}, which is not trusted and no rotation statement names it")]
    UnknownKey { key_id: String },
    #[error("rotation statement for key {key_id} is signed by key {signer}, which is not trusted")]
    UntrustedRotation { key_id: String, signer: String },
    #[error("rotation statement for key {key_id} does not verify with key {signer}")]
    BadRotationSignature { key_id: String, signer: String },
    #[error("manifest expired at {expires} (unix seconds; now {now})")]
    Expired { expires: u64, now: u64 },
    #[error("manifest is for channel {got}, not {expected}")]
    WrongChannel { expected: String, got: String },
    #[error("manifest version counter {got} is lower than {seen}, already seen on channel {channel}: a replayed or frozen manifest")]
    Replayed {
        channel: String,
        seen: u64,
        got: u64,
    },
    #[error("manifest lists no build for target {target}")]
    NoTarget { target: String },
    #[error("refusing a downgrade from {current} to {offered}")]
    Downgrade { current: String, offered: String },
    #[error("offered version {offered} is below the manifest's minimum version {min_version}")]
    BelowMinimum {
        offered: String,
        min_version: String,
    },
    #[error("download is larger than {limit} bytes")]
    Oversized { limit: u64 },
    #[error("download ended after {got} of {expected} bytes{}", why.as_deref().map(|w| format!(" ({w})")).unwrap_or_default())]
    Truncated {
        got: u64,
        expected: u64,
        why: Option<String>,
    },
    #[error("download's SHA-256 {got} is not the manifest's {expected}")]
    DigestMismatch { expected: String, got: String },
    #[error("running inside a container ({evidence}): the image is updated, never the binary")]
    InContainer { evidence: String },
    #[error("update state {path}: {why}")]
    State { path: PathBuf, why: String },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl UpdateError {
    /// The stable short name of the reason, for job results, events and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            UpdateError::Settings { .. } => "bad_settings",
            UpdateError::Unreachable { .. } => "unreachable",
            UpdateError::Http { .. } => "http_status",
            UpdateError::InsecureRedirect { .. } => "insecure_redirect",
            UpdateError::TooManyRedirects { .. } => "too_many_redirects",
            UpdateError::DocumentTooLarge { .. } => "document_too_large",
            UpdateError::Manifest(_) => "bad_manifest",
            UpdateError::RotationStatement { .. } => "bad_rotation_statement",
            UpdateError::SignatureFormat(_) => "bad_signature",
            UpdateError::BadSignature { .. } => "bad_signature",
            UpdateError::UnknownKey { .. } => "unknown_key",
            UpdateError::UntrustedRotation { .. } => "untrusted_rotation",
            UpdateError::BadRotationSignature { .. } => "bad_rotation_signature",
            UpdateError::Expired { .. } => "expired",
            UpdateError::WrongChannel { .. } => "wrong_channel",
            UpdateError::Replayed { .. } => "replayed",
            UpdateError::NoTarget { .. } => "no_target",
            UpdateError::Downgrade { .. } => "downgrade",
            UpdateError::BelowMinimum { .. } => "below_min_version",
            UpdateError::Oversized { .. } => "oversized",
            UpdateError::Truncated { .. } => "truncated",
            UpdateError::DigestMismatch { .. } => "digest_mismatch",
            UpdateError::InContainer { .. } => "in_container",
            UpdateError::State { .. } => "state",
            UpdateError::Io { .. } => "io",
        }
    }

    /// The server could not be reached (or answered with an error status): nothing was
    /// refused, try again later. Everything else is a refusal or a local failure.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            UpdateError::Unreachable { .. } | UpdateError::Http { .. }
        )
    }

    /// A local failure (disk, state file), neither a refusal nor the network.
    pub fn is_local(&self) -> bool {
        matches!(self, UpdateError::Io { .. } | UpdateError::State { .. })
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        UpdateError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
