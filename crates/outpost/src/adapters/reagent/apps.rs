//! Reagent's app vocabulary (../shared/compat/reagent.md §3 `request_app_state`, §4
//! `update_app_on_device`, §6 the app model), pure: a request's arguments checked into a
//! [`Request`], Reagent's names for the app's container and image, the Compose text the
//! request becomes for Outpost's apps reconciler, and the states reported.
//!
//! Naming (Reagent's `common/utils.go`, lower-cased): container `<stage>_<key>_<name>`,
//! image `<registry><repository><stage>_<arch>_<key>_<name>:<version>`, label
//! `real=True`. The Outpost app is named as the container (its one service is `app`, the
//! container keeps Reagent's name through Compose's `container_name`), so the reconciler
//! owns it by its `outpost.*` labels and an existing Reagent container of the same name and
//! label is adopted (see `outpost_containers::apps::adopt`).

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The label Reagent puts on its app containers (it writes `True`, reads `true`).
pub const REAL_LABEL: (&str, &str) = ("real", "True");
/// The one service of a Reagent app in Outpost's Compose text.
pub const SERVICE: &str = "app";
/// Reagent's restart delays stop growing at an hour.
pub const MAX_BACKOFF_MS: u64 = 3_600_000;
/// Reagent's first restart delay.
pub const BACKOFF_MS: u64 = 5_000;
/// Requested states kept at most (one per app and stage).
pub const MAX_APPS: usize = 256;

/// Reagent's app states (common/constants.go), those this adapter reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AppState {
    Removed,
    Present,
    Downloading,
    Starting,
    Running,
    Stopping,
    Deleting,
    Failed,
}

impl AppState {
    pub fn name(self) -> &'static str {
        match self {
            AppState::Removed => "REMOVED",
            AppState::Present => "PRESENT",
            AppState::Downloading => "DOWNLOADING",
            AppState::Starting => "STARTING",
            AppState::Running => "RUNNING",
            AppState::Stopping => "STOPPING",
            AppState::Deleting => "DELETING",
            AppState::Failed => "FAILED",
        }
    }
}

/// The states a caller may request (Reagent's others are DEV builds and publishing,
/// which Outpost does not do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Target {
    Running,
    Present,
    Removed,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Running => "RUNNING",
            Target::Present => "PRESENT",
            Target::Removed => "REMOVED",
        }
    }
}

/// A checked `request_app_state`, as kept (and answered by `get_requested_app_states`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub app_key: u64,
    pub app_name: String,
    /// `PROD` (DEV apps are built on the device from uploaded sources: not supported).
    pub stage: String,
    pub target: Target,
    pub version: String,
    /// `environment{NAME: {value}}`, flattened.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub requestor_account_key: Option<u64>,
    #[serde(default)]
    pub release_key: Option<u64>,
    #[serde(default)]
    pub request_update: bool,
}

impl Request {
    /// Reagent's container name, also the Outpost app's name.
    pub fn container(&self) -> String {
        format!("{}_{}_{}", self.stage, self.app_key, self.app_name).to_lowercase()
    }

    /// Reagent's image name for this request.
    pub fn image(&self, d: &DeviceInfo) -> String {
        format!(
            "{}{}{}_{}_{}_{}:{}",
            d.registry, d.repository, self.stage, d.arch, self.app_key, self.app_name, self.version
        )
        .to_lowercase()
    }

    /// The app's Compose text: one service in Reagent's container, with Reagent's label and
    /// environment, restarted by the reconciler (with its backoff) whenever it dies.
    pub fn compose(&self, d: &DeviceInfo) -> String {
        let q = outpost_containers::apps::emit::quote;
        let mut env = self.environment.clone();
        for (k, v) in [
            ("DEVICE_SERIAL_NUMBER", d.serial.clone()),
            ("ENV", self.stage.clone()),
            ("DEVICE_KEY", d.device_key.to_string()),
            ("SWARM_KEY", d.swarm_key.to_string()),
            ("APP_KEY", self.app_key.to_string()),
            ("APP_NAME", self.app_name.clone()),
            ("DEVICE_NAME", d.name.clone()),
            ("DEVICE_ENDPOINT_URL", d.endpoint.clone()),
        ] {
            env.insert(k.to_owned(), v);
        }
        let mut out = format!(
            "services:\n  {SERVICE}:\n    image: {}\n    container_name: {}\n    restart: \"always\"\n    x-outpost-restart-backoff: {{initial: \"{}ms\", max: \"{}ms\", growth: square}}\n    labels:\n      {}: {}\n    environment:\n",
            q(&self.image(d)),
            q(&self.container()),
            d.backoff_ms.max(1),
            MAX_BACKOFF_MS.max(d.backoff_ms),
            q(REAL_LABEL.0),
            q(REAL_LABEL.1),
        );
        for (k, v) in &env {
            let _ = writeln!(out, "      {}: {}", q(k).replace("$$", "$"), q(v));
        }
        out
    }

    /// The record `get_requested_app_states` answers (Reagent's field names).
    pub fn record(&self, current: Option<AppState>) -> Value {
        json!({
            "app_key": self.app_key,
            "app_name": self.app_name,
            "stage": self.stage,
            "target_state": self.target.name(),
            "manually_requested_state": self.target.name(),
            "current_state": current.map(AppState::name),
            "present_version": self.version,
            "newest_version": self.version,
            "release_key": self.release_key,
            "request_update": self.request_update,
            "requestor_account_key": self.requestor_account_key,
            "environment": self.environment.iter().map(|(k, v)| (k.clone(), json!({"value": v}))).collect::<Map<_, _>>(),
        })
    }

    /// `update_app_on_device`'s state payload.
    pub fn report(&self, state: AppState, d: &DeviceInfo) -> Value {
        json!({
            "app_key": self.app_key,
            "device_key": d.device_key,
            "swarm_key": d.swarm_key,
            "serial_number": d.serial,
            "stage": self.stage,
            "state": state.name(),
            "manually_requested_state": self.target.name(),
            "requestor_account_key": self.requestor_account_key,
            "release_key": self.release_key,
            "request_update": self.request_update,
        })
    }
}

/// What the names and the environment need from the `.flock`.
#[derive(Debug, Clone, Default)]
pub struct DeviceInfo {
    pub serial: String,
    pub swarm_key: u64,
    pub device_key: u64,
    pub name: String,
    pub endpoint: String,
    /// `docker_registry_url` (with its trailing `/`), empty when unset.
    pub registry: String,
    /// `docker_main_repository`, empty when unset.
    pub repository: String,
    /// `architecture`, else the Go name of this machine's.
    pub arch: String,
    /// The first restart delay of a crashed app (`reagent.app_backoff_ms`).
    pub backoff_ms: u64,
}

impl DeviceInfo {
    /// The optional image keys of the `.flock` (the session keys are read by `flock.rs`).
    pub fn with_flock_text(mut self, text: &[u8]) -> Self {
        let v: Value = serde_json::from_slice(text).unwrap_or(Value::Null);
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        self.registry = s("docker_registry_url").unwrap_or_default();
        self.repository = s("docker_main_repository").unwrap_or_default();
        if let Some(a) = s("architecture").filter(|a| !a.is_empty()) {
            self.arch = a;
        }
        self
    }
}

/// Reagent's app names are words: letters, digits, `_` and `-` (the container name must
/// be a Docker name, the image name a reference).
fn app_name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn version_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A key that is a number, or a number in text (the backend sends both).
fn key(d: &Map<String, Value>, k: &str) -> Result<Option<u64>, String> {
    match d.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("{k} must be a non-negative integer")),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| format!("{k} must be a non-negative integer")),
        Some(_) => Err(format!("{k} must be a non-negative integer")),
    }
}

fn text<'a>(d: &'a Map<String, Value>, k: &str) -> Result<Option<&'a str>, String> {
    match d.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{k} must be a string")),
    }
}

/// `request_app_state`'s dict (kwargs, or `args[0]`), checked. Every error names the field.
pub fn parse_request(d: &Map<String, Value>) -> Result<Request, String> {
    let app_key = key(d, "app_key")?.ok_or("app_key is missing")?;
    let app_name = text(d, "app_name")?.ok_or("app_name is missing")?;
    if !app_name_ok(app_name) {
        return Err(format!(
            "app_name {:?} is not a name (letters, digits, _ and -, at most 40)",
            outpost_proto::bounded(app_name)
        ));
    }
    let stage = text(d, "stage")?.ok_or("stage is missing")?;
    match stage {
        "PROD" => {}
        "DEV" => {
            return Err(
                "stage DEV is not supported: Outpost does not build apps on the device".into(),
            )
        }
        other => {
            return Err(format!(
                "stage {:?} is neither PROD nor DEV",
                outpost_proto::bounded(other)
            ))
        }
    }
    let wanted = match text(d, "target_state")? {
        Some(t) => t,
        None => text(d, "manually_requested_state")?
            .ok_or("target_state (or manually_requested_state) is missing")?,
    };
    parse_with(d, app_key, app_name, stage, wanted)
}

/// A record of the backend's `get_requested_app_states` (what the platform wants of the
/// device when it joins): its `manually_requested_state` is the request (Reagent's).
pub fn parse_record(d: &Map<String, Value>) -> Result<Request, String> {
    let mut d = d.clone();
    if let Some(m) = d.get("manually_requested_state").cloned() {
        d.insert("target_state".into(), m);
    }
    if !d.contains_key("version") {
        if let Some(v) = d.get("present_version").cloned() {
            d.insert("version".into(), v);
        }
    }
    parse_request(&d)
}

fn parse_with(
    d: &Map<String, Value>,
    app_key: u64,
    app_name: &str,
    stage: &str,
    wanted: &str,
) -> Result<Request, String> {
    let target = match wanted {
        "RUNNING" => Target::Running,
        "PRESENT" | "STOPPED" => Target::Present,
        "REMOVED" | "UNINSTALLED" => Target::Removed,
        other => {
            return Err(format!(
            "target_state {:?} is not supported (RUNNING, PRESENT, STOPPED, REMOVED, UNINSTALLED)",
            outpost_proto::bounded(other)
        ))
        }
    };
    let version = match text(d, "version")? {
        Some(v) => v,
        None => text(d, "present_version")?.ok_or("version is missing")?,
    };
    if !version_ok(version) {
        return Err(format!(
            "version {:?} is not an image tag",
            outpost_proto::bounded(version)
        ));
    }
    let mut environment = BTreeMap::new();
    match d.get("environment") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let ok = !k.is_empty()
                    && k.len() <= 128
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !ok {
                    return Err(format!(
                        "environment: {:?} is not a variable name",
                        outpost_proto::bounded(k)
                    ));
                }
                let value = match v.get("value") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                };
                environment.insert(k.clone(), value);
            }
        }
        Some(_) => return Err("environment must be a dict of {NAME: {value}}".into()),
    }
    // The container (and Outpost app) name is a Docker name of at most 63 characters.
    let container_len = stage.len() + app_key.to_string().len() + app_name.len() + 2;
    if container_len > 63 {
        return Err(format!(
            "app_name: the container name {stage}_{app_key}_<app_name> would be longer than 63 characters"
        ));
    }
    let request_update = match d.get("request_update") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("request_update must be true or false".into()),
    };
    Ok(Request {
        app_key,
        app_name: app_name.to_owned(),
        stage: stage.to_owned(),
        target,
        version: version.to_owned(),
        environment,
        requestor_account_key: key(d, "requestor_account_key").or_else(|_| key(d, "account_id"))?,
        release_key: key(d, "release_key")?,
        request_update,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> DeviceInfo {
        DeviceInfo {
            serial: "SER".into(),
            swarm_key: 7,
            device_key: 42,
            name: "edge".into(),
            endpoint: "ws://r/ws".into(),
            registry: "registry.ironflock.com/".into(),
            repository: "apps/".into(),
            arch: "amd64".into(),
            backoff_ms: BACKOFF_MS,
        }
    }

    fn req(v: Value) -> Result<Request, String> {
        parse_request(v.as_object().unwrap())
    }

    #[test]
    fn issue19_request_app_state_names_and_compose() {
        let r = req(
            json!({"app_key": 12, "app_name": "Weather", "stage": "PROD",
            "target_state": "RUNNING", "version": "1.0.2", "requestor_account_key": "5",
            "environment": {"CITY": {"value": "Oslo"}, "N": {"value": 3}}}),
        )
        .unwrap();
        assert_eq!(r.container(), "prod_12_weather");
        assert_eq!(
            r.image(&dev()),
            "registry.ironflock.com/apps/prod_amd64_12_weather:1.0.2"
        );
        assert_eq!(r.requestor_account_key, Some(5));
        let app = outpost_containers::apps::parse(
            r.compose(&dev()).as_bytes(),
            &r.container(),
            std::path::Path::new("/"),
        )
        .unwrap();
        let s = &app.services[SERVICE];
        assert_eq!(s.container_name.as_deref(), Some("prod_12_weather"));
        assert_eq!(s.labels["real"], "True");
        assert_eq!(s.environment["CITY"], "Oslo");
        assert_eq!(s.environment["N"], "3");
        assert_eq!(s.environment["APP_KEY"], "12");
        assert_eq!(s.environment["ENV"], "PROD");
        assert_eq!(s.environment["DEVICE_SERIAL_NUMBER"], "SER");
        let b = s.restart_backoff.expect("Reagent's backoff");
        assert_eq!((b.initial_ms, b.max_ms), (5_000, 3_600_000));
        assert_eq!(b.growth, outpost_containers::apps::Growth::Square);
        let rep = r.report(AppState::Running, &dev());
        assert_eq!(rep["state"], "RUNNING");
        assert_eq!(rep["device_key"], 42);
        assert_eq!(
            r.record(Some(AppState::Present))["current_state"],
            "PRESENT"
        );
    }

    #[test]
    fn issue19_request_app_state_bad_arguments_name_the_field() {
        let base = json!({"app_key": 1, "app_name": "a", "stage": "PROD",
            "target_state": "RUNNING", "version": "1"});
        assert!(req(base.clone()).is_ok());
        for (k, v, want) in [
            ("app_key", json!(-1), "app_key"),
            ("app_key", json!(null), "app_key is missing"),
            ("app_name", json!("a b"), "app_name"),
            ("app_name", json!(""), "app_name"),
            ("stage", json!("DEV"), "DEV"),
            ("stage", json!("X"), "stage"),
            ("target_state", json!("BUILT"), "target_state"),
            ("target_state", json!(3), "target_state"),
            ("version", json!("1 2"), "version"),
            ("environment", json!([1]), "environment"),
            ("environment", json!({"A B": {"value": "x"}}), "environment"),
            ("request_update", json!("yes"), "request_update"),
        ] {
            let mut b = base.clone();
            b[k] = v.clone();
            let e = req(b).expect_err(&format!("{k}={v}"));
            assert!(e.contains(want), "{k}={v}: {e}");
        }
        // A backend record: manually_requested_state and present_version are the request.
        let rec = json!({"app_key": 1, "app_name": "a", "stage": "PROD",
            "target_state": "PRESENT", "manually_requested_state": "RUNNING",
            "present_version": "2", "current_state": "RUNNING"});
        let r = parse_record(rec.as_object().unwrap()).unwrap();
        assert_eq!((r.target, r.version.as_str()), (Target::Running, "2"));
        // prod_18446744073709551615_<40 characters> is not a Docker name.
        let mut b = base.clone();
        b["app_key"] = json!(u64::MAX);
        b["app_name"] = json!("a".repeat(40));
        assert!(req(b).unwrap_err().contains("longer than 63"));
        // STOPPED is PRESENT (Reagent's stop removes the container).
        let mut b = base;
        b["target_state"] = json!("STOPPED");
        assert_eq!(req(b).unwrap().target, Target::Present);
    }
}
