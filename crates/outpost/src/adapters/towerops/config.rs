//! The Towerops agent's own configuration, read from its environment variables so that an
//! operator swaps the image and changes nothing else: `TOWEROPS_API_URL` and a token
//! (`TOWEROPS_AGENT_TOKEN`, or `outpost run --token-file`, which wins) turn the adapter on;
//! `TOWEROPS_INSECURE` allows a plain `ws://` socket. The log variables
//! (`TOWEROPS_LOG_LEVEL`/`LOG_LEVEL`, `TOWEROPS_LOG_FORMAT`/`LOG_FORMAT`) and the trap
//! variables (`TRAP_ENABLED`/`TOWEROPS_TRAP_ENABLED`, `TRAP_PORT`/`TOWEROPS_TRAP_PORT`) are
//! aliases of `log.*` and `trap.*` in the config's alias table; `TOWEROPS_TRAP_BIND`,
//! `TRAP_COMMUNITY`/`TOWEROPS_TRAP_COMMUNITY` and `TOWEROPS_HOST_KEYS_FILE` are read and
//! checked here. The token is a [`SecretString`]: never logged, never on a command line.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use secrecy::{ExposeSecret, SecretString};

use super::url::{socket_url, UrlError};

/// `outpost run --token-file`, set by the daemon before the components are built.
static TOKEN_FILE: OnceLock<PathBuf> = OnceLock::new();

/// Records `outpost run --token-file PATH` (the first call wins).
pub fn set_token_file(path: PathBuf) {
    let _ = TOKEN_FILE.set(path);
}

/// What turns the adapter on and how it connects.
pub struct Settings {
    /// The socket URL (`wss://HOST/socket/agent/websocket`).
    pub url: String,
    pub token: SecretString,
    pub insecure: bool,
    /// `TOWEROPS_TRAP_BIND`, checked as an address (the trap receiver's own `trap.listen`
    /// decides where it listens).
    pub trap_bind: Option<std::net::IpAddr>,
    pub host_keys_file: Option<PathBuf>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("url", &self.url)
            .field("insecure", &self.insecure)
            .finish_non_exhaustive()
    }
}

/// A variable that cannot be used, named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}: {message}")]
    Invalid { var: &'static str, message: String },
}

impl ConfigError {
    pub fn var(&self) -> &'static str {
        match self {
            ConfigError::Invalid { var, .. } => var,
        }
    }
    fn new(var: &'static str, message: impl std::fmt::Display) -> Self {
        ConfigError::Invalid {
            var,
            message: message.to_string(),
        }
    }
}

/// The original's boolean spellings (Go's `strconv.ParseBool`).
fn boolean(var: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" | "" => Ok(false),
        other => Err(ConfigError::new(
            var,
            format!(
                "expected true or false, got {:?}",
                other.chars().take(32).collect::<String>()
            ),
        )),
    }
}

/// The first of `names` that is set and not empty.
fn first(
    env: &dyn Fn(&str) -> Option<String>,
    names: &[&'static str],
) -> Option<(&'static str, String)> {
    names
        .iter()
        .find_map(|n| env(n).filter(|v| !v.trim().is_empty()).map(|v| (*n, v)))
}

fn read_token_file(path: &Path) -> Result<SecretString, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new("--token-file", format!("{}: {e}", path.display())))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(ConfigError::new(
            "--token-file",
            format!("{} is empty", path.display()),
        ));
    }
    Ok(SecretString::from(token.to_owned()))
}

/// The settings, or `None` when the adapter is off (no `TOWEROPS_API_URL`). A URL without
/// a token, or a token without a URL, is an error naming the missing variable.
pub fn load(
    env: &dyn Fn(&str) -> Option<String>,
    token_file: Option<&Path>,
) -> Result<Option<Settings>, ConfigError> {
    let token = match token_file {
        Some(p) => Some(read_token_file(p)?),
        None => first(env, &["TOWEROPS_AGENT_TOKEN"])
            .map(|(_, t)| SecretString::from(t.trim().to_owned())),
    };
    let Some((_, api)) = first(env, &["TOWEROPS_API_URL"]) else {
        return match token {
            Some(_) => Err(ConfigError::new(
                "TOWEROPS_API_URL",
                "required when a Towerops token is given",
            )),
            None => Ok(None),
        };
    };
    let Some(token) = token.filter(|t| !t.expose_secret().is_empty()) else {
        return Err(ConfigError::new(
            "TOWEROPS_AGENT_TOKEN",
            "required when TOWEROPS_API_URL is set (or give --token-file)",
        ));
    };
    let insecure = match first(env, &["TOWEROPS_INSECURE"]) {
        Some((var, v)) => boolean(var, &v)?,
        None => false,
    };
    let url = socket_url(&api, insecure).map_err(|e| match e {
        UrlError::Insecure(_) => ConfigError::new("TOWEROPS_API_URL", e),
        other => ConfigError::new("TOWEROPS_API_URL", other),
    })?;
    let trap_bind = match first(env, &["TOWEROPS_TRAP_BIND"]) {
        Some((var, v)) => Some(
            v.trim()
                .parse()
                .map_err(|_| ConfigError::new(var, "expected an IP address"))?,
        ),
        None => None,
    };
    for names in [
        &["TOWEROPS_TRAP_ENABLED", "TRAP_ENABLED"][..],
        &["TOWEROPS_INSECURE"][..],
    ] {
        if let Some((var, v)) = first(env, names) {
            boolean(var, &v)?;
        }
    }
    if let Some((var, v)) = first(env, &["TOWEROPS_TRAP_PORT", "TRAP_PORT"]) {
        v.trim()
            .parse::<u16>()
            .map_err(|_| ConfigError::new(var, "expected a UDP port (0-65535)"))?;
    }
    Ok(Some(Settings {
        url,
        token,
        insecure,
        trap_bind,
        host_keys_file: first(env, &["TOWEROPS_HOST_KEYS_FILE"]).map(|(_, v)| v.into()),
    }))
}

/// [`load`] from the process environment and `--token-file`.
pub fn from_process() -> Result<Option<Settings>, ConfigError> {
    load(
        &|k| std::env::var(k).ok(),
        TOKEN_FILE.get().map(PathBuf::as_path),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let v: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| v.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn issue17_towerops_config_url_and_token_turn_it_on() {
        assert!(load(&env(&[]), None).unwrap().is_none());
        let s = load(
            &env(&[
                ("TOWEROPS_API_URL", "https://app.example.com"),
                ("TOWEROPS_AGENT_TOKEN", " tok "),
            ]),
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.url, "wss://app.example.com/socket/agent/websocket");
        assert_eq!(s.token.expose_secret(), "tok");
        assert!(!format!("{s:?}").contains("tok\""));
        let e = load(&env(&[("TOWEROPS_API_URL", "https://h")]), None).unwrap_err();
        assert_eq!(e.var(), "TOWEROPS_AGENT_TOKEN");
        let e = load(&env(&[("TOWEROPS_AGENT_TOKEN", "t")]), None).unwrap_err();
        assert_eq!(e.var(), "TOWEROPS_API_URL");
        // Plain ws only with TOWEROPS_INSECURE.
        let e = load(
            &env(&[
                ("TOWEROPS_API_URL", "http://h"),
                ("TOWEROPS_AGENT_TOKEN", "t"),
            ]),
            None,
        )
        .unwrap_err();
        assert_eq!(e.var(), "TOWEROPS_API_URL");
        let s = load(
            &env(&[
                ("TOWEROPS_API_URL", "http://h:4000"),
                ("TOWEROPS_AGENT_TOKEN", "t"),
                ("TOWEROPS_INSECURE", "true"),
            ]),
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.url, "ws://h:4000/socket/agent/websocket");
        let e = load(
            &env(&[
                ("TOWEROPS_API_URL", "https://h"),
                ("TOWEROPS_AGENT_TOKEN", "t"),
                ("TOWEROPS_INSECURE", "maybe"),
            ]),
            None,
        )
        .unwrap_err();
        assert_eq!(e.var(), "TOWEROPS_INSECURE");
        let e = load(
            &env(&[
                ("TOWEROPS_API_URL", "https://h"),
                ("TOWEROPS_AGENT_TOKEN", "t"),
                ("TRAP_PORT", "99999"),
            ]),
            None,
        )
        .unwrap_err();
        assert_eq!(e.var(), "TRAP_PORT");
    }

    #[test]
    fn issue17_towerops_config_token_file_wins_and_must_hold_a_token() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "from-file\n").unwrap();
        let s = load(
            &env(&[
                ("TOWEROPS_API_URL", "h"),
                ("TOWEROPS_AGENT_TOKEN", "from-env"),
            ]),
            Some(&f),
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.token.expose_secret(), "from-file");
        std::fs::write(&f, "  \n").unwrap();
        let e = load(&env(&[("TOWEROPS_API_URL", "h")]), Some(&f)).unwrap_err();
        assert_eq!(e.var(), "--token-file");
        let e = load(
            &env(&[("TOWEROPS_API_URL", "h")]),
            Some(&dir.path().join("missing")),
        )
        .unwrap_err();
        assert_eq!(e.var(), "--token-file");
    }
}
