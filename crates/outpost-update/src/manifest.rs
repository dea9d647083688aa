//! The release manifest of one channel: which build each target should run.
//!
//! ```json
//! {
//!   "channel": "stable",
//!   "version": 42,
//!   "expires": 1798761600,
//!   "targets": {
//!     "x86_64-linux-gnu": {
//!       "version": "0.2.0",
//!       "url": "https://releases.example.net/outpost/0.2.0/outpost-x86_64-linux-gnu",
//!       "size": 9437184,
//!       "sha256": "<64 hex digits>",
//!       "min_version": "0.1.0"
//!     }
//!   }
//! }
//! ```
//!
//! - `version` is the manifest's own counter: every manifest published on a channel has a
//!   higher one, and an agent refuses one lower than the highest it has seen (`state.rs`).
//! - `expires` is in **unix seconds (UTC)**: an integer compares without a date parser, and
//!   the release tool (or `date -d '+30 days' +%s`) writes it. A manifest past it is
//!   refused, so a server frozen on an old manifest stops being believed.
//! - Per target: the build's semantic `version`, its https `url`, exact `size` in bytes,
//!   `sha256` (hex), and `min_version`, the lowest version this manifest allows to run.
//!
//! Parsing is strict: unknown fields are refused, the document is at most
//! [`MAX_MANIFEST_BYTES`], and every error names its field. A parsed manifest is not yet
//! trusted: the signature (`verify.rs`) is checked over the same bytes before parsing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// The largest manifest read (it lists a few targets; a megabyte is generous).
pub const MAX_MANIFEST_BYTES: usize = 1 << 20;
/// The largest build any manifest may announce.
pub const MAX_BINARY_BYTES: u64 = 512 << 20;
/// Targets one manifest may list at most.
pub const MAX_TARGETS: usize = 64;
const MAX_URL_BYTES: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub channel: String,
    /// The manifest's counter (never lower than the last one an agent has seen).
    pub version: u64,
    /// Unix seconds after which the manifest is refused.
    pub expires: u64,
    pub targets: BTreeMap<String, Target>,
}

/// One build in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub version: semver::Version,
    pub url: String,
    pub size: u64,
    #[serde(with = "hex32")]
    pub sha256: [u8; 32],
    pub min_version: semver::Version,
}

impl Manifest {
    /// Parses and checks a manifest's bytes; the error names the field.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, FieldError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(FieldError::new(
                ".",
                format!("larger than {MAX_MANIFEST_BYTES} bytes"),
            ));
        }
        let m: Manifest = parse_json(bytes)?;
        m.check()?;
        Ok(m)
    }

    /// The manifest as JSON (what the release tool signs).
    pub fn to_json(&self) -> String {
        // A struct of strings, integers and maps always serializes.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    fn check(&self) -> Result<(), FieldError> {
        if !valid_name(&self.channel) {
            return Err(FieldError::new("channel", NAME_RULE));
        }
        if self.targets.is_empty() || self.targets.len() > MAX_TARGETS {
            return Err(FieldError::new(
                "targets",
                format!("must list 1 to {MAX_TARGETS} targets"),
            ));
        }
        for (name, t) in &self.targets {
            let at = |f: &str| format!("targets.{name}.{f}");
            if !valid_name(name) {
                return Err(FieldError::new(format!("targets.{name}"), NAME_RULE));
            }
            if !t.url.starts_with("https://") || t.url.len() > MAX_URL_BYTES {
                return Err(FieldError::new(
                    at("url"),
                    format!("an https:// URL of at most {MAX_URL_BYTES} bytes"),
                ));
            }
            if t.size == 0 || t.size > MAX_BINARY_BYTES {
                return Err(FieldError::new(
                    at("size"),
                    format!("must be between 1 and {MAX_BINARY_BYTES}"),
                ));
            }
        }
        Ok(())
    }
}

const NAME_RULE: &str = "1 to 64 characters: lowercase letters, digits, '_', '-', '.'";

/// Channel and target names: they become file names (state) and URL path segments.
pub fn valid_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && !s.starts_with('.')
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
        })
}

/// JSON into `T`, an error naming the field (`.` for the document itself).
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, FieldError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path.is_empty() { ".".into() } else { path };
        FieldError::new(field, e.into_inner().to_string())
    })?;
    de.end()
        .map_err(|e| FieldError::new(".", format!("trailing data: {e}")))?;
    Ok(v)
}

/// The target this binary was built for, as manifests name it: `x86_64-linux-gnu`,
/// `aarch64-linux-musl`, ...
pub fn current_target() -> String {
    let env = if cfg!(target_env = "musl") {
        "musl"
    } else {
        "gnu"
    };
    format!("{}-{}-{env}", std::env::consts::ARCH, std::env::consts::OS)
}

mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.as_bytes(), &mut out)
            .map_err(|_| serde::de::Error::custom("64 hex digits (a SHA-256)"))?;
        Ok(out)
    }
}
