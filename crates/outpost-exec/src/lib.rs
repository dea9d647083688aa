//! Outpost's command execution boundary.
//!
//! Nothing runs here unless the operator allowed it: a [`Request`] names a command from the
//! [`Allowlist`] (an argv template whose parameters fill whole argv elements, never parts of a
//! shell string), a script in the scripts directory (opened once, snapshotted, and executed
//! from that snapshot), or an inline script (only when the settings allow inline scripts).
//! Everything else is a [`Refusal`] naming the field at fault. Every attempt, allowed or
//! refused, is a line in a hash-chained, append-only audit log ([`AuditLog`], [`verify`]).
//! Allowed runs happen in a sandbox ([`run`]): scrubbed environment, own process group,
//! rlimits, `no_new_privs`, an unprivileged user when the agent is root, Landlock where the
//! kernel has it, SIGTERM then SIGKILL to the whole group on timeout or cancel, capped output.
//!
//! The crate knows nothing of Outpost's config, store or API: the agent builds an [`Exec`]
//! from its `[commands.NAME]` and `exec.*` config and turns [`AuditRecord`]s into events.
#![deny(unsafe_code)]

mod audit;
mod child;
mod container;
mod error;
mod exec;
mod identity;
mod name;
mod param;
mod plan;
mod refusal;
mod request;
mod run;
mod sandbox_fs;
mod scripts;
mod settings;
mod spec;
mod time;
mod verify;

pub use audit::{AuditLog, AuditRecord, Decision, Origin, Phase, Source, GENESIS};
pub use container::{ContainerOutcome, InContainer};
pub use error::{AuditError, ExecError, SpecError};
pub use exec::{Exec, Finished, Prepared, Refused};
pub use identity::{Identity, UserRef};
pub use name::CommandName;
pub use param::{MAX_ARGV_BYTES, MAX_ARGV_ELEMENTS, MAX_ARG_BYTES};
pub use plan::{Limits, Plan, TargetKind};
pub use refusal::{ReasonCode, Refusal};
pub use request::{InlineScript, Request};
pub use run::{Captured, ExitOutcome, RunResult, SandboxReport};
pub use sandbox_fs::{LandlockMode, LandlockReport};
pub use scripts::{Interpreter, ScriptImage};
pub use settings::ExecSettings;
pub use spec::{Allowlist, ArgTemplate, CommandSpec, EnvValue, ParamSpec};
pub use verify::{verify, VerifyError, VerifyFailure, VerifyReport};

/// The only PATH a child ever sees, and the directories programs and interpreters are
/// looked up in: system directories only, never the agent's own PATH.
pub const SAFE_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";
