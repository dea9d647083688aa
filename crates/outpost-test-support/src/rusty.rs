//! The rusty_agent adapter's test client: `outpost run` with `compat.rusty` on an ephemeral
//! port, over the HTTPS it generates (the client trusts that certificate only), with Basic
//! credentials; and the exec audit log the adapter's commands end up in.

use std::{path::Path, time::Duration};

use base64::Engine as _;
use serde_json::Value;

use crate::{
    agent::{Agent, Options},
    wait::wait_until,
};

pub const USER: &str = "Admin";
pub const PASS: &str = "s3cret-Pass";

/// The config: the adapter on an ephemeral port, exec with one allowlisted command, the
/// OpenSearch password set (the sink itself off: no URL) to see it redacted.
pub fn config(dir: &Path, inline: bool, hash: &str) -> std::path::PathBuf {
    let text = format!(
        r#"
[compat.rusty]
listen = "127.0.0.1:0"
user = "{USER}"
password_hash = "{hash}"

[sink.opensearch]
user = "osuser"
password = "os-password-never-shown"

[exec]
enabled = true
allow_inline = {inline}

[commands.hello]
argv = ["/bin/echo", "{{word}}"]
params.word = {{ type = "string", pattern = "[a-z]+" }}

[commands.greet]
argv = ["/bin/echo", "{{first}}", "and", "{{second}}"]
params.second = {{ type = "string", pattern = "[a-z]+" }}
params.first = {{ type = "integer", min = 1, max = 9 }}
"#
    );
    let path = dir.join("outpost.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub fn bcrypt_hash() -> String {
    // Cost 4 keeps the suite fast; the check is the same at rusty_agent's 10.
    bcrypt::hash(PASS, 4).unwrap()
}

pub struct Rusty {
    pub agent: Agent,
    pub base: String,
    http: reqwest::Client,
    pub data: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Rusty {
    pub fn start(inline: bool) -> Rusty {
        Self::start_with_hash(inline, &bcrypt_hash())
    }

    pub fn start_with_hash(inline: bool, hash: &str) -> Rusty {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), inline, hash);
        let data = dir.path().join("data");
        let agent = Agent::start(
            Options::new(&data)
                .arg("--config")
                .arg(cfg.to_str().unwrap()),
        );
        wait_until(
            "the adapter reports its address",
            Duration::from_secs(20),
            || {
                agent
                    .log_text()
                    .contains("serving rusty_agent's /agent API at https://")
            },
        );
        // The generated certificate names localhost: the client verifies it.
        let pem = std::fs::read(data.join("rusty/tls/cert.pem")).unwrap();
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let mut r = Rusty {
            agent,
            base: String::new(),
            http,
            data,
            _dir: dir,
        };
        r.rebase();
        r
    }

    /// The adapter's URL from the last address it reported (a restart binds a new port).
    pub fn rebase(&mut self) {
        let log = self.agent.log_text();
        let rest = log
            .rsplit("serving rusty_agent's /agent API at https://")
            .next()
            .unwrap();
        let addr: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
            .collect();
        let port = addr.rsplit(':').next().unwrap();
        self.base = format!("https://localhost:{port}");
    }

    pub fn req(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        self.http.request(m, format!("{}{path}", self.base))
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.req(method, path).basic_auth(USER, Some(PASS));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let st = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (st, v)
    }

    pub fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.data.join("audit.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

pub fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}
