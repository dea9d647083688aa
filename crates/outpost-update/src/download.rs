//! The binary's download: written to a temporary file beside the binary it will replace
//! (same directory, so the swap is one rename on one file system), hashed with SHA-256 as
//! it is written, never more than the manifest's size (nor the configured absolute cap),
//! and compared with the manifest's digest in constant time. A download that stops short,
//! runs long or hashes wrong is refused and its file removed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::io::AsyncWriteExt;

use crate::error::UpdateError;
use crate::fetch::{unreachable, Client};
use crate::manifest::Target;

/// A whole build must arrive within this long.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// A verified download waiting to be swapped in; removed on drop unless taken.
#[derive(Debug)]
pub struct Staged {
    path: Option<PathBuf>,
}

impl Staged {
    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// The file is now someone else's (renamed into place): do not remove it.
    pub(crate) fn keep(mut self) {
        self.path = None;
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The temporary name beside `binary`: hidden, and naming our pid so two updaters (which
/// the caller should not run) never write the same file.
pub fn staging_path(binary: &Path) -> PathBuf {
    let name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "outpost".into());
    binary.with_file_name(format!(".{name}.update-{}", std::process::id()))
}

/// Downloads `target` next to `binary`, verified against its size and digest.
pub async fn download(
    client: &Client,
    target: &Target,
    binary: &Path,
    cap: u64,
) -> Result<Staged, UpdateError> {
    fetch_verified(client, target, true, binary, cap).await
}

/// A checksum-only update's build: its size is not known, so only the cap bounds it and a
/// shorter body is not "truncated"; the digest still decides.
pub async fn download_unsized(
    client: &Client,
    url: &str,
    sha256: [u8; 32],
    binary: &Path,
    cap: u64,
) -> Result<Staged, UpdateError> {
    let target = Target {
        version: semver::Version::new(0, 0, 0),
        url: url.to_owned(),
        size: cap,
        sha256,
        min_version: semver::Version::new(0, 0, 0),
    };
    fetch_verified(client, &target, false, binary, cap).await
}

async fn fetch_verified(
    client: &Client,
    target: &Target,
    exact_size: bool,
    binary: &Path,
    cap: u64,
) -> Result<Staged, UpdateError> {
    let limit = target.size.min(cap);
    if target.size > cap {
        return Err(UpdateError::Oversized { limit: cap });
    }
    let mut resp = client.get(&target.url, DOWNLOAD_TIMEOUT).await?;
    if !resp.status().is_success() {
        return Err(UpdateError::Http {
            url: target.url.clone(),
            status: resp.status().as_u16(),
        });
    }
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(UpdateError::Oversized { limit });
    }
    let path = staging_path(binary);
    let _ = std::fs::remove_file(&path);
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .await
        .map_err(|e| UpdateError::io("creating", &path, e))?;
    let staged = Staged {
        path: Some(path.clone()),
    };
    let mut hasher = Sha256::new();
    let mut got: u64 = 0;
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            // The body ended in an error: the server closed early (fewer bytes than it
            // announced) or the connection broke. Either way the build did not arrive.
            Err(e) => {
                let why = match unreachable(&target.url, &e) {
                    UpdateError::Unreachable { why, .. } => why,
                    other => other.to_string(),
                };
                return Err(UpdateError::Truncated {
                    got,
                    expected: target.size,
                    why: Some(why),
                });
            }
        };
        got += chunk.len() as u64;
        if got > limit {
            return Err(UpdateError::Oversized { limit });
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| UpdateError::io("writing", &path, e))?;
    }
    if exact_size && got < target.size {
        return Err(UpdateError::Truncated {
            got,
            expected: target.size,
            why: None,
        });
    }
    let digest: [u8; 32] = hasher.finalize().into();
    if !bool::from(digest.ct_eq(&target.sha256)) {
        return Err(UpdateError::DigestMismatch {
            expected: hex::encode(target.sha256),
            got: hex::encode(digest),
        });
    }
    file.flush()
        .await
        .map_err(|e| UpdateError::io("writing", &path, e))?;
    Ok(staged)
}
