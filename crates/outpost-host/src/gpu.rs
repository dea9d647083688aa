//! GPUs through NVML, loaded at run time. Built only with the `gpu` feature;
//! without it, or without the NVIDIA driver, there are simply no GPUs.

use serde::Serialize;

/// One GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gpu {
    /// Model name, e.g. `NVIDIA GeForce RTX 3080`.
    pub name: String,
    /// Busy percent over the driver's last sample period.
    pub utilization_percent: u32,
    /// Device memory in use, in bytes.
    pub memory_used_bytes: u64,
    /// Device memory, in bytes.
    pub memory_total_bytes: u64,
}

/// Loads NVML at most once per `Host`: hosts without NVIDIA pay one failed
/// dlopen, not one per request.
#[derive(Default)]
pub(crate) struct GpuProbe {
    #[cfg(feature = "gpu")]
    /// None inside means "tried, absent": never tried again.
    nvml: std::sync::OnceLock<Option<nvml_wrapper::Nvml>>,
}

impl std::fmt::Debug for GpuProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuProbe").finish_non_exhaustive()
    }
}

impl GpuProbe {
    #[cfg(not(feature = "gpu"))]
    pub(crate) fn collect(&self) -> Vec<Gpu> {
        Vec::new()
    }

    #[cfg(feature = "gpu")]
    pub(crate) fn collect(&self) -> Vec<Gpu> {
        let nvml = self.nvml.get_or_init(|| {
            // Debian ships only the versioned soname outside the -dev package.
            nvml_wrapper::Nvml::init()
                .or_else(|_| {
                    nvml_wrapper::Nvml::builder()
                        .lib_path(std::ffi::OsStr::new("libnvidia-ml.so.1"))
                        .init()
                })
                .map_err(|e| tracing::debug!(error = %e, "NVML not available; no GPU metrics"))
                .ok()
        });
        let Some(nvml) = nvml else {
            return Vec::new();
        };
        let count = nvml.device_count().unwrap_or(0);
        (0..count)
            .filter_map(|i| {
                let dev = nvml.device_by_index(i).ok()?;
                let mem = dev.memory_info().ok()?;
                Some(Gpu {
                    name: dev.name().unwrap_or_default(),
                    utilization_percent: dev.utilization_rates().map_or(0, |u| u.gpu),
                    memory_used_bytes: mem.used,
                    memory_total_bytes: mem.total,
                })
            })
            .collect()
    }
}

#[cfg(all(test, feature = "gpu"))]
mod tests {
    use super::*;

    #[test]
    fn absent_nvml_is_tried_once_and_is_no_error() {
        let probe = GpuProbe::default();
        let first = probe.collect();
        let loaded = probe.nvml.get().is_some_and(|n| n.is_some());
        if !loaded {
            assert!(first.is_empty());
            // The failed load is remembered: no second dlopen.
            assert!(matches!(probe.nvml.get(), Some(None)));
            assert!(probe.collect().is_empty());
        }
    }
}
