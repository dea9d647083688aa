//! `host.interfaces`: the host's interfaces (name, index, MAC, Ethernet or not, state) and
//! their IPv4 and IPv6 addresses, read when asked (`outpost_host::links`). The Reagent
//! drop-in's `get_ipv4_addresses` and `list_ethernet_devices` are this job.

use outpost_core::{ExecError, Executor, JobContext};
use outpost_host::{links::Link, Host};
use serde::Deserialize;

pub const KIND: &str = "host.interfaces";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

pub struct Interfaces(Host);

/// Adds the `host.interfaces` kind, reading under `host`'s sys root.
pub fn register(reg: &mut outpost_core::Registry, host: Host) {
    reg.register(Interfaces(host));
}

impl Executor for Interfaces {
    type Params = NoParams;
    type Output = Vec<Link>;

    fn kind(&self) -> &'static str {
        KIND
    }

    fn concurrency(&self) -> usize {
        2
    }

    async fn run(&self, _p: NoParams, _cx: JobContext) -> Result<Vec<Link>, ExecError> {
        let root = self.0.config().sys_root.clone();
        // A netlink dump and a few sysfs reads: blocking, kept off the async workers.
        tokio::task::spawn_blocking(move || outpost_host::links::links(&root))
            .await
            .map_err(|e| ExecError::new("internal", format!("collection task failed: {e}")))?
            .map_err(|e| ExecError::new("collect_failed", e.to_string()))
    }
}
