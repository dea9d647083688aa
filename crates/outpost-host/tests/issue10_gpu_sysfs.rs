//! Issue 10, item 15: AMD and Intel GPUs from the DRM sysfs tree, read from
//! committed fixture trees (tests/fixtures/issue10; no GPU on this machine),
//! through `Host` and socktop's `get_metrics` as socktop_connector decodes it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use flate2::read::GzDecoder;
use outpost_host::gpu::drm::DrmGpus;
use outpost_host::socktop::{answer, Frame, Reply};
use outpost_host::{Host, HostConfig};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/issue10")
        .join(name)
}

fn host_on(sys_root: &Path) -> Host {
    Host::new(HostConfig {
        metrics_ttl: Duration::ZERO,
        sys_root: sys_root.to_path_buf(),
        ..HostConfig::default()
    })
}

/// The `get_metrics` reply, decoded by socktop's own client types.
fn socktop_metrics(host: &Host) -> socktop_connector::Metrics {
    let json = match answer(host, Frame::Text("get_metrics")) {
        Reply::Text(t) => t.to_string(),
        Reply::Binary(b) => {
            let mut s = String::new();
            GzDecoder::new(&b[..]).read_to_string(&mut s).unwrap();
            s
        }
    };
    serde_json::from_str(&json).unwrap()
}

/// Copies a fixture tree so a test can move its counters.
fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

#[test]
fn issue10_amd_gpu_is_read_from_sysfs() {
    let host = host_on(&fixture("sys-amd"));
    let m = host.metrics().unwrap();
    // The NVIDIA card in the tree is NVML's to report, and NVML is absent here.
    let amd: Vec<_> = m.gpus.iter().filter(|g| g.vendor == "AMD").collect();
    assert_eq!(amd.len(), 1, "{:?}", m.gpus);
    assert_eq!(amd[0].name, "AMD Radeon RX 6800 XT");
    assert_eq!(amd[0].utilization_percent, 37);
    assert_eq!(amd[0].memory_used_bytes, 1_073_741_824);
    assert_eq!(amd[0].memory_total_bytes, 17_163_091_968);
    assert!(m.gpus.iter().all(|g| g.vendor != "Intel"));

    let s = socktop_metrics(&host);
    let gpus = s.gpus.expect("socktop's gpus is Some when a GPU exists");
    let g = gpus
        .iter()
        .find(|g| g.name.as_deref() == Some("AMD Radeon RX 6800 XT"))
        .unwrap();
    assert_eq!(g.utilization, Some(37.0));
    assert_eq!(g.mem_used, Some(1_073_741_824));
    assert_eq!(g.mem_total, Some(17_163_091_968));
}

#[test]
fn issue10_amd_gpu_without_product_name_is_named_by_its_id() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture("sys-amd"), dir.path());
    std::fs::remove_file(dir.path().join("class/drm/card0/device/product_name")).unwrap();
    std::fs::write(
        dir.path().join("class/drm/card0/device/gpu_busy_percent"),
        "garbage",
    )
    .unwrap();
    let gpus = DrmGpus::default().sample(dir.path(), 0);
    assert_eq!(gpus.len(), 1);
    assert_eq!(gpus[0].name, "AMD GPU 0x73bf");
    // An unreadable figure is 0, not a failed collection.
    assert_eq!(gpus[0].utilization_percent, 0);
    assert_eq!(gpus[0].memory_total_bytes, 17_163_091_968);
}

#[test]
fn issue10_intel_gpu_busy_is_the_share_of_time_out_of_rc6() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    copy_tree(&fixture("sys-intel"), root);
    let mut drm = DrmGpus::default();

    let first = drm.sample(root, 10_000);
    let names: Vec<&str> = first.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, vec!["Intel GPU 0x46a6", "Intel GPU 0x56a0"]);
    // One reading says nothing about a share of time yet.
    assert!(first.iter().all(|g| g.utilization_percent == 0));
    assert!(first
        .iter()
        .all(|g| g.vendor == "Intel" && g.memory_total_bytes == 0));

    // One second later: i915's GT spent 750 ms in RC6 (25% busy; the
    // legacy power/ file, which only repeats gt0, is not counted twice);
    // xe's render GT idled the whole second, its media GT 400 ms (60% busy:
    // the busiest GT is the card's figure).
    let drm_dir = root.join("class/drm");
    std::fs::write(drm_dir.join("card0/gt/gt0/rc6_residency_ms"), "500750\n").unwrap();
    std::fs::write(drm_dir.join("card0/power/rc6_residency_ms"), "0\n").unwrap();
    std::fs::write(
        drm_dir.join("card1/device/tile0/gt0/gtidle/idle_residency_ms"),
        "901000\n",
    )
    .unwrap();
    std::fs::write(
        drm_dir.join("card1/device/tile0/gt1/gtidle/idle_residency_ms"),
        "800400\n",
    )
    .unwrap();
    let second = drm.sample(root, 11_000);
    let busy: Vec<u32> = second.iter().map(|g| g.utilization_percent).collect();
    assert_eq!(busy, vec![25, 60]);

    // A card that vanishes (driver unbound) is gone, not reported stale.
    std::fs::remove_dir_all(drm_dir.join("card1")).unwrap();
    assert_eq!(drm.sample(root, 12_000).len(), 1);
}

#[test]
fn issue10_intel_gpus_reach_socktop_through_host() {
    let host = host_on(&fixture("sys-intel"));
    let s = socktop_metrics(&host);
    let gpus = s.gpus.unwrap();
    let intel: Vec<_> = gpus
        .iter()
        .filter(|g| {
            g.name
                .as_deref()
                .is_some_and(|n| n.starts_with("Intel GPU"))
        })
        .collect();
    assert_eq!(intel.len(), 2);
    assert!(intel
        .iter()
        .all(|g| g.utilization.is_some_and(|u| (0.0..=100.0).contains(&u))));
}

#[test]
fn issue10_no_drm_tree_means_no_gpus_and_socktop_gets_null() {
    let dir = tempfile::tempdir().unwrap();
    let host = host_on(dir.path());
    if host.metrics().unwrap().gpus.is_empty() {
        assert!(socktop_metrics(&host).gpus.is_none());
    }
}
