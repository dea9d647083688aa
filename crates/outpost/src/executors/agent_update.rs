//! `agent.update` (issue 16 §4): an update over any uplink. The signed path by default
//! (`update.url`'s manifest for `update.channel`, or the job's `channel`); Towerops'
//! checksum-only `{url, checksum}` only when `update.allow_unsigned_checksum` is on, and
//! then logged at warn every time. Either way the build is downloaded with a cap, checked
//! against its SHA-256 in constant time and swapped in keeping the previous one; the job
//! then succeeds, the agent restarts into the new version, and its probation decides
//! (crate::probation). A refusal fails the job with the updater's code and stores an
//! `agent.update` event `refused`, so the control plane learns it whichever way it asked.
//! Inside a container the binary is never replaced: `in_container`.

use std::path::PathBuf;

use outpost_core::executor::ParamError;
use outpost_core::{Event, EventIds, ExecError, Executor, JobContext, Store};
use serde::{Deserialize, Serialize};

use crate::lifecycle::Lifecycle;
use crate::probation::{self, Pending};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateParams {
    /// Another channel than `update.channel` for this update.
    #[serde(default)]
    pub channel: Option<String>,
    /// Checksum-only (Towerops' `update`): the build's https URL ...
    #[serde(default)]
    pub url: Option<String>,
    /// ... and its SHA-256, 64 hex digits.
    #[serde(default)]
    pub checksum: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct UpdateOutput {
    pub updated: bool,
    pub from: String,
    pub to: Option<String>,
    /// Where the build that ran before is kept.
    pub previous: Option<PathBuf>,
}

pub struct AgentUpdate {
    /// The updater's settings; `Err` holds why the config cannot make them.
    pub settings: Result<outpost_update::Settings, String>,
    pub allow_unsigned_checksum: bool,
    pub probation_ms: u64,
    pub data_dir: PathBuf,
    pub store: Store,
    pub lifecycle: Lifecycle,
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    let b = hex::decode(s).ok()?;
    b.try_into().ok()
}

impl AgentUpdate {
    async fn refused(&self, code: &str, reason: String) -> ExecError {
        let payload = serde_json::json!({
            "outcome": "refused", "code": code, "reason": reason,
            "from": crate::version::get(),
        });
        if let Ok(raw) = serde_json::value::to_raw_value(&payload) {
            let ev = Event::encoded(&mut EventIds::new(), probation::EVENT_KIND, raw);
            if let Err(e) = self.store.append_events(vec![ev]).await {
                tracing::error!(error = %e, "update: cannot store the refusal");
            }
        }
        tracing::warn!(code, reason = %reason, "update: refused");
        ExecError::new(code, reason)
    }
}

impl Executor for AgentUpdate {
    type Params = UpdateParams;
    type Output = UpdateOutput;

    fn kind(&self) -> &'static str {
        "agent.update"
    }

    fn check(&self, p: &UpdateParams) -> Result<(), ParamError> {
        let field = |f: &str, m: &str| ParamError {
            field: f.into(),
            message: m.into(),
        };
        match (&p.url, &p.checksum) {
            (Some(_), None) => return Err(field("checksum", "required with url")),
            (None, Some(_)) => return Err(field("url", "required with checksum")),
            (Some(u), Some(c)) => {
                if !u.starts_with("https://") {
                    return Err(field("url", "must be an https:// URL"));
                }
                if c.len() != 64 || hex32(c).is_none() {
                    return Err(field("checksum", "must be a SHA-256: 64 hex digits"));
                }
                if p.channel.is_some() {
                    return Err(field("channel", "not with a checksum-only update"));
                }
            }
            (None, None) => {}
        }
        if let Some(c) = &p.channel {
            if !outpost_update::manifest::valid_name(c) {
                return Err(field(
                    "channel",
                    "1 to 64 lowercase letters, digits, '_', '-' or '.'",
                ));
            }
        }
        Ok(())
    }

    async fn run(&self, p: UpdateParams, cx: JobContext) -> Result<UpdateOutput, ExecError> {
        tracing::info!(source = %cx.source, job = %cx.id, "update: requested");
        let mut settings = match &self.settings {
            Ok(s) => s.clone(),
            Err(e) => return Err(self.refused("bad_settings", e.clone()).await),
        };
        let from = crate::version::get().to_owned();
        let checksum_only = p.url.clone().zip(p.checksum.as_deref().and_then(hex32));
        let (to, previous) = match checksum_only {
            Some((url, sha)) => {
                if !self.allow_unsigned_checksum {
                    return Err(self
                        .refused(
                            "unsigned_not_allowed",
                            "a checksum-only update is not signed; it is accepted only with update.allow_unsigned_checksum = true".into(),
                        )
                        .await);
                }
                tracing::warn!(url = %url, "update: a checksum-only update, unsigned (update.allow_unsigned_checksum is on)");
                let updater = outpost_update::Updater::new(settings)
                    .map_err(|e| ExecError::new(e.code(), e.to_string()))?;
                match updater.apply_checksum_only(&url, sha).await {
                    // The new build's version is known once it runs.
                    Ok(prev) => (probation::UNKNOWN_VERSION.to_owned(), prev),
                    Err(e) => return Err(self.refused(e.code(), e.to_string()).await),
                }
            }
            None => {
                if settings.base_url.is_empty() {
                    return Err(self
                        .refused("bad_settings", "update.url is not set".into())
                        .await);
                }
                if let Some(c) = p.channel {
                    settings.channel = c;
                }
                let updater = match outpost_update::Updater::new(settings) {
                    Ok(u) => u,
                    Err(e) => return Err(self.refused(e.code(), e.to_string()).await),
                };
                match updater.apply(outpost_update::unix_now()).await {
                    Ok(outpost_update::Outcome::UpToDate { version }) => {
                        return Ok(UpdateOutput {
                            updated: false,
                            from,
                            to: Some(version.to_string()),
                            previous: None,
                        })
                    }
                    Ok(outpost_update::Outcome::Updated { to, previous, .. }) => {
                        (to.to_string(), previous)
                    }
                    Err(e) => return Err(self.refused(e.code(), e.to_string()).await),
                }
            }
        };
        let binary = match &self.settings {
            Ok(s) => s.binary.clone(),
            Err(_) => return Err(ExecError::new("bad_settings", "no binary")),
        };
        let pending = Pending {
            from: from.clone(),
            to: to.clone(),
            binary,
            previous: previous.clone(),
            probation_ms: self.probation_ms,
            started_ms: outpost_core::clock::now_ms(),
            attempts: 0,
            rolled_back: None,
        };
        if let Err(e) = probation::begin(&self.data_dir, &pending) {
            return Err(ExecError::new(
                "io",
                format!("the new build is in place, but its probation marker is not: {e}"),
            ));
        }
        // The job's result is stored in the drain this restart starts.
        self.lifecycle.restart();
        Ok(UpdateOutput {
            updated: true,
            from,
            to: Some(to),
            previous: Some(previous),
        })
    }
}
