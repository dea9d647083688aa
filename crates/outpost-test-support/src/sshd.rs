//! Debian's OpenSSH server as a MikroTik router for the config-backup suite, as
//! `shared/peers.md` runs it: `/usr/sbin/sshd -D` as root on an ephemeral loopback port,
//! with its own config, its own host key (ssh-keygen into the harness's temp dir) and a
//! `ForceCommand` script that answers the commands a backup sends the way RouterOS 6 or 7
//! does (`:put [/system resource get version]`, `:put [/system identity get name]`, the
//! `/export` forms), from export files the harness wrote, so a test knows byte for byte
//! what a backup must hold.
//!
//! The login is a real password login: a system user [`USER`] (created once, idempotently,
//! with `useradd`, home `/`; its password set with `chpasswd`), checked by sshd itself (`UsePAM no`:
//! the shadow hash through crypt). Every command the device receives is appended to a log
//! ([`Sshd::commands`]), so a test sees which `/export` form was asked for.
//!
//! The device's behaviour is a [`Mode`], which a test may change while sshd runs.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::peer::{self, Process};
use crate::ports::free_tcp_port;
use crate::wait::wait_until;

pub const INSTALL: &str = "scripts/deps/77-ssh.sh";
/// The device's login (a system user without a home, shell /bin/sh for the forced command).
pub const USER: &str = "outpost-ssh-test";
/// Its password. Distinctive, so a test can look for it where it must not be.
pub const PASSWORD: &str = "Pw-0utp0st-ssh-t3st";
/// What `/system identity` answers.
pub const IDENTITY: &str = "core-rtr-01";
pub const VERSION_6: &str = "6.49.10 (long-term)";
pub const VERSION_7: &str = "7.14.3 (stable)";
pub const MODEL_6: &str = "RB951Ui-2HnD";
pub const MODEL_7: &str = "RB4011iGS+";
/// What PROBE reads as the test user's group policies, `!`-denied ones included.
pub const POLICIES: &str = "local;telnet;ssh;read;write;!ftp;sensitive;api;!dude";
/// A secret that only a sensitive export shows.
pub const SECRET: &str = "wpa-Secr3t-0f-the-device";

/// How the device answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// RouterOS 6: `/export` shows secrets, `/export hide-sensitive` hides them; CRLF lines.
    RouterOs6,
    /// RouterOS 7: `/export` hides secrets, `/export show-sensitive` shows them.
    RouterOs7,
    /// RouterOS 7 whose export is [`HUGE_BYTES`] long.
    Huge,
    /// Reads every command and never answers (until the client goes away).
    Silent,
    /// RouterOS 7 whose export prints nothing but a blank line.
    Empty,
    /// RouterOS 7 whose export is refused: `not enough permissions (9)`.
    Denied,
}

/// The size of [`Mode::Huge`]'s export.
pub const HUGE_BYTES: usize = 4 << 20;

impl Mode {
    fn word(self) -> &'static str {
        match self {
            Mode::RouterOs6 => "v6",
            Mode::RouterOs7 => "v7",
            Mode::Huge => "huge",
            Mode::Silent => "silent",
            Mode::Empty => "empty",
            Mode::Denied => "denied",
        }
    }
}

/// The exports the device serves, by file name in its directory.
fn exports() -> Vec<(&'static str, String)> {
    let body = |secret: bool| {
        let psk = if secret {
            format!(" wpa2-pre-shared-key={SECRET}")
        } else {
            String::new()
        };
        [
            "/interface bridge".to_owned(),
            "add name=bridge-lan".to_owned(),
            "/interface wireless security-profiles".to_owned(),
            format!("add authentication-types=wpa2-psk mode=dynamic-keys name=office{psk}"),
            "/ip address".to_owned(),
            "add address=192.0.2.1/24 interface=bridge-lan network=192.0.2.0".to_owned(),
            "/system identity".to_owned(),
            format!("set name={IDENTITY}"),
        ]
    };
    let v6 = |secret: bool, compact: bool| {
        let mut lines = vec![
            "# nov/27/2026 05:00:00 by RouterOS 6.49.10".to_owned(),
            "# software id = AB12-CD34".to_owned(),
            "#".to_owned(),
            format!("# model = {MODEL_6}"),
            "# serial number = 6A1B2C3D4E5F".to_owned(),
        ];
        if !compact {
            lines.push("/interface ethernet".to_owned());
            lines.push("set [ find default-name=ether1 ] comment=uplink".to_owned());
        }
        lines.extend(body(secret));
        // RouterOS 6 ends its lines with CRLF.
        lines.join("\r\n") + "\r\n"
    };
    let v7 = |secret: bool| {
        let mut lines = vec![
            "# 2026-11-27 05:00:00 by RouterOS 7.14.3".to_owned(),
            "# software id = EF56-GH78".to_owned(),
            "#".to_owned(),
            format!("# model = {MODEL_7}"),
            "# serial number = HE0812345678".to_owned(),
        ];
        lines.extend(body(secret));
        lines.join("\n") + "\n"
    };
    vec![
        ("v6-export", v6(true, false)),
        ("v6-export-hide-sensitive", v6(false, false)),
        ("v6-export-compact", v6(true, true)),
        ("v7-export", v7(false)),
        ("v7-export-show-sensitive", v7(true)),
        ("v7-export-compact", v7(false)),
    ]
}

/// The forced command: the device. `$D` is the harness's directory.
const DEVICE_SH: &str = r#"#!/bin/sh
# A MikroTik router as far as a config backup can tell: answers SSH_ORIGINAL_COMMAND.
D="$(dirname "$0")"
printf '%s\n' "$SSH_ORIGINAL_COMMAND" >> "$D/commands.log"
mode="$(cat "$D/mode")"
if [ "$mode" = silent ]; then
  # Never answers; ends when the client closes the channel (stdin's end).
  exec cat > /dev/null
fi
case "$mode" in v6) v=6 ;; *) v=7 ;; esac
case "$SSH_ORIGINAL_COMMAND" in
  ':put [/system resource get version]')
    if [ $v = 6 ]; then printf '6.49.10 (long-term)\r\n'; else printf '7.14.3 (stable)\n'; fi ;;
  ':put [/system identity get name]')
    printf '%s\n' "$(cat "$D/identity")" ;;
  ':put [/user group get [/user get [find name="outpost-ssh-test"] group] policy]')
    printf 'local;telnet;ssh;read;write;!ftp;sensitive;api;!dude\n' ;;
  '/export'|'/export show-sensitive'|'/export hide-sensitive'|'/export compact')
    case "$mode" in
      huge) yes '/ip firewall address-list add list=blocked address=198.51.100.77 comment=big' | head -c HUGE_BYTES; exit 0 ;;
      empty) printf '\n'; exit 0 ;;
      denied) printf 'not enough permissions (9)\n'; exit 0 ;;
    esac
    name="v$v-$(printf '%s' "$SSH_ORIGINAL_COMMAND" | sed 's#^/##; s# #-#g')"
    if [ -f "$D/$name" ]; then cat "$D/$name"; else printf 'expected end of command (line 1 column 9)\n'; fi ;;
  *)
    printf 'bad command name %s (line 1 column 1)\n' "$SSH_ORIGINAL_COMMAND" ;;
esac
"#;

/// A running sshd; killed by PID on drop.
pub struct Sshd {
    process: Process,
    pub port: u16,
    dir: tempfile::TempDir,
    key_type: &'static str,
}

impl Sshd {
    /// Starts a device in `mode` (RSA host key for RouterOS 6, as old RouterOS has; else
    /// ed25519) and waits, up to 10 s, until it accepts connections.
    pub fn start(mode: Mode) -> Sshd {
        let bin = peer::binary("sshd", INSTALL);
        ensure_user();
        // sshd's privilege separation directory; absent where no system sshd ever ran.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let dir = tempfile::tempdir().unwrap();
        // The forced command runs as the test user: it must reach its files.
        set_mode(dir.path(), 0o755);
        let key_type = if mode == Mode::RouterOs6 {
            "rsa"
        } else {
            "ed25519"
        };
        let script = DEVICE_SH.replace("HUGE_BYTES", &HUGE_BYTES.to_string());
        write(dir.path(), "device.sh", &script, 0o755);
        for (name, text) in exports() {
            write(dir.path(), name, &text, 0o644);
        }
        write(dir.path(), "identity", IDENTITY, 0o644);
        write(dir.path(), "mode", mode.word(), 0o644);
        write(dir.path(), "commands.log", "", 0o666);
        keygen(dir.path(), key_type);
        let port = free_tcp_port();
        let process = spawn(&bin, dir.path(), port);
        let mut s = Sshd {
            process,
            port,
            dir,
            key_type,
        };
        s.wait_ready();
        s
    }

    fn wait_ready(&mut self) {
        let port = self.port;
        let mut exited = false;
        wait_until("sshd to listen", Duration::from_secs(10), || {
            exited = self.process.exited().is_some();
            exited || TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        if exited {
            panic!("sshd exited at start; stderr:\n{}", self.process.stderr());
        }
    }

    /// Replaces the host key with a new one and restarts sshd on the same port: the same
    /// device, as a man in the middle (or a reinstalled router) would present it.
    pub fn change_host_key(&mut self) {
        let bin = peer::binary("sshd", INSTALL);
        self.process.terminate(Duration::from_secs(5));
        for f in ["host_key", "host_key.pub"] {
            let _ = std::fs::remove_file(self.dir.path().join(f));
        }
        keygen(self.dir.path(), self.key_type);
        self.process = spawn(&bin, self.dir.path(), self.port);
        self.wait_ready();
    }

    /// Changes how the device answers from the next command on.
    pub fn set(&self, mode: Mode) {
        write(self.dir.path(), "mode", mode.word(), 0o644);
    }

    /// Changes what `/system identity` answers.
    pub fn set_identity(&self, name: &str) {
        write(self.dir.path(), "identity", name, 0o644);
    }

    /// `127.0.0.1`, where it listens.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// The export served for `command` on RouterOS `version` (6 or 7), byte for byte.
    pub fn export(&self, version: u8, command: &str) -> String {
        let name = format!(
            "v{version}-{}",
            command.trim_start_matches('/').replace(' ', "-")
        );
        std::fs::read_to_string(self.dir.path().join(&name))
            .unwrap_or_else(|e| panic!("no export {name}: {e}"))
    }

    /// Every command received so far, in order.
    pub fn commands(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("commands.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The host key as the Towerops host-keys file records it: `"<keytype> <sha256 hex>"`
    /// of the key's wire encoding.
    pub fn host_keys_value(&self) -> String {
        let (key_type, blob) = self.public_key();
        format!("{key_type} {}", sha256_hex(&blob))
    }

    /// OpenSSH's fingerprint of the host key, `SHA256:<base64 without padding>`, as
    /// `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        let out = Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(self.dir.path().join("host_key.pub"))
            .output()
            .unwrap();
        assert!(out.status.success(), "ssh-keygen -l: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.split_whitespace()
            .find(|w| w.starts_with("SHA256:"))
            .unwrap_or_else(|| panic!("no fingerprint in {text}"))
            .to_owned()
    }

    /// The host key's lowercase hex SHA-256 (the other form a job may expect).
    pub fn fingerprint_hex(&self) -> String {
        sha256_hex(&self.public_key().1)
    }

    fn public_key(&self) -> (String, Vec<u8>) {
        use base64::Engine as _;
        let text = std::fs::read_to_string(self.dir.path().join("host_key.pub")).unwrap();
        let mut words = text.split_whitespace();
        let key_type = words.next().unwrap().to_owned();
        let blob = base64::engine::general_purpose::STANDARD
            .decode(words.next().unwrap())
            .unwrap();
        (key_type, blob)
    }

    /// sshd's log (`-e`: to stderr).
    pub fn log(&self) -> String {
        self.process.stderr()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn spawn(bin: &Path, dir: &Path, port: u16) -> Process {
    let config = dir.join("sshd_config");
    let text = format!(
        "ListenAddress 127.0.0.1\n\
         PidFile {pid}\n\
         UsePAM no\n\
         PasswordAuthentication yes\n\
         KbdInteractiveAuthentication no\n\
         PubkeyAuthentication no\n\
         AuthorizedKeysFile none\n\
         PermitRootLogin no\n\
         AllowUsers {USER}\n\
         StrictModes no\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         UseDNS no\n\
         MaxAuthTries 3\n\
         MaxStartups 50\n\
         LogLevel VERBOSE\n\
         ForceCommand {script}\n",
        pid = dir.join("sshd.pid").display(),
        script = dir.join("device.sh").display(),
    );
    std::fs::write(&config, text).unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("-D")
        .arg("-e")
        .arg("-f")
        .arg(&config)
        .arg("-p")
        .arg(port.to_string())
        .arg("-h")
        .arg(dir.join("host_key"));
    Process::spawn("sshd", cmd, dir)
}

fn keygen(dir: &Path, key_type: &str) {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-N", "", "-t", key_type, "-f"])
        .arg(dir.join("host_key"));
    if key_type == "rsa" {
        cmd.args(["-b", "2048"]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "ssh-keygen failed: {out:?}");
}

/// Creates [`USER`] once per process (or finds it from an earlier run) and sets its
/// password.
fn ensure_user() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let exists = Command::new("id")
            .arg(USER)
            .output()
            .is_ok_and(|o| o.status.success());
        if !exists {
            let out = Command::new(peer::binary("useradd", INSTALL))
                .args(["--system", "--no-create-home", "--home-dir", "/"])
                .args(["--shell", "/bin/sh", USER])
                .output()
                .unwrap();
            // 9: created meanwhile by another test process.
            assert!(
                out.status.success() || out.status.code() == Some(9),
                "useradd {USER}: {out:?}"
            );
        }
        // Home `/`: sshd changes into it before the forced command, and a missing one
        // would add a line to every command's stderr (an earlier run's user may differ).
        let st = Command::new(peer::binary("usermod", INSTALL))
            .args(["--home", "/", "--shell", "/bin/sh", USER])
            .status()
            .unwrap();
        assert!(st.success(), "usermod {USER}: {st}");
        let mut child = Command::new(peer::binary("chpasswd", INSTALL))
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write as _;
            let mut stdin = child.stdin.take().unwrap();
            writeln!(stdin, "{USER}:{PASSWORD}").unwrap();
        }
        let st = child.wait().unwrap();
        assert!(st.success(), "chpasswd for {USER}: {st}");
    });
}

fn write(dir: &Path, name: &str, text: &str, mode: u32) {
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, text).unwrap();
    set_mode(&path, mode);
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
