//! Commands carried out inside a container by the container engine, not run here: the same
//! allowlist decides (only commands marked `in_containers = true`), and the same audit log
//! records the decision before anything runs and the outcome after. The agent's
//! `container.exec` job is the one caller.

use std::time::Duration;

use crate::audit::{AuditRecord, Decision, Origin, Phase};
use crate::error::{AuditError, ExecError};
use crate::exec::{label, Exec, Refused};
use crate::plan::{Plan, TargetKind};
use crate::refusal::{ReasonCode, Refusal};
use crate::request::Request;

/// A request allowed to run inside `container`: what to run, and its decision line
/// (already in the log).
#[derive(Debug)]
pub struct InContainer {
    pub plan: Plan,
    pub decision: AuditRecord,
    pub container: String,
    origin: Origin,
}

/// How a command that ran in a container ended, as the engine reported it.
#[derive(Debug, Clone, Default)]
pub struct ContainerOutcome {
    pub exit_code: Option<i32>,
    pub duration: Duration,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    pub stdout_dropped_bytes: u64,
    pub stderr_dropped_bytes: u64,
    /// The engine failed the run (no exit code).
    pub error: Option<String>,
}

/// Longest container reference kept in an audit line.
const CONTAINER_MAX: usize = 128;

impl Exec {
    /// Resolves `req` against the allowlist for a run inside `container` and writes its
    /// decision line. Refused, and audited, when the allowlist refuses it, when it is not
    /// an allowlisted command, or when the command is not `in_containers`.
    pub async fn authorize_in_container(
        &self,
        origin: Origin,
        req: Request,
        container: &str,
    ) -> Result<InContainer, ExecError> {
        let container: String = container.chars().take(CONTAINER_MAX).collect();
        let (kind, name) = label(&req);
        let refusal = match self.prepare(origin.clone(), req).await {
            Ok(p) => {
                let plan = p.into_plan();
                if plan.kind == TargetKind::Command && plan.in_containers {
                    let mut rec =
                        AuditRecord::new(Phase::Decision, &origin, Decision::Allowed, &plan.name);
                    rec.kind = Some(plan.kind);
                    rec.container = Some(container.clone());
                    rec.argv = Some(plan.argv.clone());
                    let decision = self.append(rec).await?;
                    return Ok(InContainer {
                        plan,
                        decision,
                        container,
                        origin,
                    });
                }
                Refusal::new(
                    ReasonCode::NotForContainers,
                    "command",
                    format!(
                        "{} may not run inside containers (its [commands] entry needs in_containers = true)",
                        plan.name
                    ),
                )
            }
            // A refusal of the allowlist itself: `prepare` has audited it.
            Err(e) => return Err(e),
        };
        let mut rec = AuditRecord::new(Phase::Decision, &origin, Decision::Refused, &name);
        rec.kind = kind;
        rec.container = Some(container);
        rec.reason_code = Some(refusal.reason_code);
        rec.field = Some(refusal.field.clone());
        rec.reason = Some(refusal.message.clone());
        let record = self.append(rec).await?;
        Err(ExecError::Refused(Box::new(Refused { refusal, record })))
    }

    /// Writes the outcome line of a run [`authorize_in_container`](Self::authorize_in_container)
    /// allowed.
    pub async fn record_container_outcome(
        &self,
        allowed: &InContainer,
        outcome: &ContainerOutcome,
    ) -> Result<AuditRecord, AuditError> {
        let mut out = AuditRecord::new(
            Phase::Outcome,
            &allowed.origin,
            Decision::Allowed,
            &allowed.plan.name,
        );
        out.kind = Some(allowed.plan.kind);
        out.container = Some(allowed.container.clone());
        out.decision_seq = Some(allowed.decision.seq);
        out.exit_code = outcome.exit_code;
        out.error = outcome.error.clone();
        out.duration_ms = Some(u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX));
        out.stdout_bytes = Some(outcome.stdout_bytes);
        out.stderr_bytes = Some(outcome.stderr_bytes);
        out.stdout_dropped_bytes = Some(outcome.stdout_dropped_bytes);
        out.stderr_dropped_bytes = Some(outcome.stderr_dropped_bytes);
        self.append(out).await
    }
}
