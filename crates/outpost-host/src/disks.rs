//! Mounted filesystems from /proc/mounts and statvfs(2).

use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

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

/// Whether a mount holds real data worth reporting. An overlay is a
/// container's layered file system: the ones under Docker's and Podman's
/// storage are layers of other containers, but an overlay mounted at `/` is
/// the root of the container the agent itself runs in, the disk its data
/// lives on, and socktop_agent lists it (as `overlay`), so it is kept.
pub fn is_reported(m: &Mount) -> bool {
    if m.fs_type == "overlay" && m.mount_point == "/" {
        return true;
    }
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

/// Filesystems served over a network. statvfs on a hung server blocks in
/// the kernel with no timeout, so these are asked from a helper thread.
const REMOTE_FS: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "ceph",
    "glusterfs",
    "fuse.glusterfs",
    "fuse.sshfs",
    "9p",
    "afs",
    "lustre",
    "davfs",
];

/// How long a remote filesystem may take to answer statvfs.
const REMOTE_DEADLINE: Duration = Duration::from_secs(1);

/// The space figures of statvfs(2) we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Space {
    /// f_blocks.
    pub(crate) blocks: u64,
    /// f_bavail.
    pub(crate) bavail: u64,
    /// f_bfree.
    pub(crate) bfree: u64,
    /// f_frsize: the unit of the three above.
    pub(crate) frsize: u64,
}

fn statvfs(mount_point: &str) -> std::io::Result<Space> {
    let st = rustix::fs::statvfs(mount_point)?;
    Ok(Space {
        blocks: st.f_blocks,
        bavail: st.f_bavail,
        bfree: st.f_bfree,
        frsize: st.f_frsize,
    })
}

/// Remembers remote mounts whose statvfs is still blocked, so the next
/// collection skips them instead of starting another stuck thread. An entry
/// leaves as soon as its call returns, so the map is bounded by the mounts
/// that are hung right now.
#[derive(Debug, Default)]
pub(crate) struct DiskSampler {
    /// mount point -> "the statvfs call is still blocked".
    stuck: HashMap<String, Arc<AtomicBool>>,
}

type StatFn = Arc<dyn Fn(&str) -> std::io::Result<Space> + Send + Sync>;

impl DiskSampler {
    /// Reads the mount table and asks statvfs about each real filesystem.
    /// A mount that statvfs refuses (permissions, a vanished mount) or a
    /// remote one that does not answer within a second is left out rather
    /// than failing or stalling the whole list. Bind mounts of one mount
    /// point are reported once, by their last (visible) entry.
    pub(crate) fn collect(&mut self, proc_root: &Path) -> Result<Vec<Disk>, crate::HostError> {
        self.collect_with(proc_root, Arc::new(statvfs), REMOTE_DEADLINE)
    }

    pub(crate) fn collect_with(
        &mut self,
        proc_root: &Path,
        stat: StatFn,
        deadline: Duration,
    ) -> Result<Vec<Disk>, crate::HostError> {
        let path = proc_root.join("mounts");
        let text = crate::error::read_file(&path)?;
        self.stuck.retain(|_, busy| busy.load(Ordering::Acquire));
        let mut disks: Vec<Disk> = Vec::new();
        for m in parse_mounts(&text).into_iter().filter(is_reported) {
            let space = if REMOTE_FS.contains(&m.fs_type.as_str()) {
                if self.stuck.contains_key(&m.mount_point) {
                    continue;
                }
                let busy = Arc::new(AtomicBool::new(true));
                match stat_with_deadline(&stat, &m.mount_point, deadline, &busy) {
                    Some(space) => space,
                    None => {
                        if busy.load(Ordering::Acquire) {
                            tracing::warn!(mount_point = %m.mount_point, "statvfs did not return; skipping this filesystem until it does");
                            self.stuck.insert(m.mount_point.clone(), busy);
                        }
                        continue;
                    }
                }
            } else {
                match stat(&m.mount_point) {
                    Ok(space) => space,
                    Err(_) => continue,
                }
            };
            let disk = Disk {
                device: m.device,
                total_bytes: space.blocks.saturating_mul(space.frsize),
                available_bytes: space.bavail.saturating_mul(space.frsize),
                free_bytes: space.bfree.saturating_mul(space.frsize),
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
    fn stuck(&self) -> usize {
        self.stuck.len()
    }
}

/// statvfs on a helper thread; None on error or when `deadline` passes
/// (`busy` then stays true until the call finally returns).
fn stat_with_deadline(
    stat: &StatFn,
    mount_point: &str,
    deadline: Duration,
    busy: &Arc<AtomicBool>,
) -> Option<Space> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let (stat, mp, done) = (Arc::clone(stat), mount_point.to_string(), Arc::clone(busy));
    let spawned = std::thread::Builder::new()
        .name("outpost-statvfs".into())
        .spawn(move || {
            let result = stat(&mp);
            done.store(false, Ordering::Release);
            let _ = tx.send(result);
        });
    if spawned.is_err() {
        busy.store(false, Ordering::Release);
        return None;
    }
    rx.recv_timeout(deadline).ok()?.ok()
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
    fn issue10_overlay_root_is_listed() {
        // /proc/mounts of an agent in a Docker container.
        let text = "overlay / overlay rw,relatime,lowerdir=/var/lib/docker/overlay2/l/A:/var/lib/docker/overlay2/l/B,upperdir=/var/lib/docker/overlay2/x/diff,workdir=/var/lib/docker/overlay2/x/work 0 0\n\
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n\
tmpfs /dev tmpfs rw,nosuid,size=65536k,mode=755 0 0\n\
/dev/vda1 /etc/hosts ext4 rw,relatime 0 0\n\
overlay /var/lib/docker/overlay2/y/merged overlay rw 0 0\n\
overlay /srv/merged overlay rw 0 0\n";
        let kept: Vec<Mount> = parse_mounts(text).into_iter().filter(is_reported).collect();
        let points: Vec<(&str, &str)> = kept
            .iter()
            .map(|m| (m.device.as_str(), m.mount_point.as_str()))
            .collect();
        assert_eq!(points, vec![("overlay", "/"), ("/dev/vda1", "/etc/hosts")]);
    }

    #[test]
    fn odd_escapes_are_kept() {
        assert_eq!(unescape("a\\0"), "a\\0");
        assert_eq!(unescape("a\\999"), "a\\999");
        assert_eq!(unescape("\\377"), "\u{fffd}");
    }

    #[test]
    fn a_hung_remote_filesystem_is_skipped_until_it_answers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mounts"),
            "/dev/sda1 / ext4 rw 0 0\nserver:/x /mnt/nfs nfs4 rw 0 0\n",
        )
        .unwrap();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let wait = Arc::new(std::sync::Mutex::new(wait));
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stat: StatFn = {
            let calls = Arc::clone(&calls);
            Arc::new(move |mp: &str| {
                if mp == "/mnt/nfs" {
                    calls.fetch_add(1, Ordering::SeqCst);
                    // Blocks like a hung NFS server until the test releases it.
                    let _ = wait.lock().unwrap().recv();
                }
                Ok(Space {
                    blocks: 10,
                    bavail: 5,
                    bfree: 6,
                    frsize: 4096,
                })
            })
        };
        let mut s = DiskSampler::default();
        let deadline = Duration::from_millis(50);
        let first = s
            .collect_with(dir.path(), Arc::clone(&stat), deadline)
            .unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].total_bytes, 40960);
        assert_eq!(s.stuck(), 1);

        // Still hung: skipped without another call or another wait.
        let second = s
            .collect_with(dir.path(), Arc::clone(&stat), deadline)
            .unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        // The server answers; once the stuck call returns, the mount is back.
        release.send(()).unwrap();
        let back = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            release.send(()).unwrap();
            let disks = s
                .collect_with(dir.path(), Arc::clone(&stat), Duration::from_secs(5))
                .unwrap();
            if disks.len() == 2 {
                break;
            }
            assert!(
                std::time::Instant::now() < back,
                "remote mount never came back"
            );
        }
        assert_eq!(s.stuck(), 0);
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
