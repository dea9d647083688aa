//! AMD and Intel GPUs from the DRM sysfs tree, `SYS/class/drm/cardN`.
//!
//! - AMD (`amdgpu`, PCI vendor 0x1002): `device/gpu_busy_percent`,
//!   `device/mem_info_vram_used` and `device/mem_info_vram_total`, read as
//!   they are; the name from `device/product_name` when the board sets it.
//! - Intel (0x8086): the drivers expose no busy percent, but they do expose
//!   how long each GT spent idle (RC6 under i915: `gt/gtN/rc6_residency_ms`,
//!   or `power/rc6_residency_ms` on older kernels; `gtidle/idle_residency_ms`
//!   under xe). Busy is the share of the time between two collections the
//!   busiest GT spent awake, as intel_gpu_top's RC6 column, inverted; 0 on
//!   the first collection. Integrated parts share system memory, and the
//!   drivers do not put discrete memory in sysfs, so memory is 0.
//!
//! NVIDIA cards (0x10de) are left to NVML. The tree's root is injectable
//! (`HostConfig::sys_root`), so tests read committed fixture trees.

use super::Gpu;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

/// PCI vendor ids.
const AMD: &str = "0x1002";
const INTEL: &str = "0x8086";

/// Milliseconds on a monotonic clock, for Intel's busy share.
pub fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Remembers each Intel card's idle counters from the previous collection.
#[derive(Debug, Default)]
pub struct DrmGpus {
    /// card name -> (when, idle ms per GT). Replaced each collection, so it
    /// holds only the cards present now.
    prev: HashMap<String, (u64, Vec<u64>)>,
}

fn read_trim(path: &Path) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn read_u64(path: &Path) -> Option<u64> {
    read_trim(path)?.parse().ok()
}

/// `cardN`, not a connector such as `card0-DP-1` or `renderD128`.
fn is_card(name: &str) -> bool {
    name.strip_prefix("card")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Files holding an Intel card's idle milliseconds, one per GT.
fn intel_idle_files(card: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = Vec::new();
    // i915 with per-GT directories; power/ then only repeats gt0.
    if let Ok(gts) = std::fs::read_dir(card.join("gt")) {
        files.extend(
            gts.flatten()
                .map(|gt| gt.path().join("rc6_residency_ms"))
                .filter(|p| p.is_file()),
        );
    }
    if files.is_empty() {
        let legacy = card.join("power/rc6_residency_ms");
        if legacy.is_file() {
            files.push(legacy);
        }
    }
    // xe: device/tileT/gtG/gtidle/idle_residency_ms.
    if let Ok(tiles) = std::fs::read_dir(card.join("device")) {
        for tile in tiles.flatten().filter(|t| {
            t.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with("tile"))
        }) {
            if let Ok(gts) = std::fs::read_dir(tile.path()) {
                files.extend(
                    gts.flatten()
                        .map(|gt| gt.path().join("gtidle/idle_residency_ms"))
                        .filter(|p| p.is_file()),
                );
            }
        }
    }
    files.sort();
    files
}

/// Busy percent of the busiest GT between two readings of idle ms.
pub fn busy_percent(prev: (u64, &[u64]), now: (u64, &[u64])) -> u32 {
    let wall = now.0.saturating_sub(prev.0);
    if wall == 0 || prev.1.len() != now.1.len() {
        return 0;
    }
    prev.1
        .iter()
        .zip(now.1)
        .filter(|(before, after)| after >= before)
        .map(|(before, after)| {
            let idle = (after - before).min(wall);
            let busy = (wall - idle) as f64 / wall as f64 * 100.0;
            busy.round().clamp(0.0, 100.0) as u32
        })
        .max()
        .unwrap_or(0)
}

impl DrmGpus {
    /// The AMD and Intel cards under `sys_root/class/drm`, in card order.
    /// `now_ms` is a monotonic clock (tests pass their own).
    pub fn sample(&mut self, sys_root: &Path, now_ms: u64) -> Vec<Gpu> {
        let Ok(entries) = std::fs::read_dir(sys_root.join("class/drm")) else {
            self.prev.clear();
            return Vec::new();
        };
        let mut cards: Vec<(u32, String, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_owned();
                let n = name.strip_prefix("card")?.parse().ok()?;
                is_card(&name).then(|| (n, name, e.path()))
            })
            .collect();
        cards.sort();
        let mut seen = HashMap::new();
        let mut out = Vec::new();
        for (_, name, card) in cards {
            let device = card.join("device");
            let Some(vendor) = read_trim(&device.join("vendor")) else {
                continue;
            };
            let id = read_trim(&device.join("device")).unwrap_or_else(|| "unknown".into());
            match vendor.as_str() {
                AMD => out.push(Gpu {
                    name: read_trim(&device.join("product_name"))
                        .unwrap_or_else(|| format!("AMD GPU {id}")),
                    vendor: "AMD".into(),
                    utilization_percent: read_u64(&device.join("gpu_busy_percent"))
                        .map_or(0, |b| u32::try_from(b.min(100)).unwrap_or(100)),
                    memory_used_bytes: read_u64(&device.join("mem_info_vram_used")).unwrap_or(0),
                    memory_total_bytes: read_u64(&device.join("mem_info_vram_total")).unwrap_or(0),
                }),
                INTEL => {
                    let idle: Vec<u64> = intel_idle_files(&card)
                        .iter()
                        .filter_map(|f| read_u64(f))
                        .collect();
                    let busy = self
                        .prev
                        .get(&name)
                        .map_or(0, |(t, before)| busy_percent((*t, before), (now_ms, &idle)));
                    out.push(Gpu {
                        name: format!("Intel GPU {id}"),
                        vendor: "Intel".into(),
                        utilization_percent: busy,
                        memory_used_bytes: 0,
                        memory_total_bytes: 0,
                    });
                    seen.insert(name, (now_ms, idle));
                }
                _ => {}
            }
        }
        self.prev = seen;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_is_the_busiest_gt_awake_share() {
        assert_eq!(busy_percent((0, &[0, 0]), (1000, &[750, 1000])), 25);
        assert_eq!(busy_percent((0, &[0]), (1000, &[0])), 100);
        // More idle than wall time (clock skew) is fully idle, not negative.
        assert_eq!(busy_percent((0, &[0]), (1000, &[5000])), 0);
        // A counter that went back (driver reload) says nothing.
        assert_eq!(busy_percent((0, &[900]), (1000, &[100])), 0);
        assert_eq!(busy_percent((5, &[0]), (5, &[0])), 0);
        assert_eq!(busy_percent((0, &[0]), (1000, &[0, 0])), 0);
    }

    #[test]
    fn connectors_are_not_cards() {
        assert!(is_card("card0"));
        assert!(is_card("card12"));
        assert!(!is_card("card0-DP-1"));
        assert!(!is_card("renderD128"));
        assert!(!is_card("card"));
    }
}
