//! Issue 16 §5: the Debian package installs (dpkg -i into a throwaway root) and its
//! `outpost version` runs, with the unit, man pages and completions where Debian keeps them.
//!
//! The package: `OUTPOST_TEST_DEB` names a prebuilt one (CI's release build from
//! `packaging/deb/build.sh`); without it the test builds one itself with the same script
//! and metadata around the binary cargo built for the tests (`--profile dev --no-build`),
//! since a release build would cost minutes of CI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

use common::BIN;

const UNIT: &str = include_str!("../../../packaging/systemd/outpost.service");

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/deps/80-packaging.sh)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn the_deb() -> PathBuf {
    if let Some(p) = std::env::var_os("OUTPOST_TEST_DEB") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "OUTPOST_TEST_DEB={} is not a file",
            p.display()
        );
        return p;
    }
    // BIN is TARGET/debug/outpost.
    let target = Path::new(BIN).parent().unwrap().parent().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/deb/build.sh");
    let out = run(Command::new("bash")
        .arg(script)
        .args(["--profile", "dev", "--no-build", "--fast"])
        .env("CARGO_TARGET_DIR", target));
    PathBuf::from(out.lines().last().unwrap_or_default().trim())
}

#[test]
fn issue16_deb_installs_and_runs_outpost_version() {
    let deb = the_deb();
    assert!(deb.is_file(), "no package at {}", deb.display());

    // Its control data: our name and version, and the shared libraries it links as Depends.
    let fields = run(Command::new("dpkg-deb").args(["-f"]).arg(&deb).args([
        "Package",
        "Version",
        "Depends",
        "Architecture",
    ]));
    assert!(fields.contains("Package: outpost"), "{fields}");
    assert!(
        fields.contains(&format!("Version: {}", env!("CARGO_PKG_VERSION"))),
        "{fields}"
    );
    assert!(fields.contains("libc6"), "no libc6 dependency: {fields}");

    // A throwaway root whose dpkg database is a copy of this Debian host's: the package's
    // Depends must be satisfied by a real system's packages (no --force-depends). dpkg -i
    // rather than dpkg -x, so the install itself (database, file list, removal) is tested;
    // the package has no maintainer scripts, so nothing runs outside the root.
    let root = tempfile::tempdir().unwrap();
    let admin = root.path().join("var/lib/dpkg");
    for d in ["info", "updates", "triggers"] {
        fs::create_dir_all(admin.join(d)).unwrap();
    }
    fs::copy("/var/lib/dpkg/status", admin.join("status")).unwrap();
    fs::write(admin.join("available"), b"").unwrap();
    let dpkg = || {
        let mut c = Command::new("dpkg");
        c.arg(format!("--root={}", root.path().display())).args([
            "--force-not-root",
            "--force-script-chrootless",
            "--log=/dev/null",
        ]);
        c
    };
    run(dpkg().arg("-i").arg(&deb));
    let status = run(dpkg().args(["-s", "outpost"]));
    assert!(status.contains("Status: install ok installed"), "{status}");

    // The binary runs from where the package put it.
    let bin = root.path().join("usr/bin/outpost");
    let mode = fs::metadata(&bin).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755, "usr/bin/outpost mode {mode:o}");
    let version = run(Command::new(&bin).arg("version"));
    assert_eq!(
        version.trim(),
        format!("outpost {}", env!("CARGO_PKG_VERSION"))
    );

    // The unit as shipped, the man pages (compressed, one per subcommand) and completions.
    let unit = fs::read_to_string(root.path().join("lib/systemd/system/outpost.service")).unwrap();
    assert_eq!(unit, UNIT);
    let man = root.path().join("usr/share/man/man1");
    for page in [
        "outpost.1.gz",
        "outpost-run.1.gz",
        "outpost-config-check.1.gz",
    ] {
        assert!(man.join(page).is_file(), "{page} not installed");
    }
    let listed = run(dpkg().args(["-L", "outpost"]));
    for path in [
        "/usr/bin/outpost",
        "/lib/systemd/system/outpost.service",
        "/usr/share/man/man1/outpost.1.gz",
        "/usr/share/bash-completion/completions/outpost",
        "/usr/share/zsh/vendor-completions/_outpost",
        "/usr/share/fish/vendor_completions.d/outpost.fish",
    ] {
        assert!(
            listed.lines().any(|l| l == path),
            "{path} not in the package's file list:\n{listed}"
        );
        assert!(
            root.path().join(&path[1..]).is_file(),
            "{path} not installed"
        );
    }
    let bash = fs::read_to_string(
        root.path()
            .join("usr/share/bash-completion/completions/outpost"),
    )
    .unwrap();
    assert!(bash.contains("complete -F _outpost"), "{bash}");

    // Removal takes every file back out.
    run(dpkg().args(["-r", "outpost"]));
    assert!(!bin.exists(), "usr/bin/outpost left after dpkg -r");
    assert!(!root
        .path()
        .join("lib/systemd/system/outpost.service")
        .exists());
}
