//! A request resolved against the allowlist: exactly what will be executed, and within what.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::identity::Identity;
use crate::param::{self, MAX_ARGV_BYTES, MAX_ARGV_ELEMENTS};
use crate::refusal::{ReasonCode, Refusal};
use crate::sandbox_fs::LandlockMode;
use crate::scripts::ScriptImage;
use crate::spec::{ArgTemplate, CommandSpec, EnvValue};

/// Resource limits of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Wall clock, from spawn; then SIGTERM, the grace, SIGKILL, to the whole group.
    pub timeout_ms: u64,
    /// Bytes kept of stdout, and of stderr, each; the rest is read and counted.
    pub output_cap_bytes: usize,
    /// RLIMIT_CPU (SIGXCPU at this, SIGKILL a second later).
    pub cpu_secs: u64,
    /// RLIMIT_AS.
    pub memory_bytes: u64,
    /// RLIMIT_NOFILE.
    pub open_files: u64,
    /// RLIMIT_NPROC. It counts every process of the run's real uid on the machine (not only
    /// this run's), and root ignores it: it holds a fork bomb only under an unprivileged user.
    pub processes: u64,
    /// Scheduling niceness (0..=19) of the command: above the agent's 0 by default, so that
    /// a hundred busy commands cannot starve the agent's own threads of CPU.
    pub nice: i32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout_ms: 30_000,
            output_cap_bytes: 1024 * 1024,
            cpu_secs: 60,
            memory_bytes: 1024 * 1024 * 1024,
            open_files: 256,
            processes: 256,
            nice: 10,
        }
    }
}

impl Limits {
    /// The command's own limits over these defaults.
    pub(crate) fn overridden_by(self, c: &CommandSpec) -> Self {
        Self {
            timeout_ms: c.timeout_ms.unwrap_or(self.timeout_ms),
            output_cap_bytes: c.output_cap_bytes.unwrap_or(self.output_cap_bytes),
            cpu_secs: c.cpu_secs.unwrap_or(self.cpu_secs),
            memory_bytes: c.memory_bytes.unwrap_or(self.memory_bytes),
            open_files: c.open_files.unwrap_or(self.open_files),
            processes: c.processes.unwrap_or(self.processes),
            nice: c.nice.unwrap_or(self.nice),
        }
    }
}

/// What a request named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    Command,
    Script,
    Inline,
}

/// A run, fully resolved: nothing in it comes from the request unchecked.
#[derive(Debug)]
pub struct Plan {
    pub kind: TargetKind,
    /// The command or script name (`inline` for an inline script).
    pub name: String,
    /// Absolute path of the program executed (the interpreter, for a script).
    pub program: PathBuf,
    /// argv, argv[0] included.
    pub argv: Vec<String>,
    /// The command's configured environment (PATH and TMPDIR are added by the sandbox).
    pub env: Vec<(String, EnvValue)>,
    /// `None`: the run's private temporary directory.
    pub cwd: Option<PathBuf>,
    pub limits: Limits,
    /// `None`: the agent's own uid and gid (the agent is not root, or no user is configured).
    pub identity: Option<Identity>,
    pub landlock: LandlockMode,
    pub in_containers: bool,
    /// Only the agent's own callers ([`crate::Source::Connectivity`]) may run it.
    pub local_only: bool,
    /// The snapshot a script runs from (the program reads it through `/proc/self/fd/N`).
    pub script: Option<ScriptImage>,
}

/// Fills `spec`'s template from the request's params: every declared parameter present and
/// valid, nothing else.
pub(crate) fn fill_command(
    spec: &CommandSpec,
    params: &std::collections::BTreeMap<String, Value>,
) -> Result<Vec<String>, Refusal> {
    if let Some(unknown) = params.keys().find(|k| !spec.params.contains_key(*k)) {
        return Err(Refusal::new(
            ReasonCode::UnknownParam,
            format!("params.{}", bounded_key(unknown)),
            format!("{} takes no parameter of that name", spec.name),
        ));
    }
    let mut values = std::collections::BTreeMap::new();
    for (name, p) in &spec.params {
        let field = format!("params.{name}");
        let v = params
            .get(name)
            .ok_or_else(|| Refusal::new(ReasonCode::MissingParam, &field, "is required"))?;
        values.insert(name.as_str(), param::check(p, &field, v)?);
    }
    let mut argv = Vec::with_capacity(spec.argv.len());
    for a in &spec.argv {
        argv.push(match a {
            ArgTemplate::Literal(s) => s.clone(),
            // Present: every reference was checked against the declared params at load.
            ArgTemplate::Param(p) => values.get(p.as_str()).cloned().unwrap_or_default(),
        });
    }
    check_argv_size(&argv, "params")?;
    Ok(argv)
}

/// The whole argv's bounds.
pub(crate) fn check_argv_size(argv: &[String], field: &str) -> Result<(), Refusal> {
    if argv.len() > MAX_ARGV_ELEMENTS {
        return Err(Refusal::new(
            ReasonCode::TooMany,
            field,
            format!("{} argv elements, at most {MAX_ARGV_ELEMENTS}", argv.len()),
        ));
    }
    let total: usize = argv.iter().map(String::len).sum();
    if total > MAX_ARGV_BYTES {
        return Err(Refusal::new(
            ReasonCode::TooLong,
            field,
            format!("argv totals {total} bytes, at most {MAX_ARGV_BYTES}"),
        ));
    }
    Ok(())
}

/// A map key as a field name: at most 64 characters, control characters escaped.
pub(crate) fn bounded_key(k: &str) -> String {
    let s: String = k.chars().take(64).collect();
    s.escape_debug().to_string()
}
