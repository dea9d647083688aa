//! SocketMan's `config.json` (and its MAC file), read with SocketMan's keys, defaults and
//! clamps (../shared/compat/socketman.md §1), into typed settings. What SocketMan did with
//! bad input (overflowing fixed buffers, ignoring a key of the wrong type, an unset value
//! read as garbage) becomes an error naming the key. What it clamped (a `monitor` under 15,
//! a `reboot` under 300) is clamped the same way, and each clamp is reported so the start-up
//! log can say so. Keys SocketMan never read are kept out of the way, not refused: the
//! provisioning server writes the file verbatim, and may add keys.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Where SocketMan's init script writes the WAN MAC (the README's default for `mac_file`).
pub const DEFAULT_MAC_FILE: &str = "/etc/mac";
/// SocketMan's default `health_url`.
pub const DEFAULT_HEALTH_URL: &str = "health.cucumberwifi.io";

/// A `config.json` (or MAC file) that cannot be used, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{path}: key {key:?}: {message}")]
    Key {
        path: String,
        key: String,
        message: String,
    },
}

/// The broker SocketMan talks to: everything its MQTT session needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mqtt {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// `cacrt`: the CA the broker's certificate is verified against (with `tls`).
    pub cacrt: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub topic: String,
    pub key: String,
}

/// The settings read from `config.json`, clamped as SocketMan clamped them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub path: PathBuf,
    /// `None` when `disable_mqtt` is present (with any value, as in SocketMan).
    pub mqtt: Option<Mqtt>,
    /// `XX-XX-XX-XX-XX-XX`, from `mac` or else the MAC file.
    pub mac: String,
    pub mac_file: PathBuf,
    /// Seconds between monitor passes (≥ 15).
    pub monitor: u64,
    /// Seconds between stats uploads (> monitor, ≤ 300).
    pub sleep: u64,
    /// Seconds between PINGs (≥ 30).
    pub ping_interval: u64,
    pub no_ping: bool,
    pub no_cache: bool,
    pub scan: bool,
    pub survey: bool,
    /// Job results by HTTP PATCH instead of PROCESSED.
    pub rest: bool,
    /// Seconds offline before recovery; 0 = off, else ≥ 300.
    pub reboot: u64,
    pub health_url: String,
    pub health_port: u16,
    pub insecure: bool,
    pub api_url: Option<String>,
    pub stats_url: Option<String>,
    pub backup_stats_url: Option<String>,
    pub token: Option<String>,
    pub boot_url: Option<String>,
    /// `None` for SocketMan's `"0"` (off) as well as for an absent key.
    pub boot_cmd: Option<String>,
    /// `cacrt`, also trusted for the HTTPS calls (stats, REST, boot) with MQTT off.
    pub cacrt: Option<PathBuf>,
    pub debug: bool,
    /// Values raised or lowered to SocketMan's limits: `(key, what was done)`.
    pub clamped: Vec<(String, String)>,
    /// Keys SocketMan does not read (kept out of the way, logged at start).
    pub ignored: Vec<String>,
}

/// Every key SocketMan's `parse_config` reads, plus the README's `heartbeat`.
const KNOWN: &[&str] = &[
    "username",
    "password",
    "topic",
    "key",
    "mqtt_host",
    "port",
    "tls",
    "cacrt",
    "api_url",
    "stats_url",
    "backup_stats_url",
    "token",
    "mac",
    "mac_file",
    "monitor",
    "sleep",
    "ping-interval",
    "no-ping",
    "no-cache",
    "scan",
    "survey",
    "rest",
    "reboot",
    "health_url",
    "health_port",
    "qos",
    "insecure",
    "boot_url",
    "boot_cmd",
    "debug",
    "disable_mqtt",
    "heartbeat",
];

struct Reader<'a> {
    path: String,
    obj: &'a Map<String, Value>,
}

impl Reader<'_> {
    fn bad(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Key {
            path: self.path.clone(),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    /// A string key; absent or `null` is `None`, an empty string too.
    fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => {
                if s.chars().any(char::is_control) {
                    return Err(self.bad(key, "must not contain control characters"));
                }
                Ok(Some(s.clone()))
            }
            Some(other) => Err(self.bad(key, format!("must be a string, not {}", kind(other)))),
        }
    }

    /// An integer key: a JSON integer, or a string of digits (json-c's `get_int` read both).
    fn int(&self, key: &str) -> Result<Option<i64>, ConfigError> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) => Ok(Some(i)),
                None => Err(self.bad(key, format!("must be a whole number, not {n}"))),
            },
            Some(Value::String(s)) => match s.trim().parse::<i64>() {
                Ok(i) => Ok(Some(i)),
                Err(_) => Err(self.bad(key, format!("must be a whole number, not {s:?}"))),
            },
            Some(other) => {
                Err(self.bad(key, format!("must be a whole number, not {}", kind(other))))
            }
        }
    }

    /// A 0/1 switch: a JSON boolean, or the integers 0 and 1 (SocketMan's own configs use
    /// both).
    fn switch(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => match self.int(key)? {
                Some(0) => Ok(false),
                Some(1) => Ok(true),
                _ => Err(self.bad(key, format!("must be true/false or 0/1, not {}", short(v)))),
            },
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 40 {
        let mut end = 40;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s
    }
}

/// `XX-XX-XX-XX-XX-XX` with hex digits (SocketMan's `valid_mac`). The case is kept: the
/// MAC is part of the topics, which the backend matches byte for byte.
pub fn valid_mac(mac: &str) -> bool {
    let b = mac.as_bytes();
    b.len() == 17
        && b.iter().enumerate().all(|(i, c)| {
            if i % 3 == 2 {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// A topic or key: one non-empty topic level, with none of MQTT's wildcards.
fn topic_level(r: &Reader<'_>, key: &str) -> Result<String, ConfigError> {
    let Some(v) = r.string(key)? else {
        return Err(r.bad(key, "missing (needed for the MQTT topics)"));
    };
    if v.contains(['/', '+', '#']) {
        return Err(r.bad(key, "must be one topic level: no '/', '+' or '#'"));
    }
    Ok(v)
}

/// Reads and checks `path`, reading the MAC file when `mac` is not in it.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read(path).map_err(|e| ConfigError::File {
        path: shown.clone(),
        message: format!("cannot read: {e}"),
    })?;
    parse(path, &text, &|p| std::fs::read_to_string(p))
}

/// [`load`] on bytes already read; `read_mac` reads the MAC file (a closure, for tests).
pub fn parse(
    path: &Path,
    text: &[u8],
    read_mac: &dyn Fn(&Path) -> std::io::Result<String>,
) -> Result<Settings, ConfigError> {
    let shown = path.display().to_string();
    let file = |message: String| ConfigError::File {
        path: shown.clone(),
        message,
    };
    let value: Value =
        serde_json::from_slice(text).map_err(|e| file(format!("not valid JSON: {e}")))?;
    let Value::Object(obj) = &value else {
        return Err(file(format!("must be a JSON object, not {}", kind(&value))));
    };
    let r = Reader {
        path: shown.clone(),
        obj,
    };
    let mut clamped = Vec::new();
    let mut clamp = |key: &str, what: String| clamped.push((key.to_owned(), what));

    // `monitor`: minimum 15, default 15.
    let monitor = match r.int("monitor")? {
        None => 15,
        Some(m) if m < 15 => {
            clamp("monitor", format!("{m} raised to 15"));
            15
        }
        Some(m) => m as u64,
    };
    // `sleep`: at most 300; not above `monitor`, it becomes monitor × 2.
    let sleep = match r.int("sleep")? {
        None => (monitor * 2).min(300),
        Some(s) if s <= monitor as i64 => {
            let v = (monitor * 2).min(300);
            clamp("sleep", format!("{s} (not above monitor) set to {v}"));
            v
        }
        Some(s) if s > 300 => {
            clamp("sleep", format!("{s} lowered to 300"));
            300
        }
        Some(s) => s as u64,
    };
    let ping_interval = match r.int("ping-interval")? {
        None => 30,
        Some(p) if p < 30 => {
            clamp("ping-interval", format!("{p} raised to 30"));
            30
        }
        Some(p) => p as u64,
    };
    let reboot = match r.int("reboot")? {
        None | Some(0) => 0,
        Some(n) if n < 0 => {
            return Err(r.bad(
                "reboot",
                format!("must be 0 (recovery off) or a number of seconds, not {n}"),
            ))
        }
        Some(n) if n < 300 => {
            clamp("reboot", format!("{n} raised to 300"));
            300
        }
        Some(n) => n as u64,
    };
    let health_port = match r.int("health_port")? {
        None => 53,
        Some(p) => u16::try_from(p)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| r.bad("health_port", format!("must be a port (1-65535), not {p}")))?,
    };
    // Read for the record: SocketMan overwrote it with 1 on every connect.
    if let Some(q) = r.int("qos")? {
        if q != 1 {
            clamp("qos", format!("{q} ignored: jobs are subscribed at QoS 1"));
        }
    }

    let mac_file = r
        .string("mac_file")?
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_MAC_FILE));
    let mac = match r.string("mac")? {
        Some(m) if valid_mac(&m) => m,
        Some(m) => {
            return Err(r.bad(
                "mac",
                format!("{m:?} is not a MAC written XX-XX-XX-XX-XX-XX (hex, dash-separated)"),
            ))
        }
        None => {
            let text = read_mac(&mac_file).map_err(|e| {
                r.bad(
                    "mac_file",
                    format!(
                        "no \"mac\" key, and the MAC file {} cannot be read: {e}",
                        mac_file.display()
                    ),
                )
            })?;
            let m = text.trim().to_owned();
            if !valid_mac(&m) {
                return Err(r.bad(
                    "mac_file",
                    format!(
                        "{} holds {:?}, not a MAC written XX-XX-XX-XX-XX-XX",
                        mac_file.display(),
                        short(&Value::String(m))
                    ),
                ));
            }
            m
        }
    };

    // `tls` must be a JSON boolean: SocketMan ignored an integer (a switch fall-through),
    // so a `1` there meant plain MQTT, which nobody writing it intended.
    let tls = match obj.get("tls") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            return Err(r.bad(
                "tls",
                format!(
                    "must be true or false, not {} (SocketMan silently ignored a number here)",
                    short(v)
                ),
            ))
        }
    };
    let cacrt = r.string("cacrt")?.map(PathBuf::from);
    let mqtt = if obj.contains_key("disable_mqtt") {
        None
    } else {
        let host = r
            .string("mqtt_host")?
            .ok_or_else(|| r.bad("mqtt_host", "missing (or set disable_mqtt)"))?;
        let port = match r.int("port")? {
            None => return Err(r.bad("port", "missing (the broker's port)")),
            Some(p) => u16::try_from(p)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| r.bad("port", format!("must be a port (1-65535), not {p}")))?,
        };
        if tls && cacrt.is_none() {
            return Err(r.bad(
                "cacrt",
                "missing: with tls the broker is verified against this CA file (it is never downloaded)",
            ));
        }
        Some(Mqtt {
            host,
            port,
            tls,
            cacrt: cacrt.clone(),
            username: r.string("username")?,
            password: r.string("password")?,
            topic: topic_level(&r, "topic")?,
            key: topic_level(&r, "key")?,
        })
    };
    let url = |key: &str| -> Result<Option<String>, ConfigError> {
        match r.string(key)? {
            Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                Err(r.bad(key, format!("{u:?} is not an http:// or https:// URL")))
            }
            other => Ok(other),
        }
    };
    let boot_cmd = r.string("boot_cmd")?.filter(|c| c != "0");
    let rest = r.switch("rest", false)?;
    let api_url = url("api_url")?;
    if rest && api_url.is_none() {
        return Err(r.bad(
            "api_url",
            "missing: with rest = 1 job results are sent to <api_url>/operations/<id>",
        ));
    }
    let mut ignored: Vec<String> = obj
        .keys()
        .filter(|k| !KNOWN.contains(&k.as_str()))
        .cloned()
        .collect();
    ignored.sort();
    Ok(Settings {
        path: path.to_owned(),
        mqtt,
        mac,
        mac_file,
        monitor,
        sleep,
        ping_interval,
        no_ping: r.switch("no-ping", false)?,
        no_cache: r.switch("no-cache", false)?,
        scan: r.switch("scan", true)?,
        survey: r.switch("survey", true)?,
        rest,
        reboot,
        health_url: r
            .string("health_url")?
            .unwrap_or_else(|| DEFAULT_HEALTH_URL.to_owned()),
        health_port,
        insecure: r.switch("insecure", false)?,
        api_url,
        stats_url: url("stats_url")?,
        backup_stats_url: url("backup_stats_url")?,
        token: r.string("token")?,
        boot_url: url("boot_url")?,
        boot_cmd,
        cacrt,
        debug: r.switch("debug", false)?,
        clamped,
        ignored,
    })
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
