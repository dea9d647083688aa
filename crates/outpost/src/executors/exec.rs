//! `exec`: an allowlisted command, script or (when allowed) inline script, run by
//! `outpost-exec`. Params are its `Request` (`{command, params}`, `{script, args}` or
//! `{inline, args}`); the output is the run's result. A refusal fails the job with the
//! refusal's reason code. Every audit line the run wrote is also an `exec.audit` event in the
//! outbox, so the control plane holds a copy of the log's chain (the log alone cannot show
//! lines cut from its end).

use outpost_core::{Event, EventIds, ExecError, Executor, JobContext, Store};
use outpost_exec::{AuditRecord, Exec, Origin, Request, RunResult, Source};

pub const KIND: &str = "exec";

pub struct ExecJob {
    exec: Exec,
    store: Store,
}

impl ExecJob {
    pub fn new(exec: Exec, store: Store) -> Self {
        ExecJob { exec, store }
    }
}

/// Copies audit lines into the outbox as `exec.audit` events. Audit lines are on disk
/// already; the events are their copy. A failure to store one is logged, never hidden in a
/// job's result. Also used by the connectivity monitor, which runs steps through the same
/// `Exec`.
pub async fn publish_audit(store: &Store, records: Vec<AuditRecord>) {
    // Each record is serialized once, straight to the event's text (no JSON tree).
    let mut ids = EventIds::new();
    let events = records
        .iter()
        .filter_map(|r| serde_json::value::to_raw_value(r).ok())
        .map(|payload| Event::encoded(&mut ids, "exec.audit", payload))
        .collect();
    if let Err(e) = store.append_events(events).await {
        tracing::error!(error = %e, "exec: storing audit events failed; the audit log has them");
    }
}

/// Runs `req` through the allowlist for the job `cx`, and copies every audit line the
/// attempt wrote to the outbox. A refusal is the job's error, with the refusal's reason code.
pub(crate) async fn run_audited(
    exec: &Exec,
    store: &Store,
    req: Request,
    cx: &JobContext,
) -> Result<RunResult, ExecError> {
    match exec.run(origin(&cx.source), req, cx.cancel.clone()).await {
        Ok(done) => {
            let mut records = vec![done.decision];
            match done.outcome {
                Ok(r) => records.push(r),
                Err(e) => tracing::error!(error = %e, "exec: the outcome line was not written"),
            }
            publish_audit(store, records).await;
            Ok(done.result)
        }
        Err(outpost_exec::ExecError::Refused(r)) => {
            let refusal = r.refusal.clone();
            publish_audit(store, vec![r.record]).await;
            Err(ExecError::new(
                refusal.reason_code.as_str(),
                format!("{}: {}", refusal.field, refusal.message),
            ))
        }
        Err(e) => Err(ExecError::new("exec_failed", e.to_string())),
    }
}

/// Who asked, for the audit log, from the job's source.
pub(crate) fn origin(source: &str) -> Origin {
    let kind = match source {
        "api" => Source::Api,
        "schedule" => Source::Schedule,
        "cli" => Source::Cli,
        // The rusty_agent adapter: `rusty_agent:USER`, the Basic user who asked.
        s if s.starts_with("rusty_agent") => Source::Adapter,
        _ => Source::Uplink,
    };
    Origin::new(kind, source)
}

impl Executor for ExecJob {
    type Params = Request;
    type Output = RunResult;

    fn kind(&self) -> &'static str {
        KIND
    }

    async fn run(&self, req: Request, cx: JobContext) -> Result<RunResult, ExecError> {
        run_audited(&self.exec, &self.store, req, &cx).await
    }
}
