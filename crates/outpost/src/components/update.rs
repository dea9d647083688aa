//! `update`: the `agent.update` job kind (issue 16 §4), always on; and, only when
//! `update.check_interval_secs` is set, a timer that submits that job at that interval
//! (source `update.timer`), so a periodic update goes through the same checks, audit,
//! events, probation and rollback as one a control plane asks for.

use crate::config::Config;
use crate::executors::agent_update::AgentUpdate;

use super::{Component, Registrar, Shared};

pub const NAME: &str = "update";

struct UpdateComponent {
    settings: Result<outpost_update::Settings, String>,
    allow_unsigned_checksum: bool,
    probation_ms: u64,
    check_interval: Option<std::time::Duration>,
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
        check_interval: (cfg.update.check_interval_secs > 0)
            .then(|| std::time::Duration::from_secs(cfg.update.check_interval_secs)),
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

    fn start(self: Box<Self>, cx: &mut super::Start<'_>) -> anyhow::Result<()> {
        let Some(every) = self.check_interval else {
            return Ok(());
        };
        let (dispatcher, stop) = (cx.dispatcher.clone(), cx.stop_token());
        cx.spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
                let spec = outpost_core::JobSpec {
                    id: None,
                    kind: "agent.update".into(),
                    params: serde_json::json!({}),
                    timeout: std::time::Duration::from_secs(600),
                    source: "update.timer".into(),
                };
                if let Err(e) = dispatcher.submit(spec).await {
                    tracing::warn!(error = %e, "update: the periodic check could not be submitted");
                }
            }
        });
        Ok(())
    }
}
