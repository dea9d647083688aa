//! `metrics`: a host-metrics snapshot, with selectable groups, through the same caches as
//! `/ws` and `/metrics`. Params and output are `outpost_host::job`'s typed shapes.

use outpost_core::{ExecError, Executor, JobContext};
use outpost_host::{
    job::{self, MetricsParams, MetricsSnapshot},
    Host,
};

pub const KIND: &str = "metrics";

pub struct Metrics {
    /// The process's one host handle: jobs share its caches with `/ws` and `/metrics`.
    host: Host,
}

impl Metrics {
    pub fn new(host: Host) -> Self {
        Metrics { host }
    }
}

/// Adds the `metrics` kind, reading `host`.
pub fn register(reg: &mut outpost_core::Registry, host: Host) {
    reg.register(Metrics::new(host));
}

impl Executor for Metrics {
    type Params = MetricsParams;
    type Output = MetricsSnapshot;

    fn kind(&self) -> &'static str {
        KIND
    }

    /// Collection blocks on /proc reads; a few at once is plenty, the caches do the rest.
    fn concurrency(&self) -> usize {
        4
    }

    async fn run(
        &self,
        params: MetricsParams,
        _cx: JobContext,
    ) -> Result<MetricsSnapshot, ExecError> {
        let host = self.host.clone();
        // Reading every /proc/PID is blocking work: keep it off the async workers.
        tokio::task::spawn_blocking(move || job::run(&host, &params))
            .await
            .map_err(|e| ExecError::new("internal", format!("collection task failed: {e}")))?
            .map_err(|e| ExecError::new("collect_failed", e.to_string()))
    }
}
