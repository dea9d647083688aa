//! Reagent's `.flock` device file (../shared/compat/reagent.md §2): the keys a WAMP session
//! needs, read into typed settings. A missing key or one of the wrong type is an error
//! naming it; the secret is kept as a [`SecretString`], never printed. Keys we do not use
//! (board, wlan, registry...) are left alone: IronFlock writes the file and may add keys.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde_json::{Map, Value};

/// The `.flock` file cannot be used: which file, which key, why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlockError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{path}: key {key:?}: {message}")]
    Key {
        path: String,
        key: &'static str,
        message: String,
    },
}

/// What the session needs from a `.flock`.
#[derive(Debug, Clone)]
pub struct Flock {
    pub path: PathBuf,
    pub swarm_key: u64,
    pub device_key: u64,
    /// `serial_number`: the `re.mgmt.<serial>.` prefix of every registered procedure.
    pub serial: String,
    /// `device_endpoint_url`, verbatim (ws:// or wss://).
    pub endpoint: String,
    /// `secret`: the WAMP-CRA key (HMAC-SHA256, as-is).
    pub secret: SecretString,
    pub name: Option<String>,
}

impl Flock {
    /// The WAMP authid: `<swarm_key>-<device_key>`.
    pub fn authid(&self) -> String {
        format!("{}-{}", self.swarm_key, self.device_key)
    }

    pub fn read(path: &Path) -> Result<Flock, FlockError> {
        let text = std::fs::read(path).map_err(|e| FlockError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Flock, FlockError> {
        let shown = path.display().to_string();
        let file = |message: String| FlockError::File {
            path: shown.clone(),
            message,
        };
        let v: Value = serde_json::from_slice(bytes).map_err(|e| {
            file(format!(
                "not JSON: {}",
                outpost_proto::bounded(&e.to_string())
            ))
        })?;
        let Value::Object(map) = v else {
            return Err(file("not a JSON object".into()));
        };
        let r = Reader {
            path: &shown,
            map: &map,
        };
        let serial = r.string("serial_number")?;
        // The serial is one component of every procedure URI: no dots, no whitespace.
        if serial.is_empty() || serial.contains(['.', '#']) || serial.contains(char::is_whitespace)
        {
            return Err(r.key(
                "serial_number",
                "must be non-empty without '.', '#' or whitespace (it is a URI component)",
            ));
        }
        let endpoint = r.string("device_endpoint_url")?;
        if !(endpoint.starts_with("ws://") || endpoint.starts_with("wss://")) {
            return Err(r.key("device_endpoint_url", "must be a ws:// or wss:// URL"));
        }
        let secret = r.string("secret")?;
        if secret.is_empty() {
            return Err(r.key("secret", "is empty"));
        }
        Ok(Flock {
            path: path.to_owned(),
            swarm_key: r.int("swarm_key")?,
            device_key: r.int("device_key")?,
            serial,
            endpoint,
            secret: SecretString::from(secret),
            name: map.get("name").and_then(Value::as_str).map(str::to_owned),
        })
    }
}

struct Reader<'a> {
    path: &'a str,
    map: &'a Map<String, Value>,
}

impl Reader<'_> {
    fn key(&self, key: &'static str, message: &str) -> FlockError {
        FlockError::Key {
            path: self.path.to_owned(),
            key,
            message: message.to_owned(),
        }
    }

    fn string(&self, key: &'static str) -> Result<String, FlockError> {
        match self.map.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            None => Err(self.key(key, "is missing")),
            Some(_) => Err(self.key(key, "must be a string")),
        }
    }

    /// Reagent's handlers assert unsigned integers: a key is a non-negative integer.
    fn int(&self, key: &'static str) -> Result<u64, FlockError> {
        match self.map.get(key) {
            Some(Value::Number(n)) => n
                .as_u64()
                .ok_or_else(|| self.key(key, "must be a non-negative integer")),
            None => Err(self.key(key, "is missing")),
            Some(_) => Err(self.key(key, "must be a non-negative integer")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use serde_json::json;

    fn good() -> Value {
        json!({
            "name": "edge-1", "secret": "s3cr3t", "swarm_key": 7, "device_key": 42,
            "serial_number": "A1B2C3", "device_endpoint_url": "wss://cbw.ironflock.com/ws-re-dev",
            "board": {"cpu": "arm"}, "authentication": {"key": "", "certificate": ""}
        })
    }

    fn parse(v: &Value) -> Result<Flock, FlockError> {
        Flock::parse(Path::new("device.flock"), v.to_string().as_bytes())
    }

    #[test]
    fn issue19_flock_reads_the_session_keys() {
        let f = parse(&good()).unwrap();
        assert_eq!(f.authid(), "7-42");
        assert_eq!(f.serial, "A1B2C3");
        assert_eq!(f.endpoint, "wss://cbw.ironflock.com/ws-re-dev");
        assert_eq!(f.secret.expose_secret(), "s3cr3t");
        assert_eq!(f.name.as_deref(), Some("edge-1"));
        assert!(
            !format!("{f:?}").contains("s3cr3t"),
            "the secret is redacted"
        );
    }

    #[test]
    fn issue19_flock_errors_name_the_key() {
        for (key, value, want) in [
            ("secret", Value::Null, "must be a string"),
            ("secret", json!(""), "is empty"),
            ("swarm_key", json!("7"), "must be a non-negative integer"),
            ("device_key", json!(-1), "must be a non-negative integer"),
            ("serial_number", json!("a.b"), "URI component"),
            ("device_endpoint_url", json!("https://x"), "ws:// or wss://"),
        ] {
            let mut v = good();
            v[key] = value;
            let e = parse(&v).unwrap_err().to_string();
            assert!(
                e.contains(&format!("{key:?}")) && e.contains(want),
                "{key}: {e}"
            );
        }
        let mut v = good();
        v.as_object_mut().unwrap().remove("device_key");
        assert!(parse(&v)
            .unwrap_err()
            .to_string()
            .contains("\"device_key\": is missing"));
        let e = Flock::parse(Path::new("x.flock"), b"{nope")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.flock: not JSON"), "{e}");
    }
}
