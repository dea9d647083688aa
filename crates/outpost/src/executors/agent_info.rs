//! `agent.info`: who this agent is and what it can do, for control planes and operators.

use std::{sync::Arc, time::Instant};

use outpost_core::{ExecError, Executor, JobContext};
use serde::{Deserialize, Serialize};

use crate::components::Inventory;

pub const KIND: &str = "agent.info";

pub struct AgentInfo {
    started: Instant,
    inventory: Arc<Inventory>,
}

impl AgentInfo {
    /// `inventory` holds the kinds once every component has registered.
    pub fn new(started: Instant, inventory: Arc<Inventory>) -> Self {
        AgentInfo { started, inventory }
    }
}

#[derive(Serialize)]
pub struct ComponentView {
    name: &'static str,
    /// `off` (its config section is off), `running`, `stopping`, ...
    state: &'static str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

#[derive(Serialize)]
pub struct Output {
    version: &'static str,
    hostname: String,
    /// Seconds since this agent process started.
    uptime_secs: u64,
    arch: &'static str,
    os: &'static str,
    kinds: Vec<String>,
    /// Every capability this build has, with its state.
    components: Vec<ComponentView>,
}

impl Executor for AgentInfo {
    type Params = Params;
    type Output = Output;

    fn kind(&self) -> &'static str {
        KIND
    }

    async fn run(&self, _p: Params, _cx: JobContext) -> Result<Output, ExecError> {
        Ok(Output {
            version: crate::version::get(),
            hostname: rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned(),
            uptime_secs: self.started.elapsed().as_secs(),
            arch: std::env::consts::ARCH,
            os: std::env::consts::OS,
            kinds: self.inventory.kinds().to_vec(),
            components: self
                .inventory
                .states()
                .map(|(name, s)| ComponentView {
                    name,
                    state: s.as_str(),
                })
                .collect(),
        })
    }
}
