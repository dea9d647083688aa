//! Mounted filesystems from /proc/mounts and statvfs(2).

use serde::Serialize;
use std::path::Path;

/// One mounted filesystem and its space.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Disk {
    /// The mounted device, e.g. `/dev/sda1`; the `device` label in Prometheus.
    pub device: String,
    /// Where it is mounted; operators recognise a filesystem by this.
    pub mount_point: String,
    /// Filesystem type, e.g. `ext4`.
    pub fs_type: String,
    /// Size in bytes.
    pub total_bytes: u64,
    /// Bytes an unprivileged user can still write (excludes the root reserve).
    pub available_bytes: u64,
    /// Bytes free including the root reserve.
    pub free_bytes: u64,
    /// Mounted read-only; a full-looking read-only filesystem is no alarm.
    pub read_only: bool,
}

/// A line of /proc/mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// First field: the device.
    pub device: String,
    /// Second field, with the kernel's octal escapes decoded.
    pub mount_point: String,
    /// Third field.
    pub fs_type: String,
    /// Fourth field contains `ro`.
    pub read_only: bool,
}

/// Filesystem types that hold no user data; the same list node_exporter
/// excludes by default, so both agents report the same filesystems.
const PSEUDO_FS: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "fusectl",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nsfs",
    "overlay",
    "proc",
    "procfs",
    "pstore",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "erofs",
    "sysfs",
    "tracefs",
];

/// Mount points node_exporter skips: kernel interfaces and container layers.
fn excluded_mount_point(mp: &str) -> bool {
    const UNDER: &[&str] = &["/dev", "/proc", "/sys"];
    const BELOW: &[&str] = &[
        "/run/credentials/",
        "/var/lib/docker/",
        "/var/lib/containers/storage/",
    ];
    UNDER
        .iter()
        .any(|p| mp == *p || mp.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
        || BELOW
            .iter()
            .any(|p| mp.strip_prefix(p).is_some_and(|r| !r.is_empty()))
}

/// Whether a mount holds real data worth reporting.
pub fn is_reported(m: &Mount) -> bool {
    !PSEUDO_FS.contains(&m.fs_type.as_str()) && !excluded_mount_point(&m.mount_point)
}

/// Decodes /proc/mounts' octal escapes (`\040` is a space). A malformed
/// escape is kept as written rather than rejected.
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            let digits = &b[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(byte) = u8::try_from(v) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses /proc/mounts; short lines are skipped.
pub fn parse_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_ascii_whitespace();
            let device = unescape(f.next()?);
            let mount_point = unescape(f.next()?);
            let fs_type = f.next()?.to_string();
            let read_only = f.next().is_some_and(|o| o.split(',').any(|o| o == "ro"));
            Some(Mount {
                device,
                mount_point,
                fs_type,
                read_only,
            })
        })
        .collect()
}

/// Reads the mount table and asks statvfs about each real filesystem.
/// A mount that statvfs refuses (permissions, a vanished mount) is left out
/// rather than failing the whole list. Bind mounts of one mount point are
/// reported once, by their last (visible) entry.
pub(crate) fn collect(proc_root: &Path) -> Result<Vec<Disk>, crate::HostError> {
    let path = proc_root.join("mounts");
    let text = crate::error::read_file(&path)?;
    let mut disks: Vec<Disk> = Vec::new();
    for m in parse_mounts(&text).into_iter().filter(is_reported) {
        let Ok(st) = rustix::fs::statvfs(m.mount_point.as_str()) else {
            continue;
        };
        let frsize = st.f_frsize;
        let disk = Disk {
            device: m.device,
            total_bytes: st.f_blocks.saturating_mul(frsize),
            available_bytes: st.f_bavail.saturating_mul(frsize),
            free_bytes: st.f_bfree.saturating_mul(frsize),
            read_only: m.read_only,
            fs_type: m.fs_type,
            mount_point: m.mount_point,
        };
        if let Some(slot) = disks.iter_mut().find(|d| d.mount_point == disk.mount_point) {
            *slot = disk;
        } else {
            disks.push(disk);
        }
    }
    Ok(disks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_like_node_exporter() {
        let text = "proc /proc proc rw 0 0\n/dev/vda / ext4 rw,relatime 0 0\n\
tmpfs /run tmpfs rw 0 0\noverlay /var/lib/docker/overlay2/x/merged overlay rw 0 0\n\
/dev/sdb1 /mnt/my\\040disk xfs ro,noatime 0 0\ncgroup /sys/fs/cgroup/cpu cgroup rw 0 0\nshort\n";
        let kept: Vec<Mount> = parse_mounts(text).into_iter().filter(is_reported).collect();
        let points: Vec<&str> = kept.iter().map(|m| m.mount_point.as_str()).collect();
        assert_eq!(points, vec!["/", "/run", "/mnt/my disk"]);
        assert!(kept[2].read_only);
    }

    #[test]
    fn odd_escapes_are_kept() {
        assert_eq!(unescape("a\\0"), "a\\0");
        assert_eq!(unescape("a\\999"), "a\\999");
        assert_eq!(unescape("\\377"), "\u{fffd}");
    }

    #[test]
    fn devices_only_is_not_sys_prefix_match() {
        assert!(excluded_mount_point("/dev"));
        assert!(excluded_mount_point("/sys/fs/cgroup"));
        assert!(!excluded_mount_point("/devdata"));
        assert!(excluded_mount_point("/var/lib/docker/overlay2"));
        assert!(!excluded_mount_point("/var/lib/docker"));
    }
}
