//! GPUs: NVIDIA through NVML ([`nvml`], loaded at run time, with the `gpu`
//! feature, on by default), AMD and Intel through the DRM sysfs tree
//! ([`drm`], always). Without any, there are simply no GPUs.
//!
//! Nothing here runs until someone asks for the metrics that carry GPUs:
//! NVML is loaded on the first such request, once, and a failed load is
//! remembered, so an idle agent never maps the library.

pub mod drm;
#[cfg(feature = "gpu")]
mod nvml;

use serde::Serialize;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

/// One GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gpu {
    /// Model name, e.g. `NVIDIA GeForce RTX 3080`.
    pub name: String,
    /// `NVIDIA`, `AMD` or `Intel`.
    pub vendor: String,
    /// Busy percent over the driver's last sample period (NVIDIA, AMD), or
    /// since the previous collection (Intel: 0 on the first one).
    pub utilization_percent: u32,
    /// Device memory in use, in bytes; 0 where the GPU has none of its own
    /// (integrated Intel) or the driver does not say.
    pub memory_used_bytes: u64,
    /// Device memory, in bytes; 0 as above.
    pub memory_total_bytes: u64,
}

/// Reads the GPUs. NVML is loaded at most once per `Host`: hosts without
/// NVIDIA pay one failed dlopen, not one per request.
#[derive(Default)]
pub(crate) struct GpuProbe {
    #[cfg(feature = "gpu")]
    /// NVML, loaded on first use; never retried after a failure.
    nvml: nvml::Nvml,
    /// AMD and Intel cards, with Intel's previous idle readings.
    drm: Mutex<drm::DrmGpus>,
}

impl std::fmt::Debug for GpuProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuProbe").finish_non_exhaustive()
    }
}

impl GpuProbe {
    /// Every GPU: NVIDIA's from NVML first, then the DRM cards of other
    /// vendors under `sys_root`.
    pub(crate) fn collect(&self, sys_root: &Path) -> Vec<Gpu> {
        #[cfg(feature = "gpu")]
        let mut out = self.nvml.collect();
        #[cfg(not(feature = "gpu"))]
        let mut out = Vec::new();
        let mut drm = self.drm.lock().unwrap_or_else(PoisonError::into_inner);
        out.extend(drm.sample(sys_root, drm::now_ms()));
        out
    }

    /// Whether NVML has been tried (loaded or not); for the idle test.
    #[cfg(all(test, feature = "gpu"))]
    pub(crate) fn nvml_tried(&self) -> bool {
        self.nvml.tried()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_drm_tree_means_no_gpus_from_it() {
        let dir = tempfile::tempdir().unwrap();
        let probe = GpuProbe::default();
        #[cfg(feature = "gpu")]
        assert!(
            !probe.nvml_tried(),
            "NVML is not loaded before it is asked for"
        );
        let gpus = probe.collect(dir.path());
        assert!(gpus.iter().all(|g| g.vendor == "NVIDIA"));
        #[cfg(feature = "gpu")]
        assert!(probe.nvml_tried());
    }
}
