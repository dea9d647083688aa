//! The heartbeat's `stats` (../shared/compat/reagent.md §4), also `get_storage_data`'s
//! answer: `cpu_count, cpu_usage, memory_total, memory_used, memory_available,
//! storage_total, storage_used, storage_free, docker_apps_total, docker_apps_used,
//! docker_apps_free, docker_apps_mounted`. Bytes, and cpu_usage in percent, as Reagent's
//! gopsutil figures. `storage_*` is the root filesystem; `docker_apps_*` the filesystem of
//! the engine's data root (zero without a container engine), `mounted` when that is not
//! the root filesystem.
//!
//! Both paths read the same shape: the `metrics` job's output (`get_storage_data`, through
//! the dispatcher) or the host handle's cached figures put in that shape (the heartbeat:
//! every 30 s, not a stored job each time).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// What the engine's data root holds, measured where this process sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DockerDisk {
    pub total: u64,
    pub used: u64,
    pub free: u64,
    /// On another filesystem than `/`.
    pub mounted: bool,
}

/// `statvfs` of `path`: (total, free) bytes; free as `df` counts it for root.
fn fs_bytes(path: &Path) -> Option<(u64, u64)> {
    let st = rustix::fs::statvfs(path).ok()?;
    let bs = st.f_frsize.max(1);
    Some((
        st.f_blocks.saturating_mul(bs),
        st.f_bfree.saturating_mul(bs),
    ))
}

/// The engine's data root's figures (blocking: a statvfs and two stats).
pub fn measure_docker(root: &Path) -> Option<DockerDisk> {
    let (total, free) = fs_bytes(root)?;
    let dev = |p: &Path| rustix::fs::stat(p).ok().map(|s| s.st_dev);
    Some(DockerDisk {
        total,
        used: total.saturating_sub(free),
        free,
        mounted: dev(root) != dev(Path::new("/")),
    })
}

fn u64_at(v: &Value, ptr: &str) -> u64 {
    v.pointer(ptr).and_then(Value::as_u64).unwrap_or(0)
}

/// Reagent's `stats` from a `metrics` snapshot (`cpu`, `memory`, `disks`), and the
/// engine's data root when there is one. Missing figures are 0, never an error: the
/// heartbeat goes out regardless.
pub fn from_snapshot(m: &Value, docker: Option<&DockerDisk>) -> Value {
    let cores = m
        .pointer("/cpu/per_core_percent")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let usage = m
        .pointer("/cpu/total_percent")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let total = u64_at(m, "/memory/total_bytes");
    let available = u64_at(m, "/memory/available_bytes");
    let root = m
        .get("disks")
        .and_then(Value::as_array)
        .and_then(|d| d.iter().find(|d| d["mount_point"] == "/"));
    let (st, sf) = match root {
        Some(d) => (u64_at(d, "/total_bytes"), u64_at(d, "/free_bytes")),
        None => fs_bytes(Path::new("/")).unwrap_or((0, 0)),
    };
    let d = docker.cloned().unwrap_or_default();
    json!({
        "cpu_count": cores,
        // Rounded as a person reads it; the heartbeat is not a time series.
        "cpu_usage": (usage * 100.0).round() / 100.0,
        "memory_total": total,
        "memory_used": total.saturating_sub(available),
        "memory_available": available,
        "storage_total": st,
        "storage_used": st.saturating_sub(sf),
        "storage_free": sf,
        "docker_apps_total": d.total,
        "docker_apps_used": d.used,
        "docker_apps_free": d.free,
        "docker_apps_mounted": d.mounted,
    })
}

/// The host's cached figures in the `metrics` job's shape (blocking: /proc reads).
pub fn host_snapshot(host: &outpost_host::Host) -> Value {
    let m = host.metrics().ok();
    let disks = host.disks().ok();
    json!({
        "cpu": m.as_ref().map(|m| json!(m.cpu)),
        "memory": m.as_ref().map(|m| json!(m.memory)),
        "disks": disks.as_deref(),
    })
}

/// How long one look at the engine (its data root, the disk guard) may take.
pub const ENGINE_BUDGET: Duration = Duration::from_secs(5);

/// The container engine as the adapter sees it: its data root, and the disk guard.
#[cfg(feature = "containers")]
#[derive(Clone)]
pub struct Engine {
    pub engine: outpost_containers::Engine,
    pub disk: Option<crate::components::containers_disk::DiskWatch>,
}

/// The engine's data root's figures, and whether the disk guard has tripped (a check now,
/// which also does the guard's own work when it trips: the event and the prune).
#[cfg(feature = "containers")]
pub async fn docker(e: &Engine) -> (Option<DockerDisk>, bool) {
    let deadline = Instant::now() + ENGINE_BUDGET;
    let (root, low) = match &e.disk {
        Some(d) => match d.check(deadline).await {
            Some(c) => (Some(c.root), c.low),
            None => (None, d.guard.is_low()),
        },
        None => (e.engine.data_root(deadline).await.ok(), false),
    };
    let figures = match root {
        Some(r) => tokio::task::spawn_blocking(move || measure_docker(Path::new(&r)))
            .await
            .ok()
            .flatten(),
        None => None,
    };
    (figures, low)
}

#[cfg(not(feature = "containers"))]
#[derive(Clone)]
pub struct Engine;

#[cfg(not(feature = "containers"))]
pub async fn docker(_e: &Engine) -> (Option<DockerDisk>, bool) {
    let _ = Instant::now();
    (None, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue19_stats_carry_reagents_fields() {
        let snap = json!({
            "cpu": {"total_percent": 12.345, "per_core_percent": [10.0, 14.0]},
            "memory": {"total_bytes": 1000, "available_bytes": 400},
            "disks": [{"mount_point": "/boot", "total_bytes": 1, "free_bytes": 1},
                      {"mount_point": "/", "total_bytes": 500, "free_bytes": 200}],
        });
        let d = DockerDisk {
            total: 90,
            used: 30,
            free: 60,
            mounted: true,
        };
        assert_eq!(
            from_snapshot(&snap, Some(&d)),
            json!({"cpu_count": 2, "cpu_usage": 12.35, "memory_total": 1000,
                "memory_used": 600, "memory_available": 400, "storage_total": 500,
                "storage_used": 300, "storage_free": 200, "docker_apps_total": 90,
                "docker_apps_used": 30, "docker_apps_free": 60, "docker_apps_mounted": true})
        );
        // Nothing known: zeros (and the root filesystem measured directly), never a panic.
        let s = from_snapshot(&json!(null), None);
        assert_eq!(s["cpu_count"], 0);
        assert_eq!(s["docker_apps_mounted"], false);
        assert!(s["storage_total"].as_u64().unwrap() > 0);
        let root = measure_docker(Path::new("/")).unwrap();
        assert!(!root.mounted && root.total >= root.free);
    }
}
