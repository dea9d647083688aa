//! Once at start (../shared/compat/socketman.md §8): `GET <boot_url>?access_token&mac`,
//! whose 200 reply may carry a `cmd`, then `boot_cmd`. Both commands go through the same
//! allowlist as MQTT jobs (`jobs::request`: plain words, a shell only with
//! `socketman.allow_shell`), as audited `exec` jobs with source `socketman-boot:<where>`
//! (no reply is owed for them, so the MQTT side leaves them alone). Unlike SocketMan, the
//! GET's TLS is verified unless `insecure`, and a failed call is logged, not silent.

use std::{path::Path, sync::Arc};

use outpost_core::Dispatcher;

use super::{jobs, rest, Wire};

/// The source of boot commands: not `socketman:`, so no DELIVERED is sent for them.
pub const SOURCE_PREFIX: &str = "socketman-boot:";

/// What boot does, read from the config.
pub struct Boot {
    pub url: Option<reqwest::Url>,
    pub client: Option<reqwest::Client>,
    pub cmd: Option<String>,
}

impl Boot {
    pub fn new(
        boot_url: Option<&str>,
        boot_cmd: Option<String>,
        token: Option<&str>,
        mac: &str,
        insecure: bool,
        cacrt: Option<&Path>,
    ) -> Result<Boot, rest::RestError> {
        let (url, client) = match boot_url {
            Some(u) => (
                Some(rest::with_token(u, token, mac)?),
                Some(rest::client(insecure, cacrt)?),
            ),
            None => (None, None),
        };
        Ok(Boot {
            url,
            client,
            cmd: boot_cmd,
        })
    }
}

pub use super::jobs::reply_cmd;

/// Runs the boot steps once.
pub async fn run(boot: Boot, w: Arc<Wire>, dispatcher: Dispatcher) {
    if let (Some(url), Some(client)) = (&boot.url, &boot.client) {
        match client.get(url.clone()).send().await {
            Ok(r) if r.status().as_u16() == 200 => match r.bytes().await {
                Ok(body) => {
                    if let Some(cmd) = reply_cmd(&body) {
                        submit(&w, &dispatcher, "boot_url", &cmd).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "socketman: reading the boot reply failed"),
            },
            // SocketMan ignored 201 and 401 as well as any other answer.
            Ok(r) => tracing::info!(
                status = r.status().as_u16(),
                "socketman: boot message answered; nothing to run"
            ),
            Err(e) => tracing::warn!(error = %e, "socketman: the boot message was not sent"),
        }
    }
    if let Some(cmd) = &boot.cmd {
        submit(&w, &dispatcher, "boot_cmd", cmd).await;
    }
}

async fn submit(w: &Wire, dispatcher: &Dispatcher, from: &str, cmd: &str) {
    jobs::submit_reply_cmd(&w.policy(), dispatcher, SOURCE_PREFIX, from, cmd).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue18_boot_reply_cmd_and_url() {
        assert_eq!(reply_cmd(br#"{"cmd":"uptime"}"#).as_deref(), Some("uptime"));
        assert_eq!(reply_cmd(br#"{"cmd":""}"#), None);
        assert_eq!(reply_cmd(br#"{"cmd":5}"#), None);
        assert_eq!(reply_cmd(b"ok"), None);
        let u = rest::with_token("https://b.example/boot?x=1", Some("t k"), "AA-BB").unwrap();
        assert_eq!(
            u.as_str(),
            "https://b.example/boot?x=1&access_token=t+k&mac=AA-BB"
        );
    }
}
