//! `check.nagios`: a Nagios-plugin-API plugin, run as an allowlisted `[commands.NAME]`
//! through the `exec` component (same allowlist, sandbox and audit log as an `exec` job),
//! its exit code and output read as a check result (`outpost_checks::plugin`).
//!
//! A plugin's CRITICAL is a completed job whose output says CRITICAL: the job failed only
//! when the plugin could not be run at all (refused by the allowlist, or the runner failed).

use std::collections::BTreeMap;

use outpost_checks::plugin::{self, PluginExit};
use outpost_checks::CheckResult;
use outpost_core::{ExecError, Executor, JobContext, Store};
use outpost_exec::{Exec, ExitOutcome, Request};
use serde::Deserialize;

pub const KIND: &str = "check.nagios";

/// Only an allowlisted command: a plugin's arguments are the command's declared params, so
/// a request cannot add `-H` pointing somewhere else than the template allows.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NagiosParams {
    /// The `[commands.NAME]` entry that runs the plugin.
    pub command: String,
    /// Values for the command's declared params.
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
    /// A shorter timeout than the command's own (never a longer one).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

pub struct NagiosCheck {
    exec: Exec,
    store: Store,
}

impl NagiosCheck {
    pub fn new(exec: Exec, store: Store) -> Self {
        NagiosCheck { exec, store }
    }
}

impl Executor for NagiosCheck {
    type Params = NagiosParams;
    type Output = CheckResult;

    fn kind(&self) -> &'static str {
        KIND
    }

    async fn run(&self, p: NagiosParams, cx: JobContext) -> Result<CheckResult, ExecError> {
        let mut req = Request::command(p.command.clone());
        req.params = p.params;
        req.timeout_ms = p.timeout_ms;
        let run = super::exec::run_audited(&self.exec, &self.store, req, &cx).await?;
        if run.cancelled {
            return Err(ExecError::new("cancelled", "the job was cancelled"));
        }
        let exit = if run.timed_out {
            PluginExit::TimedOut(run.duration)
        } else {
            match run.exit {
                ExitOutcome::Exited { code } => PluginExit::Exited(code),
                ExitOutcome::Signaled { signal } => PluginExit::Signaled(signal),
            }
        };
        let mut result = plugin::result(exit, &run.stdout.text(), &run.stderr.text(), run.duration);
        // What ran and how it ended, next to what the plugin said.
        let mut details = serde_json::Map::new();
        details.insert("command".into(), p.command.into());
        details.insert(
            "exit".into(),
            serde_json::to_value(run.exit).unwrap_or_default(),
        );
        details.insert("timed_out".into(), run.timed_out.into());
        if run.stdout.dropped_bytes > 0 {
            details.insert(
                "stdout_dropped_bytes".into(),
                run.stdout.dropped_bytes.into(),
            );
        }
        if let serde_json::Value::Object(extra) = std::mem::take(&mut result.details) {
            details.extend(extra);
        }
        result.details = serde_json::Value::Object(details);
        Ok(result)
    }
}
