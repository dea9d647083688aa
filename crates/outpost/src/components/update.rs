//! `update`: the `agent.update` job kind (issue 16 §4). Always on; no task, no timer (a
//! periodic check is not built: updates happen when a job or `outpost update` asks).

use crate::config::Config;
use crate::executors::agent_update::AgentUpdate;

use super::{Component, Registrar, Shared};

pub const NAME: &str = "update";

struct UpdateComponent {
    settings: Result<outpost_update::Settings, String>,
    allow_unsigned_checksum: bool,
    probation_ms: u64,
}

pub fn build(cfg: &mut Config, shared: &Shared) -> anyhow::Result<Option<Box<dyn Component>>> {
    // The binary as it was at start: a swap renames another file over it.
    let settings = crate::daemon::exe_path()
        .ok_or_else(|| "cannot find the running binary".to_owned())
        .and_then(|exe| {
            crate::update_cmd::settings_from(cfg, exe, shared.data_dir.join("update"), false)
                .map_err(|e| format!("{e:#}"))
        });
    if cfg.update.allow_unsigned_checksum {
        tracing::warn!("update.allow_unsigned_checksum is on: agent.update accepts unsigned, checksum-only builds");
    }
    Ok(Some(Box::new(UpdateComponent {
        settings,
        allow_unsigned_checksum: cfg.update.allow_unsigned_checksum,
        probation_ms: cfg.update.probation_ms,
    })))
}

impl Component for UpdateComponent {
    fn register(&mut self, r: &mut Registrar<'_>) -> anyhow::Result<()> {
        r.kinds.register(AgentUpdate {
            settings: self.settings.clone(),
            allow_unsigned_checksum: self.allow_unsigned_checksum,
            probation_ms: self.probation_ms,
            data_dir: r.shared.data_dir.clone(),
            store: r.shared.store.clone(),
            lifecycle: r.shared.lifecycle.clone(),
        });
        Ok(())
    }
}
