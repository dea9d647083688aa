//! The executor: a request in, a refusal or a run out, and every attempt audited.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use tokio_util::sync::CancellationToken;

use crate::audit::{AuditLog, AuditRecord, Decision, Origin, Phase};
use crate::error::{AuditError, ExecError, SpecError};
use crate::identity::{self, Identity, UserRef};
use crate::name::CommandName;
use crate::plan::{fill_command, Plan, TargetKind};
use crate::refusal::{quote_prefix, ReasonCode, Refusal};
use crate::request::Request;
use crate::run::{self, ExitOutcome, RunContext, RunResult};
use crate::sandbox_fs::{self, LandlockMode, LandlockReport};
use crate::scripts::{self, ScriptError};
use crate::settings::ExecSettings;
use crate::spec::{is_dangerous_env, Allowlist, ArgTemplate, CommandSpec};

struct Inner {
    allowlist: Allowlist,
    settings: ExecSettings,
    audit: Arc<AuditLog>,
    work_dir: PathBuf,
    is_root: bool,
}

/// The executor. Cheap to clone (one shared state).
#[derive(Clone)]
pub struct Exec {
    inner: Arc<Inner>,
}

/// A request that passed every check, with what it will run. Only [`Exec::prepare`] makes
/// one, and only [`Exec::execute`] runs it (writing its decision line first).
#[derive(Debug)]
pub struct Prepared {
    plan: Plan,
    origin: Origin,
}

impl Prepared {
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub(crate) fn into_plan(self) -> Plan {
        self.plan
    }
}

/// A refused request and its audit line.
#[derive(Debug)]
pub struct Refused {
    pub refusal: Refusal,
    pub record: AuditRecord,
}

/// A run that happened: its result and its two audit lines. The outcome line can fail to be
/// written after the command ran; the result is still returned, with that error.
#[derive(Debug)]
pub struct Finished {
    pub result: RunResult,
    pub decision: AuditRecord,
    pub outcome: Result<AuditRecord, AuditError>,
}

impl Exec {
    /// Checks the settings (users resolve, directories exist) and every command's user.
    pub fn new(
        allowlist: Allowlist,
        settings: ExecSettings,
        audit: AuditLog,
    ) -> Result<Self, SpecError> {
        let is_root = rustix::process::geteuid().is_root();
        if let Some(u) = &settings.user {
            identity::resolve(u, None).map_err(|message| SpecError::Settings {
                key: "user",
                message,
            })?;
        }
        for c in allowlist.iter() {
            if let Some(u) = c.user.as_ref().or(settings.user.as_ref()) {
                identity::resolve(u, c.group.as_ref()).map_err(|message| SpecError::Invalid {
                    command: c.name.to_string(),
                    field: "user".into(),
                    message,
                })?;
            }
        }
        if let Some(d) = &settings.scripts_dir {
            if !d.is_dir() {
                return Err(SpecError::Settings {
                    key: "scripts_dir",
                    message: format!("{} is not a directory", d.display()),
                });
            }
        }
        let work_dir = settings.work_dir.clone().unwrap_or_else(std::env::temp_dir);
        if !work_dir.is_dir() {
            return Err(SpecError::Settings {
                key: "work_dir",
                message: format!("{} is not a directory", work_dir.display()),
            });
        }
        if settings.allow_inline {
            tracing::warn!(
                "exec.allow_inline is on: requests may carry scripts of their own to run"
            );
        }
        Ok(Self {
            inner: Arc::new(Inner {
                allowlist,
                settings,
                audit: Arc::new(audit),
                work_dir,
                is_root,
            }),
        })
    }

    pub fn allowlist(&self) -> &Allowlist {
        &self.inner.allowlist
    }

    pub fn settings(&self) -> &ExecSettings {
        &self.inner.settings
    }

    pub fn audit_log(&self) -> &Arc<AuditLog> {
        &self.inner.audit
    }

    /// Resolves `req` without auditing or running anything (blocking: it may open a script).
    pub fn plan(&self, req: &Request) -> Result<Plan, Refusal> {
        self.inner.plan(req)
    }

    /// Resolves `req`; a refusal is audited and returned as [`ExecError::Refused`].
    pub async fn prepare(&self, origin: Origin, req: Request) -> Result<Prepared, ExecError> {
        let inner = self.inner.clone();
        let req2 = req.clone();
        let planned = tokio::task::spawn_blocking(move || inner.plan(&req2))
            .await
            .map_err(|_| ExecError::Join("plan"))?
            .and_then(|plan| local_only(plan, &origin));
        match planned {
            Ok(plan) => Ok(Prepared { plan, origin }),
            Err(refusal) => {
                let (kind, label) = label(&req);
                let mut rec = AuditRecord::new(Phase::Decision, &origin, Decision::Refused, &label);
                rec.kind = kind;
                rec.reason_code = Some(refusal.reason_code);
                rec.field = Some(refusal.field.clone());
                rec.reason = Some(refusal.message.clone());
                let record = self.append(rec).await?;
                Err(ExecError::Refused(Box::new(Refused { refusal, record })))
            }
        }
    }

    /// Writes the decision line (nothing runs if it cannot be written), runs, and writes the
    /// outcome line.
    pub async fn execute(
        &self,
        prepared: Prepared,
        cancel: CancellationToken,
    ) -> Result<Finished, ExecError> {
        let Prepared { plan, origin } = prepared;
        let mut rec = AuditRecord::new(Phase::Decision, &origin, Decision::Allowed, &plan.name);
        rec.kind = Some(plan.kind);
        rec.argv = Some(plan.argv.clone());
        rec.env = plan
            .env
            .iter()
            .map(|(k, v)| {
                let shown = if v.secret {
                    "<redacted>".to_owned()
                } else {
                    v.value.clone()
                };
                (k.clone(), shown)
            })
            .collect();
        rec.script_sha256 = plan.script.as_ref().map(|s| s.sha256.clone());
        rec.identity = plan.identity;
        let decision = self.append(rec).await?;

        let ctx = RunContext {
            work_dir: self.inner.work_dir.clone(),
            kill_grace: Duration::from_millis(self.inner.settings.kill_grace_ms),
        };
        let plan = Arc::new(plan);
        let ran = run::run(plan.clone(), &ctx, &cancel).await;
        let mut out = AuditRecord::new(Phase::Outcome, &origin, Decision::Allowed, &plan.name);
        out.kind = Some(plan.kind);
        out.decision_seq = Some(decision.seq);
        match ran {
            Ok(result) => {
                match result.exit {
                    ExitOutcome::Exited { code } => out.exit_code = Some(code),
                    ExitOutcome::Signaled { signal } => out.signal = Some(signal),
                }
                out.timed_out = result.timed_out;
                out.cancelled = result.cancelled;
                out.duration_ms =
                    Some(u64::try_from(result.duration.as_millis()).unwrap_or(u64::MAX));
                out.stdout_bytes = Some(result.stdout.total_bytes());
                out.stderr_bytes = Some(result.stderr.total_bytes());
                out.stdout_dropped_bytes = Some(result.stdout.dropped_bytes);
                out.stderr_dropped_bytes = Some(result.stderr.dropped_bytes);
                out.landlock = Some(
                    match result.sandbox.landlock {
                        LandlockReport::Enforced { .. } => "enforced",
                        LandlockReport::Unavailable { .. } => "unavailable",
                        LandlockReport::Off => "off",
                    }
                    .into(),
                );
                let outcome = self.append(out).await;
                Ok(Finished {
                    result,
                    decision,
                    outcome,
                })
            }
            Err(run::StartError(source)) => {
                out.error = Some(source.to_string());
                self.append(out).await?;
                Err(ExecError::Spawn {
                    program: plan.program.clone(),
                    source,
                })
            }
        }
    }

    /// [`prepare`](Self::prepare) then [`execute`](Self::execute).
    pub async fn run(
        &self,
        origin: Origin,
        req: Request,
        cancel: CancellationToken,
    ) -> Result<Finished, ExecError> {
        let prepared = self.prepare(origin, req).await?;
        self.execute(prepared, cancel).await
    }

    pub(crate) async fn append(&self, rec: AuditRecord) -> Result<AuditRecord, AuditError> {
        let log = self.inner.audit.clone();
        let path = log.path().to_owned();
        tokio::task::spawn_blocking(move || log.append(rec))
            .await
            .unwrap_or_else(|e| {
                Err(AuditError::Io {
                    path,
                    source: std::io::Error::other(format!("the append task failed: {e}")),
                })
            })
    }
}

/// What a request named, for its audit line (bounded there).
pub(crate) fn label(req: &Request) -> (Option<TargetKind>, String) {
    match (&req.command, &req.script, &req.inline) {
        (Some(c), None, None) => (Some(TargetKind::Command), c.clone()),
        (None, Some(s), None) => (Some(TargetKind::Script), s.clone()),
        (None, None, Some(_)) => (Some(TargetKind::Inline), "inline".into()),
        _ => (None, String::new()),
    }
}

impl Inner {
    fn plan(&self, req: &Request) -> Result<Plan, Refusal> {
        let targets = [
            req.command.is_some(),
            req.script.is_some(),
            req.inline.is_some(),
        ];
        if targets.iter().filter(|t| **t).count() != 1 {
            return Err(Refusal::new(
                ReasonCode::NoTarget,
                "command",
                "exactly one of command, script and inline is required",
            ));
        }
        if let Some(k) = req.extra.keys().next() {
            return Err(Refusal::new(
                ReasonCode::UnknownField,
                crate::plan::bounded_key(k),
                "not a field of an exec request",
            ));
        }
        if let Some(k) = req.env.keys().next() {
            let field = format!("env.{}", crate::plan::bounded_key(k));
            return Err(if is_dangerous_env(k) {
                Refusal::new(
                    ReasonCode::EnvForbidden,
                    field,
                    "changes how programs load or start; requests never set the environment",
                )
            } else {
                Refusal::new(
                    ReasonCode::EnvNotAllowed,
                    field,
                    "requests never set the environment (a command's is in its config)",
                )
            });
        }
        if let Some(name) = &req.command {
            return self.plan_command(name, req);
        }
        let scripts_max = self.settings.max_script_bytes;
        let image = if let Some(name) = &req.script {
            let dir = self.settings.scripts_dir.as_ref().ok_or_else(|| {
                Refusal::new(
                    ReasonCode::ScriptsDisabled,
                    "script",
                    "no scripts directory is configured",
                )
            })?;
            no_params(req)?;
            let args = scripts::check_args(&req.args)?;
            (
                scripts::open_script(dir, name, scripts_max),
                args,
                name.clone(),
                TargetKind::Script,
            )
        } else if let Some(inline) = &req.inline {
            if !self.settings.allow_inline {
                return Err(Refusal::new(
                    ReasonCode::InlineDisabled,
                    "inline",
                    "inline scripts are off (exec.allow_inline)",
                ));
            }
            no_params(req)?;
            let args = scripts::check_args(&req.args)?;
            let cleaned: Vec<u8> = inline
                .content_base64
                .bytes()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&cleaned)
                .map_err(|e| {
                    Refusal::new(
                        ReasonCode::InlineInvalid,
                        "inline.content_base64",
                        format!("not base64: {e}"),
                    )
                })?;
            (
                scripts::inline_image(&bytes, inline.interpreter.as_deref(), scripts_max),
                args,
                "inline".to_owned(),
                TargetKind::Inline,
            )
        } else {
            return Err(Refusal::new(ReasonCode::NoTarget, "command", "no target"));
        };
        let (image, args, name, kind) = image;
        let image = image.map_err(|e| match e {
            ScriptError::Refused(r) => r,
            ScriptError::Io(e) => Refusal::new(
                ReasonCode::InternalError,
                "script",
                format!("could not snapshot the script: {e}"),
            ),
        })?;
        let limits = self.settings.limits;
        let limits = with_request_timeout(limits, req)?;
        let landlock = self.landlock(self.settings.landlock)?;
        Ok(Plan {
            kind,
            name,
            program: image.program().to_owned(),
            argv: image.argv(args),
            env: Vec::new(),
            cwd: None,
            limits,
            identity: self.identity(None, None)?,
            landlock,
            in_containers: false,
            local_only: false,
            script: Some(image),
        })
    }

    fn plan_command(&self, name: &str, req: &Request) -> Result<Plan, Refusal> {
        let cname = CommandName::parse(name).map_err(|m| {
            Refusal::new(
                ReasonCode::BadName,
                "command",
                format!("{}: {m}", quote_prefix(name)),
            )
        })?;
        let spec: &CommandSpec = self.inner_allowlist().get(&cname).ok_or_else(|| {
            Refusal::new(
                ReasonCode::UnknownCommand,
                "command",
                format!("{cname} is not in the allowlist"),
            )
        })?;
        if !req.args.is_empty() {
            return Err(Refusal::new(
                ReasonCode::ArgsNotAllowed,
                "args",
                "an allowlisted command takes named params, not args",
            ));
        }
        let filled = fill_command(spec, &req.params)?;
        let argv = if spec.shell_script {
            // sh -c TEXT NAME $1 $2 ...: values are positional parameters, never script text.
            let mut v = vec!["sh".to_owned(), "-c".to_owned()];
            let mut it = filled.into_iter();
            v.extend(it.next());
            v.push(cname.to_string());
            v.extend(it);
            v
        } else {
            filled
        };
        debug_assert!(matches!(spec.argv.first(), Some(ArgTemplate::Literal(_))));
        let limits = self.settings.limits.overridden_by(spec);
        let limits = with_request_timeout(limits, req)?;
        let landlock = self.landlock(spec.landlock.unwrap_or(self.settings.landlock))?;
        Ok(Plan {
            kind: TargetKind::Command,
            name: cname.to_string(),
            program: spec.program.clone(),
            argv,
            env: spec
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            cwd: spec.cwd.clone(),
            limits,
            identity: self.identity(spec.user.as_ref(), spec.group.as_ref())?,
            landlock,
            in_containers: spec.in_containers,
            local_only: spec.local_only,
            script: None,
        })
    }

    fn inner_allowlist(&self) -> &Allowlist {
        &self.allowlist
    }

    /// Only when the agent is root: the command's user, else the settings' user.
    fn identity(
        &self,
        user: Option<&UserRef>,
        group: Option<&UserRef>,
    ) -> Result<Option<Identity>, Refusal> {
        if !self.is_root {
            return Ok(None);
        }
        let Some(user) = user.or(self.settings.user.as_ref()) else {
            return Ok(None);
        };
        identity::resolve(user, group)
            .map(Some)
            .map_err(|m| Refusal::new(ReasonCode::UserUnknown, "user", m))
    }

    fn landlock(&self, mode: LandlockMode) -> Result<LandlockMode, Refusal> {
        if mode == LandlockMode::Required {
            if let Some(reason) = sandbox_fs::unavailable_reason() {
                return Err(Refusal::new(
                    ReasonCode::SandboxUnavailable,
                    "landlock",
                    format!("the command requires Landlock: {reason}"),
                ));
            }
        }
        Ok(mode)
    }
}

fn no_params(req: &Request) -> Result<(), Refusal> {
    if req.params.is_empty() {
        Ok(())
    } else {
        Err(Refusal::new(
            ReasonCode::ArgsNotAllowed,
            "params",
            "a script takes positional args, not named params",
        ))
    }
}

fn with_request_timeout(
    mut limits: crate::plan::Limits,
    req: &Request,
) -> Result<crate::plan::Limits, Refusal> {
    if let Some(t) = req.timeout_ms {
        if t == 0 || t > limits.timeout_ms {
            return Err(Refusal::new(
                ReasonCode::OutOfRange,
                "timeout_ms",
                format!(
                    "{t} is outside 1..={} (a request may only shorten it)",
                    limits.timeout_ms
                ),
            ));
        }
        limits.timeout_ms = t;
    }
    Ok(limits)
}

/// A `local_only` command is the agent's own (the recovery ladder's reboot, say): every job,
/// whatever its source, is refused, and the refusal is audited like any other.
fn local_only(plan: Plan, origin: &Origin) -> Result<Plan, Refusal> {
    if plan.local_only && origin.source != crate::Source::Connectivity {
        return Err(Refusal::new(
            ReasonCode::LocalOnly,
            "command",
            format!(
                "{} is local_only: run by the agent itself, never by a job",
                plan.name
            ),
        ));
    }
    Ok(plan)
}
