//! Provisioning (../shared/compat/socketman.md §8): with no usable `config.json`, or after
//! the collector answered 401, `GET <init_url>?mac=<mac>&machine=<model>&firmware=<ver>`
//! until a 200 or 201 with a body. SocketMan saved that body verbatim and then parsed it;
//! here it is parsed and checked as a config first (a malformed one is refused, logged
//! naming the key, and asked for again, the old file kept), then written atomically
//! (a temporary file in the same directory, mode 0600 since it holds the broker password
//! and the token, fsynced, renamed over). Retries back off from 1 s to SocketMan's 15 s.
//! TLS is verified (system roots), never switched off as SocketMan's was.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::collect::Paths;
use super::config::{self, Settings};

/// SocketMan's init server when no `-b` is given (kept for the record: Outpost
/// provisions only from `socketman.init_url`, never from a default it was not told).
pub const SOCKETMAN_DEFAULT: &str = "https://api.ctapp.io/api/v2/init";
const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// SocketMan asked every 15 s.
const BACKOFF_MAX: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("init_url {0:?}: {1}")]
    Url(String, String),
    #[error("MAC file {0}: {1}")]
    Mac(PathBuf, String),
    #[error("init server: {0}")]
    Http(String),
    #[error("init server answered {0}")]
    Status(u16),
    #[error("the init server's config was refused: {0}")]
    Refused(config::ConfigError),
    #[error("saving {0}: {1}")]
    Save(PathBuf, std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
}

/// What provisioning needs: where to ask, where to save, what to say about the device.
pub struct Provision {
    pub init_url: reqwest::Url,
    pub config_path: PathBuf,
    pub mac_file: PathBuf,
    pub paths: Paths,
    client: reqwest::Client,
}

impl Provision {
    pub fn new(
        init_url: &str,
        config_path: &Path,
        mac_file: &Path,
        paths: Paths,
    ) -> Result<Provision, ProvisionError> {
        let url = reqwest::Url::parse(init_url)
            .map_err(|e| ProvisionError::Url(init_url.to_owned(), e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ProvisionError::Url(
                init_url.to_owned(),
                "not an http(s) URL".into(),
            ));
        }
        let client =
            super::rest::client(false, None).map_err(|e| ProvisionError::Tls(e.to_string()))?;
        Ok(Provision {
            init_url: url,
            config_path: config_path.to_owned(),
            mac_file: mac_file.to_owned(),
            paths,
            client,
        })
    }

    /// The MAC from the MAC file (SocketMan's `valid_mac`: 17 characters, dash-separated).
    pub fn read_mac(&self) -> Result<String, ProvisionError> {
        let text = std::fs::read_to_string(&self.mac_file)
            .map_err(|e| ProvisionError::Mac(self.mac_file.clone(), e.to_string()))?;
        let mac = text.trim();
        if !config::valid_mac(mac) {
            return Err(ProvisionError::Mac(
                self.mac_file.clone(),
                format!("{mac:?} is not XX-XX-XX-XX-XX-XX"),
            ));
        }
        Ok(mac.to_owned())
    }

    /// `init_url?mac=…&machine=…&firmware=…` (firmware "DNE" off OpenWrt, as SocketMan).
    pub fn request_url(&self, mac: &str) -> reqwest::Url {
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        let machine = read(&self.paths.model)
            .or_else(|| {
                read(&self.paths.os_release).and_then(|t| {
                    t.lines()
                        .find_map(|l| l.strip_prefix("NAME="))
                        .map(|v| v.trim_matches('"').to_owned())
                })
            })
            .unwrap_or_default();
        let firmware = read(&self.paths.openwrt_version).unwrap_or_else(|| "DNE".into());
        let mut u = self.init_url.clone();
        u.query_pairs_mut()
            .append_pair("mac", mac)
            .append_pair("machine", &machine)
            .append_pair("firmware", &firmware);
        u
    }

    /// One request: the checked settings, saved, or why not.
    pub async fn once(&self, mac: &str) -> Result<Settings, ProvisionError> {
        let r = self
            .client
            .get(self.request_url(mac))
            .send()
            .await
            .map_err(|e| ProvisionError::Http(e.to_string()))?;
        let status = r.status().as_u16();
        if status != 200 && status != 201 {
            return Err(ProvisionError::Status(status));
        }
        let body = r
            .bytes()
            .await
            .map_err(|e| ProvisionError::Http(e.to_string()))?;
        if body.is_empty() {
            return Err(ProvisionError::Status(status));
        }
        let settings = config::parse(&self.config_path, &body, &|p| std::fs::read_to_string(p))
            .map_err(ProvisionError::Refused)?;
        save(&self.config_path, &body)
            .map_err(|e| ProvisionError::Save(self.config_path.clone(), e))?;
        Ok(settings)
    }

    /// Asks until a config is saved; `None` when `stop` comes first. `mac` is the one
    /// already known (re-provisioning), else the MAC file is read on each attempt.
    pub async fn run(&self, mac: Option<&str>, stop: &CancellationToken) -> Option<Settings> {
        let mut wait = BACKOFF_MIN;
        loop {
            let attempt = async {
                let mac = match mac {
                    Some(m) => m.to_owned(),
                    None => self.read_mac()?,
                };
                self.once(&mac).await
            };
            let result = tokio::select! {
                () = stop.cancelled() => return None,
                r = attempt => r,
            };
            match result {
                Ok(s) => {
                    tracing::info!(
                        file = %self.config_path.display(),
                        "socketman: provisioned from the init server"
                    );
                    return Some(s);
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    retry_in_s = wait.as_secs(),
                    "socketman: provisioning failed; asking again"
                ),
            }
            tokio::select! {
                () = stop.cancelled() => return None,
                () = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(BACKOFF_MAX);
        }
    }
}

/// Writes `body` to `path` atomically, mode 0600.
pub fn save(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.json".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename is durable once the directory is.
        std::fs::File::open(dir)?.sync_all()
    };
    let r = write();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}
