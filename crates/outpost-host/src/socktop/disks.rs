//! socktop's `get_disks` list, built the way socktop_agent 1.60 builds it
//! from sysinfo's disks: one row per mounted device, a synthesised row per
//! parent disk summing its partitions, partitions after their parent.

use super::DiskInfo;
use crate::disks::Disk;
use crate::temps::Temperature;
use std::path::Path;

/// "nvme0n1p1" -> "nvme0n1", "mmcblk0p2" -> "mmcblk0", "sda1" -> "sda".
fn parent_disk_name(name: &str) -> &str {
    if let Some(pos) = name.rfind('p') {
        let suffix = name.get(pos + 1..).unwrap_or("");
        if !suffix.is_empty() && suffix.bytes().all(|c| c.is_ascii_digit()) {
            return name.get(..pos).unwrap_or(name);
        }
    }
    name.trim_end_matches(|c: char| c.is_ascii_digit())
}

/// socktop's rule: a partition is not in /sys/block but its parent is;
/// without /sys/block, a name heuristic.
fn is_partition(name: &str, sys_root: &Path) -> bool {
    let bare = name.strip_prefix("/dev/").unwrap_or(name);
    let sys_block = sys_root.join("block");
    if sys_block.is_dir() {
        return !bare.is_empty()
            && !sys_block.join(bare).is_dir()
            && sys_block.join(parent_disk_name(bare)).is_dir();
    }
    bare.contains("p1")
        || bare.contains("p2")
        || bare.contains("p3")
        || bare.ends_with(|c: char| c.is_ascii_digit() && c != '0')
}

/// The `get_disks` list the way socktop_agent builds it: one row per device,
/// a synthesised row per parent disk summing its partitions, partitions
/// listed after their parent, whole-disk filesystems at the end.
pub fn disk_infos(disks: &[Disk], temps: &[Temperature], sys_root: &Path) -> Vec<DiskInfo> {
    // NVMe drives' hwmon chips are named "nvme"; socktop maps the Nth to nvmeNn1.
    let nvme_temps: Vec<f32> = temps
        .iter()
        .filter(|t| t.chip == "nvme" && t.sensor == "temp1")
        .map(|t| t.celsius)
        .collect();
    let temp_for = |name: &str| -> Option<f32> {
        let bare = name.strip_prefix("/dev/").unwrap_or(name);
        nvme_temps
            .iter()
            .enumerate()
            .find(|(i, _)| bare.starts_with(&format!("nvme{i}n1")))
            .map(|(_, t)| *t)
    };

    let mut rows: Vec<DiskInfo> = Vec::new();
    for d in disks {
        // socktop (through sysinfo) shows no memory-backed filesystems;
        // Prometheus keeps them, as node_exporter does.
        if matches!(d.fs_type.as_str(), "tmpfs" | "ramfs") {
            continue;
        }
        if rows.iter().any(|r| r.name == d.device) {
            continue;
        }
        rows.push(DiskInfo {
            name: d.device.clone(),
            total: d.total_bytes,
            available: d.available_bytes,
            temperature: temp_for(&d.device),
            is_partition: is_partition(&d.device, sys_root),
        });
    }

    let mut parents: Vec<DiskInfo> = Vec::new();
    for p in rows.iter().filter(|r| r.is_partition) {
        let parent = parent_disk_name(&p.name);
        match parents.iter_mut().find(|d| d.name == parent) {
            Some(d) => {
                d.total = d.total.saturating_add(p.total);
                d.available = d.available.saturating_add(p.available);
            }
            None => parents.push(DiskInfo {
                name: parent.to_string(),
                total: p.total,
                available: p.available,
                temperature: temp_for(parent),
                is_partition: false,
            }),
        }
    }
    parents.sort_by(|a, b| a.name.cmp(&b.name));

    let mut out = parents;
    for row in rows {
        if !row.is_partition {
            out.push(row);
            continue;
        }
        let parent = parent_disk_name(&row.name).to_string();
        match out.iter().position(|d| d.name == parent) {
            Some(idx) => {
                let mut at = idx + 1;
                while out
                    .get(at)
                    .is_some_and(|d| d.is_partition && d.name.starts_with(&parent))
                {
                    at += 1;
                }
                out.insert(at, row);
            }
            None => out.push(row),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_names() {
        assert_eq!(parent_disk_name("/dev/nvme0n1p1"), "/dev/nvme0n1");
        assert_eq!(parent_disk_name("mmcblk0p2"), "mmcblk0");
        assert_eq!(parent_disk_name("/dev/sda1"), "/dev/sda");
        assert_eq!(parent_disk_name("p"), "p");
    }

    #[test]
    fn partitions_follow_their_disk() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["sda", "vdb"] {
            std::fs::create_dir_all(dir.path().join("block").join(d)).unwrap();
        }
        let disk = |dev: &str, total| Disk {
            device: dev.into(),
            mount_point: format!("/m{dev}"),
            total_bytes: total,
            available_bytes: total / 2,
            ..Disk::default()
        };
        let rows = disk_infos(
            &[
                disk("/dev/sda2", 20),
                disk("/dev/vdb", 50),
                disk("/dev/sda1", 10),
                disk("/dev/sda1", 10),
                Disk {
                    fs_type: "tmpfs".into(),
                    ..disk("tmpfs", 5)
                },
            ],
            &[],
            dir.path(),
        );
        let names: Vec<(&str, bool, u64)> = rows
            .iter()
            .map(|r| (r.name.as_str(), r.is_partition, r.total))
            .collect();
        assert_eq!(
            names,
            vec![
                ("/dev/sda", false, 30),
                ("/dev/sda2", true, 20),
                ("/dev/sda1", true, 10),
                ("/dev/vdb", false, 50),
            ]
        );
    }
}
