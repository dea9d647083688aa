//! `agent.restart` and `agent.shutdown`: the lifecycle as job kinds, so an uplink can ask.
//! The job succeeds as the request is made; its result is stored in the drain phase that
//! the request starts, before the uplinks' egress phase sends it.

use outpost_core::{ExecError, Executor, JobContext};
use serde::Deserialize;

use crate::lifecycle::Lifecycle;

/// No parameters; unknown ones are refused (a typo is not silently a restart).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

pub struct AgentAction {
    pub lifecycle: Lifecycle,
    pub restart: bool,
}

impl Executor for AgentAction {
    type Params = NoParams;
    type Output = serde_json::Value;

    fn kind(&self) -> &'static str {
        if self.restart {
            "agent.restart"
        } else {
            "agent.shutdown"
        }
    }

    async fn run(&self, _: NoParams, cx: JobContext) -> Result<Self::Output, ExecError> {
        tracing::info!(source = %cx.source, job = %cx.id, kind = self.kind(), "lifecycle job");
        if self.restart {
            self.lifecycle.restart();
        } else {
            self.lifecycle.shutdown();
        }
        Ok(serde_json::json!({ "action": if self.restart { "restart" } else { "shutdown" } }))
    }
}
