//! The disk guard (issue 15 §4): free space on the engine's data root (`DockerRootDir` of
//! the engine's info), against a threshold in percent. Below it the guard is *low*: the
//! caller refuses new pulls (`disk_full`) and prunes what it owns, once, when it becomes
//! low; above it again, pulls are allowed.
//!
//! What the guard measures is the filesystem the engine writes images and containers to,
//! as this process sees it (the engine is local). A data root this process cannot stat (a
//! rootless engine in another mount namespace) is an error, and the caller does not refuse
//! pulls on a figure it does not have.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bollard::query_parameters::PruneContainersOptions;
use serde::Serialize;

use crate::engine::Engine;
use crate::error::EngineError;
use crate::images::Removed;

/// The label every container Outpost manages carries; only those are pruned.
pub const OWNER_LABEL: &str = "outpost.app";

/// One measurement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiskCheck {
    /// The engine's data root.
    pub root: String,
    /// Free space for unprivileged writers, in percent of the filesystem.
    pub free_pct: f64,
    pub threshold_pct: f64,
    /// Below the threshold now.
    pub low: bool,
    /// This check found it low and the one before did not: the caller's cue to prune and
    /// tell.
    pub became_low: bool,
}

/// What a prune of Outpost's own leftovers removed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Pruned {
    /// Stopped containers labelled `outpost.app`.
    pub containers: Vec<String>,
    /// Dangling images.
    pub images: Removed,
    pub space_reclaimed_bytes: i64,
}

/// The guard's state, shared by the pull kind and the timer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DiskGuard {
    threshold_pct: f64,
    low: Arc<AtomicBool>,
}

/// Free percent of the filesystem holding `path` (blocks available to unprivileged users
/// over all blocks, as `df` computes "Use%").
pub fn free_pct(path: &Path) -> std::io::Result<f64> {
    let st = rustix::fs::statvfs(path)?;
    if st.f_blocks == 0 {
        return Ok(100.0);
    }
    Ok(st.f_bavail as f64 / st.f_blocks as f64 * 100.0)
}

impl DiskGuard {
    /// A guard tripping below `threshold_pct` percent free (0: never).
    pub fn new(threshold_pct: f64) -> Self {
        DiskGuard {
            threshold_pct,
            low: Arc::default(),
        }
    }

    /// Whether the last check found the disk low.
    pub fn is_low(&self) -> bool {
        self.low.load(Ordering::Relaxed)
    }

    /// Measures the engine's data root now, and records the result.
    pub async fn check(
        &self,
        engine: &Engine,
        deadline: Instant,
    ) -> Result<DiskCheck, EngineError> {
        let root = engine.data_root(deadline).await?;
        let path = root.clone();
        let free = tokio::task::spawn_blocking(move || free_pct(Path::new(&path)))
            .await
            .map_err(|e| EngineError::engine(None, format!("statvfs: {e}")))?
            .map_err(|e| EngineError::engine(None, format!("statvfs {root}: {e}")))?;
        let low = self.threshold_pct > 0.0 && free < self.threshold_pct;
        let was = self.low.swap(low, Ordering::Relaxed);
        Ok(DiskCheck {
            root,
            free_pct: (free * 100.0).round() / 100.0,
            threshold_pct: self.threshold_pct,
            low,
            became_low: low && !was,
        })
    }
}

impl Engine {
    /// The engine's data root (`DockerRootDir`).
    pub async fn data_root(&self, deadline: Instant) -> Result<String, EngineError> {
        let info = self
            .call(deadline, |d| async move { d.info().await })
            .await?;
        info.docker_root_dir
            .filter(|r| !r.is_empty())
            .ok_or_else(|| EngineError::engine(None, "the engine's info has no DockerRootDir"))
    }

    /// Removes what Outpost owns and no longer runs: stopped containers labelled
    /// `outpost.app` (never another's), and dangling images.
    pub async fn prune_owned(&self, deadline: Instant) -> Result<Pruned, EngineError> {
        let mut filters = HashMap::new();
        filters.insert("label".to_owned(), vec![OWNER_LABEL.to_owned()]);
        let opts = PruneContainersOptions {
            filters: Some(filters),
        };
        let c = self
            .call(
                deadline,
                |d| async move { d.prune_containers(Some(opts)).await },
            )
            .await?;
        let images = self.prune_images(false, deadline).await?;
        Ok(Pruned {
            containers: c.containers_deleted.unwrap_or_default(),
            space_reclaimed_bytes: c
                .space_reclaimed
                .unwrap_or(0)
                .saturating_add(images.space_reclaimed_bytes.unwrap_or(0)),
            images,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue15_free_pct_of_a_real_filesystem_is_a_percentage() {
        let f = free_pct(Path::new("/")).unwrap_or(-1.0);
        assert!((0.0..=100.0).contains(&f), "{f}");
        assert!(free_pct(Path::new("/nonexistent/outpost")).is_err());
    }
}
