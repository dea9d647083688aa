//! What the issue-13 exec suites share: a fixture directory (scripts, a parameter root, a
//! place outside it, markers) and an executor over it with the suites' allowlist.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use outpost_exec::{Allowlist, AuditLog, AuditRecord, Exec, ExecSettings, Origin, Source};

#[allow(unused_imports)]
pub use outpost_test_support::wait::{wait_for, wait_until};

/// The suites' allowlist. `@ROOT@` is the path parameters' root (and `pwd`'s cwd).
pub const COMMANDS: &str = r#"
[echo]
argv = ["/bin/echo", "{msg}"]
params.msg = { type = "string", pattern = "[A-Za-z0-9 ._-]*", max_len = 4096 }

[count]
argv = ["/bin/echo", "{n}"]
params.n = { type = "integer", min = 1, max = 10 }

[svc]
argv = ["/bin/echo", "{action}"]
params.action = { type = "enum", values = ["start", "stop"] }

[cat]
argv = ["/bin/cat", "--", "{file}"]
params.file = { type = "path", root = "@ROOT@" }

[anything]
argv = ["/usr/bin/printf", "%s", "{s}"]
params.s = { type = "string", pattern = "(?s).*", max_len = 4096, allow_leading_dash = true }

[env]
argv = ["env"]
env = { LANG = "C", TOKEN = { value = "s3cret-value-13", secret = true } }

[pwd]
argv = ["pwd"]
cwd = "@ROOT@"

[pwd_default]
argv = ["pwd"]

[whoami]
argv = ["id", "-u"]
"#;

pub struct Fixture {
    pub dir: tempfile::TempDir,
    /// The scripts directory (0755, root's).
    pub scripts: PathBuf,
    /// The path parameters' root.
    pub root: PathBuf,
    /// Beside the root: `outside/secret`.
    pub outside: PathBuf,
    /// World-writable (sticky): where an escape would leave a marker.
    pub markers: PathBuf,
    pub audit_path: PathBuf,
    pub exec: Exec,
}

/// Tests run as root (they chown files to other users and run commands as `nobody`).
pub fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "the issue-13 exec suites run as root: they create files owned by other users and \
         switch commands to `nobody`"
    );
}

/// A fixture with [`COMMANDS`] plus `extra` (same `@ROOT@`/`@MARKERS@` substitutions), and
/// settings changed by `tweak`.
pub fn fixture_with(extra: &str, tweak: impl FnOnce(&mut ExecSettings)) -> Fixture {
    require_root();
    let dir = tempfile::Builder::new()
        .prefix("issue13-exec-")
        .tempdir()
        .expect("temp dir");
    // Traversable by `nobody`, whose runs get their private directories under it.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let scripts = mkdir(dir.path(), "scripts", 0o755);
    let root = mkdir(dir.path(), "data", 0o755);
    let outside = mkdir(dir.path(), "outside", 0o755);
    let markers = mkdir(dir.path(), "markers", 0o1777);
    let work = mkdir(dir.path(), "work", 0o755);
    fs::write(outside.join("secret"), "outside-secret\n").expect("secret");
    fs::write(root.join("inside.txt"), "inside\n").expect("inside");
    let toml_text = format!("{COMMANDS}\n{extra}")
        .replace("@ROOT@", &root.display().to_string())
        .replace("@MARKERS@", &markers.display().to_string());
    let allowlist: Allowlist = toml::from_str(&toml_text).expect("the suites' allowlist loads");
    let mut settings = ExecSettings {
        scripts_dir: Some(scripts.clone()),
        work_dir: Some(work),
        kill_grace_ms: 1_000,
        ..ExecSettings::default()
    };
    tweak(&mut settings);
    let audit_path = dir.path().join("audit.log");
    let exec = Exec::new(
        allowlist,
        settings,
        AuditLog::open(&audit_path).expect("audit log"),
    )
    .expect("executor");
    Fixture {
        dir,
        scripts,
        root,
        outside,
        markers,
        audit_path,
        exec,
    }
}

pub fn fixture() -> Fixture {
    fixture_with("", |_| {})
}

pub fn mkdir(parent: &Path, name: &str, mode: u32) -> PathBuf {
    let p = parent.join(name);
    fs::create_dir(&p).expect("mkdir");
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).expect("chmod");
    p
}

/// Writes a script (mode 0755) into `dir`.
pub fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, body).expect("write script");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod script");
    p
}

pub fn origin() -> Origin {
    Origin::new(Source::Api, "issue13-test")
}

/// Every line of the audit log, parsed.
pub fn audit_lines(path: &Path) -> Vec<AuditRecord> {
    fs::read_to_string(path)
        .expect("audit log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("an audit line parses"))
        .collect()
}

/// Entries of `markers` (an escape that ran would have left one).
pub fn markers_left(f: &Fixture) -> Vec<String> {
    fs::read_dir(&f.markers)
        .expect("markers dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}
