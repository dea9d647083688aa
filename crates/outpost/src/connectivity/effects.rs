//! What the monitor's decisions do in the agent: `connectivity` events in the outbox (stored
//! first, so the events about an outage are delivered once it is over), recovery steps
//! through the agent's one `Exec` (its audit chain, its sandbox), and an audit line of the
//! monitor's own for every step it did not run.

use outpost_connectivity::monitor::BoxFuture;
use outpost_connectivity::{ActionRecord, Decision, Effects, StateChange, StepOutcome};
use outpost_core::{Event, Store};
use outpost_exec::{
    AuditRecord, Exec, ExecError, ExitOutcome, Origin, Phase, Request, Source, TargetKind,
};
use tokio_util::sync::CancellationToken;

use crate::executors::exec::publish_audit;

/// Event kinds.
pub const STATE_EVENT: &str = "connectivity";
pub const ACTION_EVENT: &str = "connectivity.action";

pub struct AgentEffects {
    pub store: Store,
    /// `None` while exec is off; config validation refuses recovery steps then, so a step
    /// never gets here without it.
    pub exec: Option<Exec>,
    /// The component's stop token: a running step's command is stopped with the agent.
    pub stop: CancellationToken,
}

fn origin() -> Origin {
    Origin::new(Source::Connectivity, "connectivity")
}

impl AgentEffects {
    async fn store_event(&self, kind: &str, payload: serde_json::Value) {
        if let Err(e) = self
            .store
            .append_events(vec![Event::new(kind, payload)])
            .await
        {
            tracing::error!(error = %e, kind, "connectivity: storing an event failed");
        }
    }

    /// The audit line of a step not run: decision `skipped`, the guard rail's key in
    /// `field`, why in `reason` ("dry run: would run" for a dry run).
    async fn audit_skip(&self, r: &ActionRecord) -> Option<u64> {
        let exec = self.exec.as_ref()?;
        let mut rec = AuditRecord::new(
            Phase::Decision,
            &origin(),
            outpost_exec::Decision::Skipped,
            &r.step,
        );
        rec.kind = Some(TargetKind::Command);
        if let Some(reason) = &r.reason {
            rec.field = Some(reason.key().into());
            rec.reason = Some(format!("{}: {}", reason.code(), reason.describe()));
        }
        let log = exec.audit_log().clone();
        match tokio::task::spawn_blocking(move || log.append(rec)).await {
            Ok(Ok(written)) => {
                let seq = written.seq;
                publish_audit(&self.store, vec![written]).await;
                Some(seq)
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "connectivity: the audit line of a skipped step was not written");
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "connectivity: the audit task failed");
                None
            }
        }
    }
}

impl Effects for AgentEffects {
    fn state_changed<'a>(&'a self, change: &'a StateChange) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let payload = serde_json::to_value(change).unwrap_or_default();
            self.store_event(STATE_EVENT, payload).await;
        })
    }

    fn run_step<'a>(&'a self, step: &'a str) -> BoxFuture<'a, StepOutcome> {
        Box::pin(async move {
            let Some(exec) = &self.exec else {
                return StepOutcome {
                    ok: false,
                    detail: "exec is off".into(),
                };
            };
            match exec
                .run(origin(), Request::command(step), self.stop.clone())
                .await
            {
                Ok(done) => {
                    let mut records = vec![done.decision];
                    match done.outcome {
                        Ok(r) => records.push(r),
                        Err(e) => {
                            tracing::error!(error = %e, "connectivity: the outcome line was not written")
                        }
                    }
                    publish_audit(&self.store, records).await;
                    let r = done.result;
                    let (ok, exit) = match r.exit {
                        ExitOutcome::Exited { code } => (code == 0, format!("exit {code}")),
                        ExitOutcome::Signaled { signal } => {
                            (false, format!("killed by signal {signal}"))
                        }
                    };
                    let ok = ok && !r.timed_out && !r.cancelled;
                    let detail = if r.timed_out {
                        format!("{exit} (timed out)")
                    } else if r.cancelled {
                        format!("{exit} (cancelled)")
                    } else {
                        exit
                    };
                    StepOutcome { ok, detail }
                }
                Err(ExecError::Refused(r)) => {
                    let why = format!("refused: {}: {}", r.refusal.field, r.refusal.message);
                    publish_audit(&self.store, vec![r.record]).await;
                    StepOutcome {
                        ok: false,
                        detail: why,
                    }
                }
                Err(e) => StepOutcome {
                    ok: false,
                    detail: e.to_string(),
                },
            }
        })
    }

    fn action<'a>(&'a self, r: &'a ActionRecord) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let audit_seq = match r.decision {
                Decision::Skipped | Decision::WouldRun => self.audit_skip(r).await,
                // Audited by the executor that ran it (decision and outcome lines).
                Decision::Ran | Decision::Failed => None,
            };
            let mut payload = serde_json::to_value(r).unwrap_or_default();
            if let (Some(obj), Some(reason)) = (payload.as_object_mut(), &r.reason) {
                obj.insert("why".into(), reason.describe().into());
            }
            if let (Some(obj), Some(seq)) = (payload.as_object_mut(), audit_seq) {
                obj.insert("audit_seq".into(), seq.into());
            }
            self.store_event(ACTION_EVENT, payload).await;
        })
    }
}
