//! Building the effective configuration from its layers.

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
};

use toml::{Table, Value};

use super::{
    keys::{self, Ty, ALIASES, KEYS},
    Config,
};

/// Where a key's effective value came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    Default,
    File { path: PathBuf, line: Option<usize> },
    Env(String),
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("built-in default"),
            Origin::File {
                path,
                line: Some(l),
            } => write!(f, "{}:{l}", path.display()),
            Origin::File { path, line: None } => write!(f, "{}", path.display()),
            Origin::Env(v) => write!(f, "environment {v}"),
            Origin::Flag(n) => write!(f, "flag {n}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{origin}: unknown key `{key}`{hint}")]
    UnknownKey {
        key: String,
        origin: String,
        hint: String,
    },
    #[error("{origin}: `{key}`: {message}")]
    Invalid {
        key: String,
        origin: String,
        message: String,
    },
}

/// The inputs to [`load`]; tests pass their own environment.
pub struct Sources<'a> {
    pub file: Option<&'a Path>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Key and value set by command-line flags, with the flag's name for messages.
    pub flags: Vec<(&'static str, &'static str, Value)>,
}

/// The effective configuration and where each value came from.
pub struct Loaded {
    pub config: Config,
    /// Every set key with its effective value, for `config show`.
    pub values: BTreeMap<&'static str, (Value, Origin)>,
}

pub fn load(src: Sources<'_>) -> Result<Loaded, ConfigError> {
    let mut values: BTreeMap<&'static str, (Value, Origin)> = BTreeMap::new();
    let mut commands = None;
    for k in KEYS {
        if let Some(text) = k.default {
            let v = parse_literal(text).ok_or_else(|| ConfigError::Invalid {
                key: k.name.into(),
                origin: "built-in default".into(),
                message: "default is not a TOML literal".into(),
            })?;
            values.insert(k.name, (v, Origin::Default));
        }
    }

    if let Some(path) = src.file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let table: Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Syntax {
                path: path.to_owned(),
                line: e.span().map(|s| line_at(&text, s.start)).unwrap_or(1),
                message: e.message().to_owned(),
            })?;
        let mut table = table;
        // `[commands.NAME]` is the exec allowlist: tables named by the operator, read whole
        // from the file (never from the environment or flags) and checked by outpost-exec.
        commands = table.remove("commands");
        let mut leaves = Vec::new();
        flatten("", &table, &mut leaves);
        for (name, value) in leaves {
            let origin = Origin::File {
                path: path.to_owned(),
                line: line_of(&text, &name),
            };
            let Some(k) = keys::find(&name) else {
                return Err(ConfigError::UnknownKey {
                    hint: suggest(&name),
                    key: name,
                    origin: origin.to_string(),
                });
            };
            check_type(k.name, k.ty, &value, &origin)?;
            values.insert(k.name, (value, origin));
        }
    }

    for k in KEYS {
        let own = keys::env_name(k.name);
        let found = (src.env)(&own).map(|v| (own.clone(), v)).or_else(|| {
            ALIASES
                .iter()
                .filter(|(_, key)| *key == k.name)
                .find_map(|(alias, _)| (src.env)(alias).map(|v| (alias.to_string(), v)))
        });
        if let Some((var, raw)) = found {
            let origin = Origin::Env(var);
            let value = from_text(k.name, k.ty, &raw, &origin)?;
            values.insert(k.name, (value, origin));
        }
    }

    for (flag, name, value) in src.flags {
        let Some(k) = keys::find(name) else {
            return Err(ConfigError::UnknownKey {
                key: name.into(),
                origin: format!("flag {flag}"),
                hint: String::new(),
            });
        };
        let origin = Origin::Flag(flag);
        check_type(k.name, k.ty, &value, &origin)?;
        values.insert(k.name, (value, origin));
    }

    let mut root = Table::new();
    for (name, (value, _)) in &values {
        insert_dotted(&mut root, name, value.clone());
    }
    if let Some(c) = commands {
        root.insert("commands".into(), c);
    }
    let mut config: Config = serde_path_to_error::deserialize(Value::Table(root)).map_err(|e| {
        let key = e.path().to_string();
        let origin = values
            .get(key.as_str())
            .map(|(_, o)| o.to_string())
            .unwrap_or_else(|| "config".into());
        ConfigError::Invalid {
            key,
            origin,
            message: e.into_inner().to_string(),
        }
    })?;
    // Which keys the operator set (file, environment, flag): a drop-in adapter that
    // derives settings of its own (SocketMan's monitor) leaves these alone.
    config.explicit = values
        .iter()
        .filter(|(_, (_, o))| !matches!(o, Origin::Default))
        .map(|(k, _)| *k)
        .collect();
    config.validate().map_err(|e| ConfigError::Invalid {
        key: e.key.into(),
        origin: values
            .get(e.key)
            .map(|(_, o)| o.to_string())
            .unwrap_or_else(|| "config".into()),
        message: e.message,
    })?;
    Ok(Loaded { config, values })
}

fn parse_literal(text: &str) -> Option<Value> {
    let t: Table = format!("v = {text}").parse().ok()?;
    t.get("v").cloned()
}

fn from_text(name: &str, ty: Ty, raw: &str, origin: &Origin) -> Result<Value, ConfigError> {
    let bad = |what: &str| ConfigError::Invalid {
        key: name.into(),
        origin: origin.to_string(),
        message: format!("expected {what}, got {raw:?}"),
    };
    Ok(match ty {
        Ty::Str => Value::String(raw.to_owned()),
        Ty::Int => Value::Integer(raw.trim().parse().map_err(|_| bad("an integer"))?),
        Ty::Bool => Value::Boolean(match raw.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => return Err(bad("true or false")),
        }),
    })
}

fn check_type(name: &str, ty: Ty, v: &Value, origin: &Origin) -> Result<(), ConfigError> {
    let ok = matches!(
        (ty, v),
        (Ty::Str, Value::String(_)) | (Ty::Int, Value::Integer(_)) | (Ty::Bool, Value::Boolean(_))
    );
    if ok {
        return Ok(());
    }
    let want = match ty {
        Ty::Str => "a string",
        Ty::Int => "an integer",
        Ty::Bool => "true or false",
    };
    Err(ConfigError::Invalid {
        key: name.into(),
        origin: origin.to_string(),
        message: format!("expected {want}, got {} {v}", v.type_str()),
    })
}

fn flatten(prefix: &str, table: &Table, out: &mut Vec<(String, Value)>) {
    for (k, v) in table {
        let name = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Table(t) if !KEYS.iter().any(|key| key.name == name) => flatten(&name, t, out),
            _ => out.push((name, v.clone())),
        }
    }
}

fn insert_dotted(root: &mut Table, name: &str, value: Value) {
    let mut parts: Vec<&str> = name.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut t = root;
    for p in parts {
        let entry = t
            .entry(p.to_owned())
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        let Value::Table(next) = entry else { return };
        t = next;
    }
    t.insert(last.to_owned(), value);
}

fn line_at(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map(|s| s.matches('\n').count() + 1)
        .unwrap_or(1)
}

/// The line where `name` is assigned, tracking `[section]` headers. Good enough for error
/// messages; the TOML parser has already accepted the file.
fn line_of(text: &str, name: &str) -> Option<usize> {
    let mut section = String::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if let Some(h) = l.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            section = h.trim().to_owned();
            continue;
        }
        let Some((k, _)) = l.split_once('=') else {
            continue;
        };
        let k = k.trim().trim_matches('"');
        let full = if section.is_empty() {
            k.to_owned()
        } else {
            format!("{section}.{k}")
        };
        if full == name {
            return Some(i + 1);
        }
    }
    None
}

fn suggest(name: &str) -> String {
    let best = KEYS
        .iter()
        .map(|k| (distance(k.name, name), k.name))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((d, k)) if d <= 3 => format!("; did you mean `{k}`?"),
        _ => String::new(),
    }
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn defaults_alone_make_a_valid_config() {
        let loaded = load(Sources {
            file: None,
            env: &|_| None,
            flags: vec![],
        })
        .unwrap();
        assert_eq!(loaded.config.api.listen.to_string(), "127.0.0.1:7070");
        assert!(!loaded.config.tls_enabled());
    }

    #[test]
    fn layers_apply_in_order_flags_env_file_default() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "[api]\nlisten = \"127.0.0.1:1\"\nmax_body_bytes = 2048\n",
        )
        .unwrap();
        let env = env_of(&[
            ("OUTPOST_API_LISTEN", "127.0.0.1:2"),
            ("LOG_LEVEL", "debug"),
        ]);
        let loaded = load(Sources {
            file: Some(&f),
            env: &env,
            flags: vec![(
                "--listen",
                "api.listen",
                Value::String("127.0.0.1:3".into()),
            )],
        })
        .unwrap();
        assert_eq!(loaded.config.api.listen.port(), 3);
        assert_eq!(loaded.config.api.max_body_bytes, 2048);
        assert_eq!(loaded.config.log.level, super::super::LogLevel::Debug);
    }

    #[test]
    fn unknown_key_names_key_line_and_suggestion() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "# c\n[api]\nlisen = \"127.0.0.1:1\"\n").unwrap();
        let err = load(Sources {
            file: Some(&f),
            env: &|_| None,
            flags: vec![],
        })
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("api.lisen"), "{err}");
        assert!(err.contains(":3"), "{err}");
        assert!(err.contains("api.listen"), "{err}");
    }

    #[test]
    fn bad_value_names_key_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "[api]\n\nlisten = \"not an address\"\n").unwrap();
        let err = load(Sources {
            file: Some(&f),
            env: &|_| None,
            flags: vec![],
        })
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("api.listen") && err.contains(":3"), "{err}");
    }

    #[test]
    fn bad_env_value_names_the_variable() {
        let env = env_of(&[("OUTPOST_JOBS_QUEUE_CAPACITY", "lots")]);
        let err = load(Sources {
            file: None,
            env: &env,
            flags: vec![],
        })
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("OUTPOST_JOBS_QUEUE_CAPACITY"), "{err}");
    }

    /// Values with a form beyond their TOML type are parsed once, while deserializing, and a
    /// bad one is reported under its own key and origin; the typed value is what the daemon
    /// gets (it used to re-parse the text, and `validate` threw its parse away).
    #[test]
    fn issue12_values_are_parsed_once_and_a_bad_one_names_its_key_and_origin() {
        const PIN: &str = "abababababababababababababababababababababababababababababababab";
        let cases = [
            (
                "OUTPOST_UPLINK_MQTT_URL",
                "http://broker",
                "uplink.mqtt.url",
            ),
            (
                "OUTPOST_UPLINK_MQTT_PROTOCOL",
                "4.2",
                "uplink.mqtt.protocol",
            ),
            ("OUTPOST_UPLINK_WS_URL", "ftp://x", "uplink.ws.url"),
            (
                "OUTPOST_UPLINK_WS_PIN_SHA256",
                "abcd",
                "uplink.ws.pin_sha256",
            ),
            (
                "OUTPOST_TRAP_ALLOWED_NETWORKS",
                "10.0.0.0/33",
                "trap.allowed_networks",
            ),
            ("OUTPOST_TRAP_V3_USERS", "u:*:MD9:secretpw", "trap.v3_users"),
        ];
        for (var, value, key) in cases {
            let err = load(Sources {
                file: None,
                env: &env_of(Box::leak(Box::new([(var, value)]))),
                flags: vec![],
            })
            .err()
            .unwrap()
            .to_string();
            assert!(err.contains(key) && err.contains(var), "{var}: {err}");
            assert!(!err.contains("secretpw"), "{err}");
        }
        let c = load(Sources {
            file: None,
            env: &env_of(&[
                ("OUTPOST_UPLINK_MQTT_URL", "mqtts://[::1]:8883"),
                ("OUTPOST_UPLINK_MQTT_PROTOCOL", "5"),
                ("OUTPOST_UPLINK_WS_URL", "https://cp.example"),
                ("OUTPOST_UPLINK_WS_PIN_SHA256", PIN),
                ("OUTPOST_TRAP_ENABLED", "true"),
                ("OUTPOST_TRAP_LISTEN", "127.0.0.1"),
                ("OUTPOST_TRAP_PORT", "1162"),
            ]),
            flags: vec![],
        })
        .unwrap()
        .config;
        let broker = c.uplink.mqtt.url.unwrap().into_vec().remove(0);
        assert_eq!(
            (broker.host.as_str(), broker.port, broker.tls),
            ("::1", 8883, true)
        );
        assert_eq!(c.uplink.mqtt.protocol, crate::uplink::mqtt::Protocol::V5);
        assert_eq!(
            c.uplink.ws.url.as_deref(),
            Some("wss://cp.example/socket/websocket?vsn=2.0.0")
        );
        assert_eq!(c.uplink.ws.pin_sha256, Some([0xab; 32]));
        let trap = c.trap.unwrap();
        assert_eq!(trap.listen, vec!["127.0.0.1:1162".parse().unwrap()]);
    }

    #[test]
    fn every_default_key_is_known_to_the_config_type() {
        // A key in the table the struct does not take would fail deny_unknown_fields.
        for k in KEYS {
            assert!(k
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_'));
        }
        load(Sources {
            file: None,
            env: &|_| None,
            flags: vec![],
        })
        .unwrap();
    }
}
