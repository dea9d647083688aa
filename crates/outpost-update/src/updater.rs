//! `check` and `apply`: the steps of issue 16 §2 in order, each refusal a typed error.
//!
//! 1. fetch `BASE/CHANNEL.json` and `BASE/CHANNEL.json.minisig` over HTTPS (`fetch.rs`);
//! 2. find the signer among the trusted keys, or accept it through a rotation statement
//!    (`rotation.rs`), and verify the signature over the manifest's bytes (`verify.rs`);
//!    only then parse them (`manifest.rs`); check the channel, the expiry and the counter
//!    (`state.rs`, which then records it);
//! 3. pick this target's build and refuse a downgrade or a build below the minimum
//!    (`version.rs`);
//! 4. (apply) refuse inside a container (`container.rs`), download and verify
//!    (`download.rs`), swap it in (`swap.rs`).
//!
//! Restarting into the new build is the caller's: `apply` only says what it installed.

use std::path::PathBuf;

use semver::Version;

use crate::error::UpdateError;
use crate::fetch::{parse_https, Client};
use crate::keys::{KeyId, TrustedKeys};
use crate::manifest::{valid_name, Manifest, Target, MAX_BINARY_BYTES, MAX_MANIFEST_BYTES};
use crate::rotation::{self, MAX_STATEMENT_BYTES};
use crate::verify::{self, MAX_SIGNATURE_BYTES};
use crate::version::{decide, Decision};
use crate::{container, download, state, swap};

/// Everything an update needs to know, resolved by the caller (the binary's config).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The manifests' base URL (https); the channel's manifest is `BASE/CHANNEL.json`.
    pub base_url: String,
    pub channel: String,
    /// This build's target, as manifests name it ([`crate::current_target`]).
    pub target: String,
    /// This build's version.
    pub current_version: Version,
    /// The binary to replace (the running executable).
    pub binary: PathBuf,
    /// Where the counters are kept (`DATA_DIR/update`).
    pub state_dir: PathBuf,
    pub keys: TrustedKeys,
    /// Extra CA certificates (PEM) for the update server; verification stays on.
    pub ca_file: Option<PathBuf>,
    /// Where container markers are looked for: `/` except in tests.
    pub container_root: PathBuf,
    /// No download is ever larger than this, whatever the manifest says.
    pub max_download_bytes: u64,
}

impl Settings {
    pub const DEFAULT_MAX_DOWNLOAD_BYTES: u64 = MAX_BINARY_BYTES;
}

/// What a check found.
#[derive(Debug, Clone)]
pub struct Checked {
    pub manifest: Manifest,
    /// The key that signed the manifest.
    pub signer: KeyId,
    /// The signer was introduced by a rotation statement.
    pub rotated: bool,
    /// This target's build.
    pub build: Target,
    pub decision: Decision,
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    UpToDate {
        version: Version,
    },
    Updated {
        from: Version,
        to: Version,
        /// Where the build that ran before is kept.
        previous: PathBuf,
    },
}

pub struct Updater {
    settings: Settings,
    client: Client,
}

impl Updater {
    pub fn new(settings: Settings) -> Result<Updater, UpdateError> {
        parse_https(&settings.base_url)?;
        if !valid_name(&settings.channel) {
            return Err(UpdateError::Settings {
                key: "update.channel",
                why: format!(
                    "{:?}: 1 to 64 lowercase letters, digits, '_', '-', '.'",
                    settings.channel
                ),
            });
        }
        if settings.keys.is_empty() {
            return Err(UpdateError::Settings {
                key: "update.public_keys",
                why: "no trusted key".into(),
            });
        }
        let client = Client::new(settings.ca_file.as_deref())?;
        Ok(Updater { settings, client })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.settings.base_url.trim_end_matches('/'))
    }

    /// Steps 1-3; `now` in unix seconds. Records the manifest's counter.
    pub async fn check(&self, now: u64) -> Result<Checked, UpdateError> {
        let s = &self.settings;
        let manifest_url = self.url(&format!("{}.json", s.channel));
        let sig_url = format!("{manifest_url}.minisig");
        let bytes = self
            .client
            .document(&manifest_url, "manifest", MAX_MANIFEST_BYTES)
            .await?
            .ok_or_else(|| UpdateError::Http {
                url: manifest_url.clone(),
                status: 404,
            })?;
        let sig_text = self.signature(&sig_url).await?;
        let sig = verify::decode(&sig_text).map_err(UpdateError::SignatureFormat)?;
        let (key, rotated) = match s.keys.find(sig.signer) {
            Some(k) => (k.clone(), false),
            None => (self.rotated_key(sig.signer).await?, true),
        };
        if !sig.verifies(&key, &bytes) {
            return Err(UpdateError::BadSignature {
                key_id: key.id.to_string(),
            });
        }
        let manifest = Manifest::parse(&bytes).map_err(UpdateError::Manifest)?;
        if manifest.channel != s.channel {
            return Err(UpdateError::WrongChannel {
                expected: s.channel.clone(),
                got: manifest.channel,
            });
        }
        if manifest.expires <= now {
            return Err(UpdateError::Expired {
                expires: manifest.expires,
                now,
            });
        }
        let seen = state::load(&s.state_dir, &s.channel)?;
        state::check(&s.channel, seen, manifest.version)?;
        if seen != Some(manifest.version) {
            state::store(&s.state_dir, &s.channel, manifest.version)?;
        }
        let build =
            manifest
                .targets
                .get(&s.target)
                .cloned()
                .ok_or_else(|| UpdateError::NoTarget {
                    target: s.target.clone(),
                })?;
        let decision = decide(&s.current_version, &build)?;
        Ok(Checked {
            manifest,
            signer: key.id,
            rotated,
            build,
            decision,
        })
    }

    /// Steps 1-5: never inside a container; the binary is replaced only by a verified
    /// build, keeping the old one as `BIN.prev`.
    pub async fn apply(&self, now: u64) -> Result<Outcome, UpdateError> {
        let s = &self.settings;
        if let Some(evidence) = container::detect(&s.container_root) {
            return Err(UpdateError::InContainer { evidence });
        }
        let checked = self.check(now).await?;
        if checked.decision == Decision::UpToDate {
            return Ok(Outcome::UpToDate {
                version: s.current_version.clone(),
            });
        }
        let staged = download::download(
            &self.client,
            &checked.build,
            &s.binary,
            s.max_download_bytes,
        )
        .await?;
        let binary = s.binary.clone();
        let previous = tokio::task::spawn_blocking(move || swap::install(staged, &binary))
            .await
            .map_err(|e| UpdateError::io("swapping", &s.binary, std::io::Error::other(e)))??;
        Ok(Outcome::Updated {
            from: s.current_version.clone(),
            to: checked.build.version,
            previous,
        })
    }

    /// Towerops' `update {url, checksum}`: no manifest, so no signature, expiry, counter or
    /// version checks; only https, the size cap, the digest (which comes from the same server
    /// as the build: the hole the signed path closes) and the swap. The caller accepts it
    /// only on the operator's explicit opt-in. Returns the previous build's path.
    pub async fn apply_checksum_only(
        &self,
        url: &str,
        sha256: [u8; 32],
    ) -> Result<PathBuf, UpdateError> {
        let s = &self.settings;
        if let Some(evidence) = container::detect(&s.container_root) {
            return Err(UpdateError::InContainer { evidence });
        }
        crate::fetch::parse_https(url)?;
        let staged =
            download::download_unsized(&self.client, url, sha256, &s.binary, s.max_download_bytes)
                .await?;
        let binary = s.binary.clone();
        tokio::task::spawn_blocking(move || swap::install(staged, &binary))
            .await
            .map_err(|e| UpdateError::io("swapping", &s.binary, std::io::Error::other(e)))?
    }

    async fn signature(&self, url: &str) -> Result<String, UpdateError> {
        let bytes = self
            .client
            .document(url, "signature", MAX_SIGNATURE_BYTES)
            .await?
            .ok_or_else(|| UpdateError::Http {
                url: url.to_owned(),
                status: 404,
            })?;
        String::from_utf8(bytes).map_err(|_| UpdateError::SignatureFormat("not UTF-8 text".into()))
    }

    /// The signer's key through its rotation statement, or `UnknownKey` when none is served.
    async fn rotated_key(&self, signer: KeyId) -> Result<crate::TrustedKey, UpdateError> {
        let url = self.url(&rotation::statement_path(signer));
        let unknown = || UpdateError::UnknownKey {
            key_id: signer.to_string(),
        };
        let Some(statement) = self
            .client
            .document(&url, "rotation statement", MAX_STATEMENT_BYTES)
            .await?
        else {
            return Err(unknown());
        };
        let sig_url = format!("{url}.minisig");
        let Some(sig) = self
            .client
            .document(&sig_url, "signature", MAX_SIGNATURE_BYTES)
            .await?
        else {
            return Err(unknown());
        };
        let sig = String::from_utf8(sig).map_err(|_| UpdateError::UntrustedRotation {
            key_id: signer.to_string(),
            signer: "(unreadable signature)".into(),
        })?;
        rotation::accept(&statement, &sig, &self.settings.keys, signer)
    }
}

/// Now in unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
