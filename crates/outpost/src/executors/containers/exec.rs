//! `container.exec`: a command of the exec allowlist run inside a running container. The
//! allowlist renders the argv from typed params exactly as for a run on the host, and the
//! command's `[commands.NAME]` entry must say `in_containers = true`; anything else is
//! refused. Every attempt, run or refused, is a line of the audit log (naming the
//! container) and an `exec.audit` event, as for `exec`. Output: the exit code and stdout
//! and stderr, each capped by the command's output cap.

use std::time::{Duration, Instant};

use outpost_containers::exec::{ExecOutcome, ExecSpec};
use outpost_core::{executor::ParamError, ExecError, Executor, JobContext, Registry};
use outpost_exec::{ContainerOutcome, Request};
use serde::Deserialize;

use super::{check_ref, job_error, Containers};
use crate::executors::exec::{origin, publish_audit};

pub fn register(reg: &mut Registry, c: &Containers) {
    reg.register(ContainerExec(c.clone()));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecParams {
    /// The container, by id or name.
    pub id: String,
    /// A `[commands.NAME]` of the config file.
    pub command: String,
    /// Its typed parameters.
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, serde_json::Value>,
}

pub struct ContainerExec(Containers);

impl Executor for ContainerExec {
    type Params = ExecParams;
    type Output = ExecOutcome;

    fn kind(&self) -> &'static str {
        "container.exec"
    }

    fn check(&self, p: &ExecParams) -> Result<(), ParamError> {
        check_ref("id", &p.id)?;
        if p.command.is_empty() {
            return Err(ParamError {
                field: "command".into(),
                message: "must name a [commands.NAME] entry".into(),
            });
        }
        Ok(())
    }

    async fn run(&self, p: ExecParams, cx: JobContext) -> Result<ExecOutcome, ExecError> {
        let c = &self.0;
        let Some(exec) = &c.exec else {
            return Err(ExecError::new(
                "refused",
                "commands are off (exec.enabled): nothing may run inside containers",
            ));
        };
        let mut req = Request::command(&p.command);
        for (k, v) in p.params {
            req = req.param(k, v);
        }
        let allowed = match exec
            .authorize_in_container(origin(&cx.source), req, &p.id)
            .await
        {
            Ok(a) => a,
            Err(outpost_exec::ExecError::Refused(r)) => {
                let refusal = r.refusal.clone();
                publish_audit(&c.store, vec![r.record]).await;
                return Err(ExecError::new(
                    "refused",
                    format!(
                        "{} ({}): {}",
                        refusal.field, refusal.reason_code, refusal.message
                    ),
                ));
            }
            Err(e) => return Err(ExecError::new("exec_failed", e.to_string())),
        };
        let plan = &allowed.plan;
        // The command's own timeout holds inside the container too, within the job's.
        let deadline = cx
            .deadline
            .min(Instant::now() + Duration::from_millis(plan.limits.timeout_ms));
        let spec = ExecSpec {
            argv: plan.argv.clone(),
            env: plan
                .env
                .iter()
                .map(|(k, v)| format!("{k}={}", v.value))
                .collect(),
            user: None,
            working_dir: plan.cwd.as_ref().map(|p| p.display().to_string()),
            output_cap: plan.limits.output_cap_bytes,
        };
        let began = Instant::now();
        let ran = c.engine.exec(&p.id, spec, deadline).await;
        let outcome = match &ran {
            Ok(o) => ContainerOutcome {
                exit_code: o.exit_code.map(|c| i32::try_from(c).unwrap_or(i32::MAX)),
                duration: began.elapsed(),
                stdout_bytes: o.stdout.total_bytes,
                stderr_bytes: o.stderr.total_bytes,
                stdout_dropped_bytes: o.stdout.dropped_bytes,
                stderr_dropped_bytes: o.stderr.dropped_bytes,
                error: None,
            },
            Err(e) => ContainerOutcome {
                duration: began.elapsed(),
                error: Some(e.to_string()),
                ..Default::default()
            },
        };
        let mut records = vec![allowed.decision.clone()];
        match exec.record_container_outcome(&allowed, &outcome).await {
            Ok(r) => records.push(r),
            Err(e) => {
                tracing::error!(error = %e, "container.exec: the outcome line was not written")
            }
        }
        publish_audit(&c.store, records).await;
        ran.map_err(job_error)
    }
}
