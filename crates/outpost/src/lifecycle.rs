//! The agent's own lifecycle, as the API, the uplinks and the adapters drive it: restart,
//! shutdown, and the configuration file (read redacted, changed with validation).
//!
//! A restart is a graceful stop in the daemon's phases followed by an `exec` of the same
//! binary and arguments (same PID, so a supervisor sees no exit). A configuration change
//! is validated exactly as `outpost config check` would, on the whole layered result
//! (flags > environment > the changed file > defaults), written atomically (temporary file,
//! fsync, rename, directory fsync, the file's mode kept; comments and layout kept by
//! toml_edit), and applied live where that is possible; the rest is reported as needing a
//! restart.

use std::{
    collections::BTreeMap,
    fs,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
};

use tokio_util::sync::CancellationToken;

use crate::config::{self, ConfigError, Origin, Sources};

/// What the daemon does once the phases have run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Shutdown,
    Restart,
}

/// Keys whose new value takes effect without a restart.
const LIVE_KEYS: &[&str] = &["log.level"];

/// Flags as the daemon applied them: (flag, key, value).
pub type Flags = Vec<(&'static str, &'static str, toml::Value)>;

/// A handle on the running agent's lifecycle. Cheap to clone.
#[derive(Clone)]
pub struct Lifecycle(Arc<Inner>);

struct Inner {
    fired: CancellationToken,
    action: Mutex<Option<Action>>,
    file: Option<PathBuf>,
    flags: Flags,
    /// The effective values and their origins, as last loaded.
    values: Mutex<BTreeMap<&'static str, (toml::Value, Origin)>>,
    /// One change at a time: each reads the file the previous one wrote.
    writing: Mutex<()>,
}

/// What a configuration change did.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct Applied {
    /// Keys whose value changed, in effect now.
    pub applied_live: Vec<String>,
    /// Keys whose value changed in the file, in effect after a restart.
    pub restart_required: Vec<String>,
    /// Keys written to the file whose effective value still comes from elsewhere (a flag
    /// or the environment outranks the file), with what sets it.
    pub overridden: Vec<Overridden>,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Overridden {
    pub key: String,
    /// Where the effective value comes from, e.g. `environment OUTPOST_API_LISTEN`.
    pub by: String,
}

/// Why a configuration change was refused; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigRejected {
    #[error("the agent runs without a config file (--config or OUTPOST_CONFIG): there is no file to change")]
    NoFile,
    #[error("`{key}`: {message}")]
    Key { key: String, message: String },
    #[error(transparent)]
    Invalid(ConfigError),
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ConfigRejected {
    /// The key the refusal is about, for a 422 naming it.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigRejected::Key { key, .. } => Some(key),
            ConfigRejected::Invalid(
                ConfigError::UnknownKey { key, .. } | ConfigError::Invalid { key, .. },
            ) => Some(key),
            _ => None,
        }
    }
}

impl Lifecycle {
    pub fn new(
        file: Option<PathBuf>,
        flags: Flags,
        values: BTreeMap<&'static str, (toml::Value, Origin)>,
    ) -> Lifecycle {
        Lifecycle(Arc::new(Inner {
            fired: CancellationToken::new(),
            action: Mutex::new(None),
            file,
            flags,
            values: Mutex::new(values),
            writing: Mutex::new(()),
        }))
    }

    /// Graceful stop in phases, then the same binary and arguments again.
    pub fn restart(&self) {
        self.request(Action::Restart);
    }

    /// Graceful stop, exit 0.
    pub fn shutdown(&self) {
        self.request(Action::Shutdown);
    }

    /// The first request wins; later ones change nothing (a shutdown during a restart's
    /// stop does not turn it into an exit, nor the reverse).
    fn request(&self, a: Action) {
        let mut slot = self.0.action.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(a);
            tracing::info!(action = ?a, "agent lifecycle action requested");
            self.0.fired.cancel();
        }
    }

    /// Resolves when restart or shutdown was requested.
    pub async fn requested(&self) -> Action {
        self.0.fired.cancelled().await;
        self.0
            .action
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .unwrap_or(Action::Shutdown)
    }

    /// The requested action, if any (the daemon reads it after the phases).
    pub fn action(&self) -> Option<Action> {
        *self.0.action.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The effective config as `config show --json` prints it: secrets redacted.
    pub fn config_view(&self) -> serde_json::Value {
        let values = self.0.values.lock().unwrap_or_else(PoisonError::into_inner);
        config::redacted_view(&values)
    }

    /// The config file this agent was started with.
    pub fn file(&self) -> Option<&Path> {
        self.0.file.as_deref()
    }

    /// Sets dotted keys in the config file, after validating the whole result.
    pub fn set(&self, changes: Vec<(String, toml::Value)>) -> Result<Applied, ConfigRejected> {
        let _one = self
            .0
            .writing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let path = self.0.file.as_deref().ok_or(ConfigRejected::NoFile)?;
        for (key, _) in &changes {
            if key.starts_with("commands.") || key == "commands" {
                return Err(ConfigRejected::Key {
                    key: key.clone(),
                    message: "the command allowlist is edited in the file itself, not over the API"
                        .into(),
                });
            }
            if config::key_kind(key).is_none() {
                return Err(ConfigRejected::Key {
                    key: key.clone(),
                    message: "unknown key (see `outpost config keys`)".into(),
                });
            }
        }
        let text = fs::read_to_string(path).map_err(|source| ConfigRejected::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut doc: toml_edit::DocumentMut =
            text.parse()
                .map_err(|e: toml_edit::TomlError| ConfigRejected::Key {
                    key: "config".into(),
                    message: format!("the current file does not parse: {e}"),
                })?;
        for (key, value) in &changes {
            set_dotted(&mut doc, key, value)?;
        }
        let new_text = doc.to_string();
        let tmp = path.with_extension("toml.outpost-new");
        write_private(&tmp, new_text.as_bytes(), path).map_err(|source| ConfigRejected::Io {
            path: tmp.clone(),
            source,
        })?;
        let loaded = match config::load(Sources {
            file: Some(&tmp),
            env: &|k| std::env::var(k).ok(),
            flags: self.0.flags.clone(),
        }) {
            Ok(l) => l,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(ConfigRejected::Invalid(rename_origin(e, &tmp, path)));
            }
        };
        commit(&tmp, path).map_err(|source| ConfigRejected::Io {
            path: path.to_owned(),
            source,
        })?;
        let values: BTreeMap<_, _> = loaded
            .values
            .into_iter()
            .map(|(k, (v, o))| (k, (v, rename_in_origin(o, &tmp, path))))
            .collect();
        let mut applied = Applied::default();
        {
            let mut current = self.0.values.lock().unwrap_or_else(PoisonError::into_inner);
            for (k, (v, _)) in &values {
                if current.get(k).map(|(old, _)| old) != Some(v) {
                    if LIVE_KEYS.contains(k) && apply_live(k, &loaded.config) {
                        applied.applied_live.push((*k).to_owned());
                    } else {
                        applied.restart_required.push((*k).to_owned());
                    }
                }
            }
            for k in current.keys() {
                if !values.contains_key(k) {
                    applied.restart_required.push((*k).to_owned());
                }
            }
            for (key, _) in &changes {
                if let Some((_, o @ (Origin::Env(_) | Origin::Flag(_)))) = values.get(key.as_str())
                {
                    applied.overridden.push(Overridden {
                        key: key.clone(),
                        by: o.to_string(),
                    });
                }
            }
            *current = values;
        }
        tracing::info!(
            file = %path.display(),
            live = ?applied.applied_live,
            restart_required = ?applied.restart_required,
            "configuration changed"
        );
        Ok(applied)
    }
}

fn apply_live(key: &str, cfg: &config::Config) -> bool {
    match key {
        "log.level" => crate::telemetry::set_level(cfg.log.level),
        _ => false,
    }
}

/// Sets `a.b.c = value`, creating tables on the way; a non-table in the way is an error.
fn set_dotted(
    doc: &mut toml_edit::DocumentMut,
    key: &str,
    value: &toml::Value,
) -> Result<(), ConfigRejected> {
    let bad = |message: &str| ConfigRejected::Key {
        key: key.to_owned(),
        message: message.to_owned(),
    };
    let item_value = to_edit_value(value)
        .ok_or_else(|| bad("only strings, numbers, booleans and arrays of them"))?;
    let parts: Vec<&str> = key.split('.').collect();
    let (last, tables) = parts.split_last().ok_or_else(|| bad("empty key"))?;
    let mut table = doc.as_table_mut();
    for t in tables {
        let entry = table
            .entry(t)
            .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
        table = entry.as_table_mut().ok_or_else(|| {
            bad("a value in the file is in the way of this key's table (an inline table?)")
        })?;
    }
    table.insert(last, toml_edit::Item::Value(item_value));
    Ok(())
}

fn to_edit_value(v: &toml::Value) -> Option<toml_edit::Value> {
    Some(match v {
        toml::Value::String(s) => s.as_str().into(),
        toml::Value::Integer(i) => (*i).into(),
        toml::Value::Float(f) => (*f).into(),
        toml::Value::Boolean(b) => (*b).into(),
        toml::Value::Array(a) => {
            let mut arr = toml_edit::Array::new();
            for x in a {
                arr.push(to_edit_value(x)?);
            }
            toml_edit::Value::Array(arr)
        }
        _ => return None,
    })
}

/// Writes `bytes` to `tmp` with the mode of `like` (0600 if it cannot be read), synced.
fn write_private(tmp: &Path, bytes: &[u8], like: &Path) -> std::io::Result<()> {
    let mode = fs::metadata(like)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o600);
    let _ = fs::remove_file(tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)?;
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn commit(tmp: &Path, path: &Path) -> std::io::Result<()> {
    fs::rename(tmp, path)?;
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => fs::File::open(d)?.sync_all(),
        _ => Ok(()),
    }
}

/// Errors name the file the operator knows, not the temporary one they were found in.
fn rename_origin(e: ConfigError, tmp: &Path, path: &Path) -> ConfigError {
    let fix = |s: String| s.replace(&tmp.display().to_string(), &path.display().to_string());
    match e {
        ConfigError::Read { source, .. } => ConfigError::Read {
            path: path.to_owned(),
            source,
        },
        ConfigError::Syntax { line, message, .. } => ConfigError::Syntax {
            path: path.to_owned(),
            line,
            message,
        },
        ConfigError::UnknownKey { key, origin, hint } => ConfigError::UnknownKey {
            key,
            origin: fix(origin),
            hint,
        },
        ConfigError::Invalid {
            key,
            origin,
            message,
        } => ConfigError::Invalid {
            key,
            origin: fix(origin),
            message,
        },
    }
}

fn rename_in_origin(o: Origin, tmp: &Path, path: &Path) -> Origin {
    match o {
        Origin::File { path: p, line } if p == tmp => Origin::File {
            path: path.to_owned(),
            line,
        },
        o => o,
    }
}
