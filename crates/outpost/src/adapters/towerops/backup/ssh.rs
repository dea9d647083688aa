//! The SSH side of a config backup: one connection per job (russh, pure Rust on ring),
//! password login, the device's host key checked before the password is sent, and one
//! exec channel per command with its output capped.
//!
//! The host key: when the job names the key it expects (`SHA256:<base64>` or the hex
//! SHA-256 of the key), only that key is accepted; otherwise the agent's host-keys file
//! decides (trust on first use, recorded durably before the login proceeds; a changed
//! key is refused). Either refusal is HOST_KEY_MISMATCH, and the presented key's
//! fingerprint is reported in both cases.
//!
//! Every failure maps to one of the published error codes with a detail line; callers
//! scrub the password from it (`routeros::detail`). Time bounds are the caller's (the
//! whole job runs under its `timeout_ms`); this module adds the original's 15 s cap on
//! dial plus handshake, so a device that accepts TCP and then says nothing fails as
//! UNREACHABLE rather than eating the job's whole budget.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use outpost_proto::towerops::ConfigBackupErrorCode as Code;
use russh::keys::{HashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{client, ChannelMsg};
use secrecy::{ExposeSecret, SecretString};
use sha2::Digest as _;

use crate::adapters::towerops::host_keys::{ssh_entry, HostKeyError, HostKeys};

/// The original's cap on TCP dial plus SSH handshake.
pub const HANDSHAKE_CAP: Duration = Duration::from_secs(15);
/// stderr kept per command (the original's cap).
pub const MAX_STDERR: usize = 4 << 10;

/// Why a step failed: a published code and a line saying what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: Code,
    pub detail: String,
}

impl Failure {
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

/// How the presented host key is judged.
#[derive(Clone)]
pub enum Trust {
    /// Only this key: `SHA256:<base64>` or the lowercase hex SHA-256 of the key blob.
    Expected(String),
    /// The host-keys file: trust on first use.
    File(Arc<HostKeys>),
}

/// Where to log in.
pub struct Target {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: SecretString,
}

/// What one command printed.
#[derive(Debug, Default)]
pub struct Exec {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// RouterOS 6 sends none; that is tolerated.
    pub exit_status: Option<u32>,
}

/// An authenticated connection.
pub struct Connection {
    handle: client::Handle<Checker>,
}

/// What the handshake saw, read back after it: the fingerprint and the refusal, if any.
#[derive(Default)]
struct Seen {
    fingerprint: String,
    refusal: Option<Failure>,
}

struct Checker {
    trust: Trust,
    entry: String,
    seen: Arc<Mutex<Seen>>,
}

/// The key's identities: OpenSSH's `SHA256:<b64>`, the hex SHA-256 of its wire blob and
/// the host-keys file's `"<keytype> <hex>"`.
pub fn key_ids(key: &PublicKey) -> (String, String, String) {
    let fp = key.fingerprint(HashAlg::Sha256).to_string();
    let blob = key.to_bytes().unwrap_or_default();
    let hex = hex::encode(sha2::Sha256::digest(&blob));
    let value = format!("{} {hex}", key.algorithm().as_str());
    (fp, hex, value)
}

/// Whether `expected` (as a job gives it) names this key.
pub fn expected_matches(expected: &str, fp: &str, hex: &str) -> bool {
    let e = expected.trim();
    if e.starts_with("SHA256:") {
        // OpenSSH prints it unpadded; tolerate padding.
        return e.trim_end_matches('=') == fp.trim_end_matches('=');
    }
    e.eq_ignore_ascii_case(hex)
}

impl client::Handler for Checker {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(c) => PublicKey::from(c.public_key().clone()),
        };
        let (fp, hex, value) = key_ids(&key);
        let refusal = match &self.trust {
            Trust::Expected(e) if expected_matches(e, &fp, &hex) => None,
            Trust::Expected(e) => Some(Failure::new(
                Code::HostKeyMismatch,
                format!("host key {fp} is not the expected {}", e.trim()),
            )),
            Trust::File(keys) => {
                let (keys, entry) = (keys.clone(), self.entry.clone());
                // May write and fsync the file: off the runtime's threads.
                let verdict = tokio::task::spawn_blocking(move || keys.check(&entry, &value)).await;
                match verdict {
                    Ok(Ok(_)) => None,
                    Ok(Err(e @ HostKeyError::Mismatch { .. })) => {
                        Some(Failure::new(Code::HostKeyMismatch, e.to_string()))
                    }
                    Ok(Err(e)) => Some(Failure::new(Code::Internal, e.to_string())),
                    Err(e) => Some(Failure::new(Code::Internal, format!("host-key check: {e}"))),
                }
            }
        };
        let ok = refusal.is_none();
        if let Ok(mut s) = self.seen.lock() {
            s.fingerprint = fp;
            s.refusal = refusal;
        }
        Ok(ok)
    }
}

fn config() -> client::Config {
    use russh::{kex, mac, Preferred};
    use std::borrow::Cow;
    // The defaults first; then what RouterOS 6 may offer alone (group14 with SHA-1,
    // HMAC-SHA1), last, so a modern device never negotiates them.
    let mut kexes = Preferred::DEFAULT.kex.to_vec();
    let at = kexes
        .iter()
        .position(|k| k.as_ref().starts_with("ext-info") || k.as_ref().starts_with("kex-strict"))
        .unwrap_or(kexes.len());
    kexes.insert(at, kex::DH_G14_SHA1);
    let mut macs = Preferred::DEFAULT.mac.to_vec();
    macs.push(mac::HMAC_SHA1);
    client::Config {
        preferred: Preferred {
            kex: Cow::Owned(kexes),
            mac: Cow::Owned(macs),
            ..Preferred::DEFAULT
        },
        inactivity_timeout: None,
        keepalive_interval: None,
        nodelay: true,
        ..Default::default()
    }
}

fn connect_failure(e: &std::io::Error, host: &str, port: u16) -> Failure {
    use std::io::ErrorKind as K;
    let code = match e.kind() {
        K::ConnectionRefused => Code::ConnectionRefused,
        _ => Code::Unreachable,
    };
    Failure::new(code, format!("connecting to {host}:{port}: {e}"))
}

/// Connects, checks the host key and logs in with the password. `fingerprint` is set as
/// soon as the device has presented its key, also when the connection then fails (a
/// refused key, a wrong password): the server is told which key it saw.
pub async fn connect(
    target: &Target,
    trust: Trust,
    fingerprint: &mut String,
) -> Result<Connection, Failure> {
    let (host, port) = (target.host.as_str(), target.port);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let checker = Checker {
        trust,
        entry: ssh_entry(host, port),
        seen: seen.clone(),
    };
    let handshake = async {
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| connect_failure(&e, host, port))?;
        let _ = tcp.set_nodelay(true);
        client::connect_stream(Arc::new(config()), tcp, checker)
            .await
            .map_err(|e| (seen_failure(&seen)).unwrap_or_else(|| ssh_failure(&e)))
    };
    let done = tokio::time::timeout(HANDSHAKE_CAP, handshake).await;
    if let Ok(s) = seen.lock() {
        fingerprint.clone_from(&s.fingerprint);
    }
    let mut handle = match done {
        Ok(r) => r?,
        Err(_) => {
            return Err(Failure::new(
                Code::Unreachable,
                format!(
                    "no SSH handshake with {host}:{port} within {} s",
                    HANDSHAKE_CAP.as_secs()
                ),
            ))
        }
    };
    let auth = handle
        .authenticate_password(
            target.username.clone(),
            target.password.expose_secret().to_owned(),
        )
        .await
        .map_err(|e| ssh_failure(&e))?;
    if !auth.success() {
        return Err(Failure::new(
            Code::AuthFailed,
            format!("password login as {} refused", target.username),
        ));
    }
    Ok(Connection { handle })
}

/// The refusal the host-key check recorded, if that is why the handshake ended.
fn seen_failure(seen: &Mutex<Seen>) -> Option<Failure> {
    seen.lock().ok().and_then(|mut s| s.refusal.take())
}

fn ssh_failure(e: &russh::Error) -> Failure {
    use russh::Error as E;
    let code = match e {
        E::IO(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => Code::ConnectionRefused,
            _ => Code::Unreachable,
        },
        E::NotAuthenticated => Code::AuthFailed,
        E::UnknownKey | E::WrongServerSig => Code::HostKeyMismatch,
        E::ConnectionTimeout | E::KeepaliveTimeout | E::InactivityTimeout => Code::Timeout,
        E::Disconnect | E::HUP => Code::Unreachable,
        _ => Code::Internal,
    };
    Failure::new(code, format!("ssh: {e}"))
}

impl Connection {
    /// Runs `command` on its own exec channel; stdout beyond `max_stdout` bytes is
    /// TOO_LARGE (the channel is dropped at once, not read to its end).
    pub async fn exec(&self, command: &str, max_stdout: usize) -> Result<Exec, Failure> {
        let mut ch = self
            .handle
            .channel_open_session()
            .await
            .map_err(|e| ssh_failure(&e))?;
        ch.exec(true, command).await.map_err(|e| ssh_failure(&e))?;
        let mut out = Exec::default();
        while let Some(msg) = ch.wait().await {
            match msg {
                ChannelMsg::Data { data } => {
                    if out.stdout.len() + data.len() > max_stdout {
                        return Err(Failure::new(
                            Code::TooLarge,
                            format!("{command}: output exceeds {max_stdout} bytes"),
                        ));
                    }
                    out.stdout.extend_from_slice(&data);
                }
                ChannelMsg::ExtendedData { data, ext: 1 } => {
                    let room = MAX_STDERR.saturating_sub(out.stderr.len());
                    out.stderr.extend_from_slice(&data[..data.len().min(room)]);
                }
                ChannelMsg::ExitStatus { exit_status } => out.exit_status = Some(exit_status),
                ChannelMsg::Failure => {
                    return Err(Failure::new(
                        Code::ExportFailed,
                        format!("{command}: the device refused the exec request"),
                    ))
                }
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        Ok(out)
    }

    /// Says goodbye; best effort (the device may be gone already).
    pub async fn close(self) {
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            self.handle
                .disconnect(russh::Disconnect::ByApplication, "", "en"),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue17_backup_expected_fingerprint_forms() {
        let fp = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert!(expected_matches(fp, fp, hex));
        assert!(expected_matches(&format!("{fp}="), fp, hex));
        assert!(expected_matches(&hex.to_uppercase(), fp, hex));
        assert!(expected_matches(&format!(" {hex} "), fp, hex));
        assert!(!expected_matches("SHA256:AAAA", fp, hex));
        assert!(!expected_matches(&hex[1..], fp, hex));
        // The base64 form is case-sensitive.
        assert!(!expected_matches(&fp.to_lowercase(), fp, hex));
    }
}
