//! NVIDIA GPUs through NVML, dlopened on first use.

use super::Gpu;
use std::sync::OnceLock;

/// NVML, loaded at most once.
#[derive(Default)]
pub(super) struct Nvml {
    /// None inside means "tried, absent": never tried again.
    lib: OnceLock<Option<nvml_wrapper::Nvml>>,
}

impl Nvml {
    #[cfg(test)]
    pub(super) fn tried(&self) -> bool {
        self.lib.get().is_some()
    }

    pub(super) fn collect(&self) -> Vec<Gpu> {
        let nvml = self.lib.get_or_init(|| {
            // Debian ships only the versioned soname outside the -dev package.
            nvml_wrapper::Nvml::init()
                .or_else(|_| {
                    nvml_wrapper::Nvml::builder()
                        .lib_path(std::ffi::OsStr::new("libnvidia-ml.so.1"))
                        .init()
                })
                .map_err(
                    |e| tracing::debug!(error = %e, "NVML not available; no NVIDIA GPU metrics"),
                )
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
                    name: dev.name().unwrap_or_else(|_| "NVIDIA GPU".into()),
                    vendor: "NVIDIA".into(),
                    utilization_percent: dev.utilization_rates().map_or(0, |u| u.gpu.min(100)),
                    memory_used_bytes: mem.used,
                    memory_total_bytes: mem.total,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_nvml_is_tried_once_and_is_no_error() {
        let probe = Nvml::default();
        assert!(!probe.tried());
        let first = probe.collect();
        let loaded = probe.lib.get().is_some_and(|n| n.is_some());
        if !loaded {
            assert!(first.is_empty());
            // The failed load is remembered: no second dlopen.
            assert!(matches!(probe.lib.get(), Some(None)));
            assert!(probe.collect().is_empty());
        }
    }
}
