//! The Outpost Docker image (`packaging/docker/Dockerfile`) built on a test's own engine.
//!
//! There is no registry here: the base image `debian:bookworm-slim` is made from this
//! Debian host's own files (the binaries the Dockerfile and its health check use, and every
//! library `ldd` names for them and for outpost), `docker import`ed under the base's name.
//! Faster and steadier than debootstrap from a mirror, and the same glibc the binary was
//! linked against.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use crate::dockerd::{self, Dockerd};
use crate::peer;

/// Builds the shipped Dockerfile with `outpost` (the binary under test) as `tag` on `d`,
/// with the classic builder and no network. `work` holds the rootfs and the context.
pub fn build(d: &Dockerd, outpost: &Path, work: &Path, tag: &str) {
    let tar = base_rootfs(work, outpost);
    d.docker(&["import", tar.to_str().unwrap(), "debian:bookworm-slim"]);
    let ctx = work.join("ctx");
    fs::create_dir_all(&ctx).unwrap();
    let dockerfile =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/docker/Dockerfile");
    fs::copy(&dockerfile, ctx.join("Dockerfile")).unwrap();
    fs::copy(outpost, ctx.join("outpost")).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let out = Command::new(peer::binary("docker", dockerd::INSTALL))
        .args(["build", "--network", "none", "-t", tag])
        .args(["--build-arg", &format!("VERSION={version}")])
        .arg(&ctx)
        .env("DOCKER_HOST", d.host())
        // The classic builder: BuildKit would look for its frontend image in a registry.
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker build: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What the Dockerfile's RUN step and the HEALTHCHECK call, as in debian:bookworm-slim
/// (setcap, which the slim image lacks and the Dockerfile installs when missing, is put in
/// so the build needs no network).
const TOOLS: &[&str] = &[
    "/usr/bin/bash",
    "/usr/bin/grep",
    "/usr/bin/cat",
    "/usr/bin/mkdir",
    "/usr/bin/chown",
    "/usr/bin/chmod",
    "/usr/sbin/setcap",
];

/// The shared libraries `ldd` lists for `bin`, as absolute paths (the loader included).
fn libraries(bin: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(bin).output().unwrap();
    assert!(out.status.success(), "ldd {}: {out:?}", bin.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
            let path = match l.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// A rootfs tar laid out as Debian's merged /usr (bin, lib, lib64, sbin link into usr/), with
/// TOOLS, the libraries they and `outpost` need, and root in passwd and group.
fn base_rootfs(work: &Path, outpost: &Path) -> PathBuf {
    let root = work.join("rootfs");
    for d in [
        "usr/bin",
        "usr/sbin",
        "usr/lib",
        "usr/lib64",
        "etc",
        "tmp",
        "root",
    ] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    for l in ["bin", "sbin", "lib", "lib64"] {
        std::os::unix::fs::symlink(format!("usr/{l}"), root.join(l)).unwrap();
    }
    std::os::unix::fs::symlink("bash", root.join("usr/bin/sh")).unwrap();
    let mut files: BTreeSet<PathBuf> = TOOLS.iter().map(PathBuf::from).collect();
    for bin in TOOLS.iter().map(Path::new).chain([outpost]) {
        assert!(bin.is_file(), "{} missing on this host", bin.display());
        files.extend(libraries(bin));
    }
    for f in files {
        // Through the links above: /lib/x86_64-linux-gnu/libc.so.6 lands in usr/lib/...
        let dest = root.join(f.strip_prefix("/").unwrap());
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::copy(&f, &dest).unwrap_or_else(|e| panic!("copy {}: {e}", f.display()));
    }
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    let tar = work.join("rootfs.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    tar
}
