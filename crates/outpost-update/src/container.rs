//! Inside a container the binary belongs to the image: it is never replaced (the next
//! start of the container would bring the old one back, and the image is what operators
//! update). Detected from the markers engines leave, looked for under `root` (`/`
//! normally; a test's directory otherwise):
//! - `/.dockerenv` (Docker), `/run/.containerenv` (Podman, Buildah);
//! - `/proc/1/cgroup` naming docker, containerd, kubepods, libpod or lxc (cgroup v1, and
//!   v2 hosts that expose the path);
//! - `/proc/self/mountinfo`: the root mount (`/`) coming from an engine's storage
//!   (Docker's `/var/lib/docker/`, Podman's `/containers/storage/`, kubelet's pods). Only
//!   the root mount: a Docker host sees its containers' mounts too.

use std::path::Path;

const CGROUP_WORDS: &[&str] = &["docker", "containerd", "kubepods", "libpod", "lxc"];
const MOUNT_WORDS: &[&str] = &["/var/lib/docker/", "/containers/storage/", "/kubelet/pods/"];

/// The evidence of a container, if any (the first marker found).
pub fn detect(root: &Path) -> Option<String> {
    for marker in [".dockerenv", "run/.containerenv"] {
        if root.join(marker).exists() {
            return Some(format!("/{marker} exists"));
        }
    }
    if let Ok(cg) = std::fs::read_to_string(root.join("proc/1/cgroup")) {
        if let Some(line) = cg
            .lines()
            .find(|l| CGROUP_WORDS.iter().any(|w| l.contains(w)))
        {
            return Some(format!("/proc/1/cgroup: {}", cut(line)));
        }
    }
    if let Ok(mi) = std::fs::read_to_string(root.join("proc/self/mountinfo")) {
        if let Some(line) = mi
            .lines()
            .filter(|l| l.split_whitespace().nth(4) == Some("/"))
            .find(|l| MOUNT_WORDS.iter().any(|w| l.contains(w)))
        {
            return Some(format!("/proc/self/mountinfo: {}", cut(line)));
        }
    }
    None
}

fn cut(line: &str) -> String {
    line.chars().take(160).collect()
}
