//! Images: list, pull (progress as a stream for the caller to pace), remove, prune, and
//! load from a tar file on the device (the offline path, with no registry).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use bollard::auth::DockerCredentials;
use bollard::query_parameters::{
    CreateImageOptions, ImportImageOptions, ListImagesOptions, PruneImagesOptions,
    RemoveImageOptions,
};
use futures_util::stream::{self, BoxStream, StreamExt};
use serde::Serialize;
use tokio::io::AsyncReadExt;

use crate::engine::Engine;
use crate::error::{bounded, EngineError};

/// One image as `image.list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageRow {
    pub id: String,
    pub tags: Vec<String>,
    pub digests: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    pub size_bytes: i64,
    pub labels: BTreeMap<String, String>,
}

/// Registry credentials for one pull. Never printed: `Debug` hides the password.
#[derive(Clone)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
    pub server: Option<String>,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("server", &self.server)
            .finish()
    }
}

/// One progress message of a pull.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PullProgress {
    /// The layer, when the message is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

/// What a removal or a prune did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Removed {
    pub untagged: Vec<String>,
    pub deleted: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub space_reclaimed_bytes: Option<i64>,
}

/// Read size of `image.load`'s file, and so the largest chunk in flight.
const LOAD_CHUNK: usize = 256 * 1024;

impl Engine {
    pub async fn images(&self, deadline: Instant) -> Result<Vec<ImageRow>, EngineError> {
        let rows = self
            .call(deadline, |d| async move {
                d.list_images(Some(ListImagesOptions::default())).await
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|i| ImageRow {
                id: i.id,
                // Untagged images carry `<none>:<none>` on old engines.
                tags: i
                    .repo_tags
                    .into_iter()
                    .filter(|t| t != "<none>:<none>")
                    .collect(),
                digests: i
                    .repo_digests
                    .into_iter()
                    .filter(|t| t != "<none>@<none>")
                    .collect(),
                created: i.created,
                size_bytes: i.size,
                labels: i.labels.into_iter().collect(),
            })
            .collect())
    }

    /// Starts pulling `reference` (a tag defaults to `latest`, as the engine does); the
    /// stream yields the engine's progress and ends when the pull does. Connecting is
    /// bounded by `deadline`; the stream by its caller.
    pub async fn pull(
        &self,
        reference: &str,
        auth: Option<RegistryAuth>,
        deadline: Instant,
    ) -> Result<BoxStream<'static, Result<PullProgress, EngineError>>, EngineError> {
        let d = self.client_by(deadline).await?;
        let opts = CreateImageOptions {
            from_image: Some(reference.to_owned()),
            // Without a tag the engine would pull every tag of the repository.
            tag: (!has_tag_or_digest(reference)).then(|| "latest".to_owned()),
            ..Default::default()
        };
        let creds = auth.map(|a| DockerCredentials {
            username: Some(a.username),
            password: Some(a.password),
            serveraddress: a.server,
            ..Default::default()
        });
        let engine = self.clone();
        Ok(d.create_image(Some(opts), None, creds)
            .map(move |r| match r {
                Ok(info) => match info.error_detail.and_then(|e| e.message) {
                    Some(m) => {
                        Err(engine.map(bollard::errors::Error::DockerStreamError { error: m }))
                    }
                    None => Ok(PullProgress {
                        layer: info.id,
                        status: bounded(info.status.unwrap_or_default()),
                        current: info.progress_detail.as_ref().and_then(|p| p.current),
                        total: info.progress_detail.as_ref().and_then(|p| p.total),
                    }),
                },
                Err(e) => Err(engine.map(e)),
            })
            .boxed())
    }

    pub async fn remove_image(
        &self,
        reference: &str,
        force: bool,
        deadline: Instant,
    ) -> Result<Removed, EngineError> {
        let opts = RemoveImageOptions {
            force,
            ..Default::default()
        };
        let items = self
            .call(deadline, |d| async move {
                d.remove_image(reference, Some(opts), None).await
            })
            .await?;
        let mut out = Removed::default();
        for i in items {
            out.untagged.extend(i.untagged);
            out.deleted.extend(i.deleted);
        }
        Ok(out)
    }

    /// Removes unused images: only dangling (untagged) ones unless `all`.
    pub async fn prune_images(&self, all: bool, deadline: Instant) -> Result<Removed, EngineError> {
        let mut filters = HashMap::new();
        filters.insert(
            "dangling".to_owned(),
            vec![if all { "false" } else { "true" }.to_owned()],
        );
        let opts = PruneImagesOptions {
            filters: Some(filters),
        };
        let r = self
            .call(
                deadline,
                |d| async move { d.prune_images(Some(opts)).await },
            )
            .await?;
        let mut out = Removed {
            space_reclaimed_bytes: r.space_reclaimed,
            ..Default::default()
        };
        for i in r.images_deleted.into_iter().flatten() {
            out.untagged.extend(i.untagged);
            out.deleted.extend(i.deleted);
        }
        Ok(out)
    }

    /// Loads the image(s) of a `docker save` tar file on this device; returns the engine's
    /// messages (`Loaded image: NAME`). The file is streamed, never held whole in memory.
    pub async fn load(&self, path: &Path, deadline: Instant) -> Result<Vec<String>, EngineError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| EngineError::NotFound(format!("cannot open {}: {e}", path.display())))?;
        let chunks = stream::unfold(Some(file), |f| async move {
            let mut f = f?;
            let mut buf = vec![0u8; LOAD_CHUNK];
            match f.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), Some(f)))
                }
                // The error ends the body; the engine then reports a bad archive.
                Err(e) => Some((Err(e), None)),
            }
        });
        // Bounded by the job's deadline alone, not `call_timeout`: a large archive takes
        // its time, and the engine is busy, not slow.
        let d = self.client_by(deadline).await?;
        let left = deadline.saturating_duration_since(Instant::now());
        let work = async {
            let mut s = d.import_image_stream(ImportImageOptions::default(), chunks, None);
            let mut said = Vec::new();
            while let Some(r) = s.next().await {
                let info = r.map_err(|e| self.map(e))?;
                if let Some(t) = info.stream.filter(|t| !t.trim().is_empty()) {
                    said.push(bounded(t.trim().to_owned()));
                }
            }
            Ok(said)
        };
        tokio::time::timeout(left, work).await.unwrap_or_else(|_| {
            Err(self.unavailable(format!(
                "the load did not finish within {} ms",
                left.as_millis()
            )))
        })
    }
}

/// Whether `reference` names a tag (`name:tag`, the colon after the last `/`) or a digest.
fn has_tag_or_digest(reference: &str) -> bool {
    reference.contains('@')
        || reference
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue15_a_reference_without_tag_pulls_latest_only() {
        assert!(!has_tag_or_digest("busybox"));
        assert!(!has_tag_or_digest("localhost:5000/busybox"));
        assert!(has_tag_or_digest("localhost:5000/busybox:1"));
        assert!(has_tag_or_digest("busybox@sha256:abc"));
    }

    #[test]
    fn issue15_registry_password_is_not_in_debug() {
        let a = RegistryAuth {
            username: "u".into(),
            password: "hunter2".into(),
            server: None,
        };
        assert!(!format!("{a:?}").contains("hunter2"));
    }
}
