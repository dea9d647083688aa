//! Collected values against /proc and statvfs read independently here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use outpost_host::{CacheGroup, Host, HostConfig};
use outpost_test_support::kernel::meminfo_kib as meminfo_kb;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn uncached() -> Host {
    Host::new(HostConfig {
        metrics_ttl: Duration::ZERO,
        disks_ttl: Duration::ZERO,
        processes_ttl: Duration::ZERO,
        ..HostConfig::default()
    })
}

#[test]
fn memory_matches_proc_meminfo() {
    let m = uncached().metrics().unwrap();
    assert_eq!(m.memory.total_bytes, meminfo_kb("MemTotal") * 1024);
    assert_eq!(m.memory.swap_total_bytes, meminfo_kb("SwapTotal") * 1024);
    let avail = meminfo_kb("MemAvailable") * 1024;
    let tolerance = m.memory.total_bytes / 20;
    assert!(
        m.memory.available_bytes.abs_diff(avail) < tolerance,
        "available {} vs {}",
        m.memory.available_bytes,
        avail
    );
}

#[test]
fn cpu_matches_proc_stat() {
    let read_idle = || -> u64 {
        let text = std::fs::read_to_string("/proc/stat").unwrap();
        let line = text.lines().next().unwrap();
        line.split_whitespace().nth(4).unwrap().parse().unwrap()
    };
    let host = uncached();
    let before = read_idle();
    let m = host.metrics().unwrap();
    let after = read_idle();
    assert!((before..=after).contains(&m.cpu.stat.total.idle));

    let text = std::fs::read_to_string("/proc/stat").unwrap();
    let cores = text
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count();
    assert_eq!(m.cpu.per_core_percent.len(), cores);
    assert_eq!(m.cpu.stat.cores.len(), cores);
    let m2 = host.metrics().unwrap();
    for p in m2
        .cpu
        .per_core_percent
        .iter()
        .chain([&m2.cpu.total_percent])
    {
        assert!((0.0..=100.0).contains(p), "{p}");
    }
    assert!(m2.cpu.stat.total.total() >= m.cpu.stat.total.total());
}

#[test]
fn load_and_uptime_match_proc() {
    let up = || -> f64 {
        std::fs::read_to_string("/proc/uptime")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let load1 = || -> f64 {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (u0, l0) = (up(), load1());
    let m = uncached().metrics().unwrap();
    let (u1, l1) = (up(), load1());
    // /proc/uptime truncates to hundredths; CLOCK_BOOTTIME does not.
    assert!(m.load.uptime_seconds >= u0 && m.load.uptime_seconds <= u1 + 0.01);
    // /proc/loadavg rounds to hundredths; sysinfo(2) does not.
    assert!(m.load.load1 >= l0.min(l1) - 0.01 && m.load.load1 <= l0.max(l1) + 0.01);
    assert!(m.load.load5 >= 0.0 && m.load.load15 >= 0.0);
}

#[test]
fn network_matches_proc_net_dev() {
    let lo_rx = || -> Option<u64> {
        std::fs::read_to_string("/proc/net/dev")
            .unwrap()
            .lines()
            .find_map(|l| {
                let (name, rest) = l.split_once(':')?;
                (name.trim() == "lo")
                    .then(|| rest.split_whitespace().next().unwrap().parse().unwrap())
            })
    };
    let host = uncached();
    let before = lo_rx();
    let m = host.metrics().unwrap();
    let after = lo_rx();
    let names_here = std::fs::read_to_string("/proc/net/dev")
        .unwrap()
        .lines()
        .skip(2)
        .count();
    assert!(m.networks.len() <= names_here && !m.networks.is_empty());
    if let (Some(b), Some(a)) = (before, after) {
        let lo = m.networks.iter().find(|n| n.name == "lo").unwrap();
        assert!((b..=a).contains(&lo.rx_bytes));
    }
}

#[test]
fn disks_match_statvfs() {
    let disks = uncached().disks().unwrap();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    for d in disks.iter() {
        assert!(
            mounts.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f[0] == d.device && f[2] == d.fs_type
            }),
            "{d:?} not in /proc/mounts"
        );
        let st = rustix::fs::statvfs(d.mount_point.as_str()).unwrap();
        assert_eq!(
            d.total_bytes,
            st.f_blocks * st.f_frsize,
            "{}",
            d.mount_point
        );
        let avail = st.f_bavail * st.f_frsize;
        // Other engineers write to these disks while the test runs.
        assert!(
            d.available_bytes.abs_diff(avail) < 256 << 20,
            "{}",
            d.mount_point
        );
        assert!(d.available_bytes <= d.total_bytes);
    }
    for pseudo in ["proc", "sysfs", "devpts", "cgroup", "cgroup2", "overlay"] {
        assert!(
            disks.iter().all(|d| d.fs_type != pseudo),
            "{pseudo} reported"
        );
    }
    // A real root filesystem is reported unless it is a container overlay.
    let root_fs = mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&"/")).then(|| f[2].to_string())
        })
        .next_back()
        .unwrap();
    if root_fs != "overlay" {
        assert!(disks.iter().any(|d| d.mount_point == "/"));
    }
}

#[test]
fn processes_match_proc_self() {
    let host = uncached();
    let me = std::process::id();
    let list = host.processes().unwrap();
    let row = list
        .rows
        .iter()
        .find(|p| p.pid == me)
        .expect("own pid listed");
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
    assert_eq!(row.name, comm.trim_end());
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let resident: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    let rss = resident * rustix::param::page_size() as u64;
    assert!(
        row.rss_bytes.abs_diff(rss) < 64 << 20,
        "{} vs {rss}",
        row.rss_bytes
    );
    let live = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_str().unwrap().parse::<u32>().is_ok())
        .count();
    assert!(list.rows.len().abs_diff(live) < 50);

    // Burn CPU in this process, then the next sample must show it.
    let spin_until = Instant::now() + Duration::from_millis(300);
    let mut x = 0u64;
    while Instant::now() < spin_until {
        x = std::hint::black_box(x.wrapping_add(1));
    }
    let list = host.processes().unwrap();
    let row = list.rows.iter().find(|p| p.pid == me).unwrap();
    assert!(row.cpu_percent > 1.0, "cpu {}", row.cpu_percent);
    assert!(row.cpu_percent <= 100.0);
}

#[test]
fn ttl_cache_serves_the_same_sample() {
    let host = Host::new(HostConfig {
        metrics_ttl: Duration::from_secs(3600),
        ..HostConfig::default()
    });
    let a = host.metrics().unwrap();
    let b = host.clone().metrics().unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(host.collections(CacheGroup::Metrics), 1);
    assert_eq!(host.collections(CacheGroup::Processes), 0);

    let u = uncached();
    u.metrics().unwrap();
    u.metrics().unwrap();
    assert_eq!(u.collections(CacheGroup::Metrics), 2);
}

#[test]
fn concurrent_callers_collect_once() {
    let host = Host::new(HostConfig {
        processes_ttl: Duration::from_secs(3600),
        ..HostConfig::default()
    });
    let barrier = Arc::new(std::sync::Barrier::new(6));
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let host = host.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                host.processes().unwrap().rows.len()
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap() > 0);
    }
    assert_eq!(host.collections(CacheGroup::Processes), 1);
}

#[test]
fn odd_proc_content_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (file, content) in [
        ("stat", "cpu garbage\n"),
        ("meminfo", "\0\0\0"),
        ("mounts", "x\n\\\\\\ \n"),
    ] {
        std::fs::write(root.join(file), content).unwrap();
    }
    std::fs::create_dir_all(root.join("net")).unwrap();
    std::fs::write(root.join("net/dev"), "eth0: 1 2 x\n").unwrap();
    std::fs::create_dir_all(root.join("12")).unwrap();
    std::fs::write(root.join("12/stat"), "12 (x) S ((((").unwrap();
    let host = Host::new(HostConfig {
        proc_root: root.to_path_buf(),
        sys_root: root.join("sys"),
        ..HostConfig::default()
    });
    let err = host.metrics().unwrap_err();
    assert!(err.to_string().contains("stat"), "{err}");
    assert!(host.processes().is_err());
    assert!(host.disks().unwrap().is_empty());

    std::fs::write(root.join("stat"), "cpu 1 2 3 4\n").unwrap();
    assert!(host.processes().unwrap().rows.is_empty());
    let err = Host::new(HostConfig {
        proc_root: root.join("absent"),
        ..HostConfig::default()
    })
    .metrics()
    .unwrap_err();
    assert!(err.to_string().contains("absent"));
}
