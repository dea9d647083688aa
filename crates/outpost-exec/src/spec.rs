//! The allowlist: `[commands.NAME]` tables, checked once when the config is read, so a
//! request is only ever matched against a valid spec.
//!
//! ```toml
//! [commands.ping]
//! argv = ["ping", "-c", "{count}", "--", "{host}"]   # "{name}" only as a WHOLE element
//! timeout_ms = 10000
//! params.count = { type = "integer", min = 1, max = 10 }
//! params.host = { type = "string", pattern = "[a-z0-9.-]+", max_len = 253 }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use regex_lite::Regex;
use serde::{Deserialize, Deserializer};

use crate::error::SpecError;
use crate::identity::UserRef;
use crate::name::CommandName;
use crate::param::{MAX_ARGV_BYTES, MAX_ARGV_ELEMENTS, MAX_ARG_BYTES};
use crate::sandbox_fs::LandlockMode;
use crate::SAFE_PATH;

/// One argv element of a command's template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgTemplate {
    Literal(String),
    /// `{name}`: the whole element is the parameter's checked value.
    Param(String),
}

/// A parameter's type and constraints.
#[derive(Debug, Clone)]
pub enum ParamSpec {
    /// The whole value must match `pattern` (anchored here: `^(?:pattern)$`).
    String {
        pattern: Regex,
        max_len: usize,
        /// A value starting with `-` is refused unless this is set: the program would read
        /// it as an option.
        allow_leading_dash: bool,
    },
    Integer {
        min: i64,
        max: i64,
    },
    Enum {
        values: Vec<String>,
    },
    /// A path that resolves (symlinks followed) to `root` or below it; `root` is canonical.
    Path {
        root: PathBuf,
        must_exist: bool,
    },
}

/// An environment value from the config; a secret one is never written to the audit log
/// or shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvValue {
    pub value: String,
    pub secret: bool,
}

impl fmt::Debug for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret {
            f.write_str("EnvValue(<redacted>)")
        } else {
            write!(f, "EnvValue({:?})", self.value)
        }
    }
}

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Plain(String),
            Table {
                value: String,
                #[serde(default)]
                secret: bool,
            },
        }
        Ok(match Raw::deserialize(d)? {
            Raw::Plain(value) => Self {
                value,
                secret: false,
            },
            Raw::Table { value, secret } => Self { value, secret },
        })
    }
}

/// One allowed command.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    pub name: CommandName,
    pub argv: Vec<ArgTemplate>,
    /// The program executed: argv[0] resolved to an absolute path at load (bare names in
    /// [`SAFE_PATH`]), or the shell for a `shell_script` command.
    pub program: PathBuf,
    pub params: BTreeMap<String, ParamSpec>,
    pub timeout_ms: Option<u64>,
    /// Bytes kept of stdout, and of stderr, each.
    pub output_cap_bytes: Option<usize>,
    pub cpu_secs: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub open_files: Option<u64>,
    pub processes: Option<u64>,
    pub nice: Option<i32>,
    pub cwd: Option<PathBuf>,
    pub env: BTreeMap<String, EnvValue>,
    pub user: Option<UserRef>,
    pub group: Option<UserRef>,
    /// May run inside containers (read by the containers component; nothing here uses it).
    pub in_containers: bool,
    /// Run only by the agent itself (the connectivity monitor's recovery ladder), never by a
    /// job from any source: the API, an uplink, a schedule, an adapter or the CLI.
    pub local_only: bool,
    /// argv[0] is a shell script's text, run as `sh -c TEXT NAME ARGS...`: the remaining
    /// elements (literals and parameters) are its positional parameters `$1...`, never part
    /// of its text.
    pub shell_script: bool,
    pub landlock: Option<LandlockMode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommand {
    argv: Vec<RawArg>,
    #[serde(default)]
    params: BTreeMap<String, RawParam>,
    timeout_ms: Option<u64>,
    output_cap_bytes: Option<usize>,
    cpu_secs: Option<u64>,
    memory_bytes: Option<u64>,
    open_files: Option<u64>,
    processes: Option<u64>,
    nice: Option<i32>,
    cwd: Option<PathBuf>,
    #[serde(default)]
    env: BTreeMap<String, EnvValue>,
    user: Option<UserRef>,
    group: Option<UserRef>,
    #[serde(default)]
    in_containers: bool,
    #[serde(default)]
    local_only: bool,
    #[serde(default)]
    shell_script: bool,
    landlock: Option<LandlockMode>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawArg {
    Text(String),
    Literal { literal: String },
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum RawParam {
    String {
        pattern: String,
        max_len: Option<usize>,
        #[serde(default)]
        allow_leading_dash: bool,
    },
    Integer {
        min: i64,
        max: i64,
    },
    Enum {
        values: Vec<String>,
    },
    Path {
        root: PathBuf,
        #[serde(default = "yes")]
        must_exist: bool,
    },
}

fn yes() -> bool {
    true
}

/// Default `max_len` of a string parameter.
const DEFAULT_STRING_MAX: usize = 256;

/// The allowed commands by name. Deserializes from the `[commands]` table (a map of name to
/// command), checking every command; the error names `commands.NAME.FIELD`.
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    commands: BTreeMap<CommandName, CommandSpec>,
}

impl Allowlist {
    pub fn get(&self, name: &CommandName) -> Option<&CommandSpec> {
        self.commands.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &CommandSpec> {
        self.commands.values()
    }

    pub fn len(&self) -> usize {
        self.commands.len()
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }
}

impl<'de> Deserialize<'de> for Allowlist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<String, RawCommand>::deserialize(d)?;
        let mut commands = BTreeMap::new();
        for (name, cmd) in raw {
            let spec = CommandSpec::build(&name, cmd).map_err(serde::de::Error::custom)?;
            commands.insert(spec.name.clone(), spec);
        }
        Ok(Self { commands })
    }
}

impl CommandSpec {
    fn build(name: &str, raw: RawCommand) -> Result<Self, SpecError> {
        let err = |field: &str, message: String| SpecError::Invalid {
            command: name.chars().take(64).collect(),
            field: field.to_owned(),
            message,
        };
        let cname = CommandName::parse(name).map_err(|m| err("", format!("bad name: {m}")))?;

        if raw.argv.is_empty() {
            return Err(err("argv", "is empty".into()));
        }
        if raw.argv.len() > MAX_ARGV_ELEMENTS {
            return Err(err(
                "argv",
                format!("more than {MAX_ARGV_ELEMENTS} elements"),
            ));
        }
        let mut argv = Vec::with_capacity(raw.argv.len());
        let mut literal_bytes = 0;
        for (i, a) in raw.argv.into_iter().enumerate() {
            let field = format!("argv[{i}]");
            let t = parse_arg(a).map_err(|m| err(&field, m))?;
            if let ArgTemplate::Literal(s) = &t {
                // argv[0] of a shell script is its text: longer than an argument may be.
                let max = if i == 0 {
                    MAX_ARGV_BYTES
                } else {
                    MAX_ARG_BYTES
                };
                if s.contains('\0') {
                    return Err(err(&field, "contains a NUL byte".into()));
                }
                if s.len() > max {
                    return Err(err(&field, format!("longer than {max} bytes")));
                }
                literal_bytes += s.len();
            }
            argv.push(t);
        }
        if literal_bytes > MAX_ARGV_BYTES {
            return Err(err(
                "argv",
                format!("literals exceed {MAX_ARGV_BYTES} bytes"),
            ));
        }
        let first = match &argv[0] {
            ArgTemplate::Literal(s) => s.clone(),
            ArgTemplate::Param(_) => {
                return Err(err(
                    "argv[0]",
                    "the program must be a literal, never a parameter".into(),
                ))
            }
        };
        let program = if raw.shell_script {
            find_in_safe_path("sh")
                .ok_or_else(|| err("argv[0]", "no sh in the safe PATH".into()))?
        } else {
            resolve_program(&first).map_err(|m| err("argv[0]", m))?
        };

        let mut params = BTreeMap::new();
        for (pname, p) in raw.params {
            let field = format!("params.{pname}");
            check_param_name(&pname).map_err(|m| err(&field, m))?;
            let spec = build_param(p).map_err(|m| err(&field, m))?;
            params.insert(pname, spec);
        }
        for (i, a) in argv.iter().enumerate() {
            if let ArgTemplate::Param(p) = a {
                if !params.contains_key(p) {
                    return Err(err(
                        &format!("argv[{i}]"),
                        format!("refers to {{{p}}}, which is not declared under params"),
                    ));
                }
            }
        }
        for p in params.keys() {
            if !argv.contains(&ArgTemplate::Param(p.clone())) {
                return Err(err(
                    &format!("params.{p}"),
                    "is declared but no argv element uses it".into(),
                ));
            }
        }

        for (k, v) in &raw.env {
            let field = format!("env.{k}");
            check_env_name(k).map_err(|m| err(&field, m))?;
            if v.value.contains('\0') {
                return Err(err(&field, "contains a NUL byte".into()));
            }
        }
        if let Some(cwd) = &raw.cwd {
            if !cwd.is_absolute() {
                return Err(err("cwd", "must be an absolute path".into()));
            }
            if !cwd.is_dir() {
                return Err(err("cwd", format!("{} is not a directory", cwd.display())));
            }
        }
        if raw.nice.is_some_and(|n| !(0..=19).contains(&n)) {
            return Err(err(
                "nice",
                "must be 0..=19 (a command never outranks the agent)".into(),
            ));
        }
        if raw.timeout_ms == Some(0) {
            return Err(err("timeout_ms", "must be above 0".into()));
        }
        for (field, v) in [
            ("cpu_secs", raw.cpu_secs),
            ("memory_bytes", raw.memory_bytes),
            ("open_files", raw.open_files),
            ("processes", raw.processes),
        ] {
            if v == Some(0) {
                return Err(err(field, "must be above 0".into()));
            }
        }

        Ok(Self {
            name: cname,
            argv,
            program,
            params,
            timeout_ms: raw.timeout_ms,
            output_cap_bytes: raw.output_cap_bytes,
            cpu_secs: raw.cpu_secs,
            memory_bytes: raw.memory_bytes,
            open_files: raw.open_files,
            processes: raw.processes,
            nice: raw.nice,
            cwd: raw.cwd,
            env: raw.env,
            user: raw.user,
            group: raw.group,
            in_containers: raw.in_containers,
            local_only: raw.local_only,
            shell_script: raw.shell_script,
            landlock: raw.landlock,
        })
    }
}

fn parse_arg(a: RawArg) -> Result<ArgTemplate, String> {
    match a {
        RawArg::Literal { literal } => Ok(ArgTemplate::Literal(literal)),
        RawArg::Text(s) => {
            if let Some(inner) = s.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
                check_param_name(inner)?;
                return Ok(ArgTemplate::Param(inner.to_owned()));
            }
            if s.contains('{') || s.contains('}') {
                return Err(format!(
                    "{s:?} has a brace but is not a whole-element reference {{name}}: parameters \
                     fill whole argv elements, never part of one (write {{ literal = \"...\" }} \
                     for a literal brace)"
                ));
            }
            Ok(ArgTemplate::Literal(s))
        }
    }
}

fn check_param_name(n: &str) -> Result<(), String> {
    let ok = !n.is_empty()
        && n.len() <= 64
        && n.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "parameter name {n:?} is not [a-z_][a-z0-9_]{{0,63}}"
        ))
    }
}

fn build_param(p: RawParam) -> Result<ParamSpec, String> {
    Ok(match p {
        RawParam::String {
            pattern,
            max_len,
            allow_leading_dash,
        } => {
            let max_len = max_len.unwrap_or(DEFAULT_STRING_MAX);
            if max_len == 0 || max_len > MAX_ARG_BYTES {
                return Err(format!("max_len must be 1..={MAX_ARG_BYTES}"));
            }
            let pattern = Regex::new(&format!("^(?:{pattern})$"))
                .map_err(|e| format!("pattern does not compile: {e}"))?;
            ParamSpec::String {
                pattern,
                max_len,
                allow_leading_dash,
            }
        }
        RawParam::Integer { min, max } => {
            if min > max {
                return Err(format!("min {min} is above max {max}"));
            }
            ParamSpec::Integer { min, max }
        }
        RawParam::Enum { values } => {
            if values.is_empty() {
                return Err("values is empty".into());
            }
            if let Some(v) = values
                .iter()
                .find(|v| v.is_empty() || v.contains('\0') || v.len() > MAX_ARG_BYTES)
            {
                return Err(format!(
                    "value {:?} is empty, too long or has a NUL byte",
                    v.chars().take(40).collect::<String>()
                ));
            }
            ParamSpec::Enum { values }
        }
        RawParam::Path { root, must_exist } => {
            if !root.is_absolute() {
                return Err("root must be an absolute path".into());
            }
            let root = root
                .canonicalize()
                .map_err(|e| format!("root {}: {e}", root.display()))?;
            if !root.is_dir() {
                return Err(format!("root {} is not a directory", root.display()));
            }
            ParamSpec::Path { root, must_exist }
        }
    })
}

/// Environment names no command may set, from the config or a request: they change how the
/// loader, a shell or an interpreter behaves before the program's own code runs (and PATH
/// and TMPDIR are set by the sandbox itself).
pub(crate) fn is_dangerous_env(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "PATH",
        "TMPDIR",
        "BASH_ENV",
        "ENV",
        "IFS",
        "CDPATH",
        "SHELLOPTS",
        "BASHOPTS",
        "PS4",
        "GLOBIGNORE",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONSTARTUP",
        "PYTHONINSPECT",
        "PERL5LIB",
        "PERL5OPT",
        "RUBYOPT",
        "NODE_OPTIONS",
        "GCONV_PATH",
        "HOSTALIASES",
        "LOCALDOMAIN",
        "RES_OPTIONS",
        "MALLOC_CHECK_",
    ];
    EXACT.contains(&name)
        || name.starts_with("LD_")
        || name.starts_with("BASH_FUNC_")
        || name.starts_with("GLIBC_")
        || name.starts_with("DYLD_")
}

pub(crate) fn check_env_name(k: &str) -> Result<(), String> {
    let ok = !k.is_empty()
        && k.len() <= 128
        && k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(format!(
            "name {:?} is not [A-Za-z_][A-Za-z0-9_]*",
            k.chars().take(40).collect::<String>()
        ));
    }
    if is_dangerous_env(k) {
        return Err(format!(
            "{k} may not be set: it changes how programs load or start"
        ));
    }
    Ok(())
}

/// An absolute program path as is (it must be a file); a bare name looked up in
/// [`SAFE_PATH`]; anything else (a relative path with a slash) is refused.
fn resolve_program(p: &str) -> Result<PathBuf, String> {
    let path = Path::new(p);
    if path.is_absolute() {
        if path.is_file() {
            return Ok(path.to_owned());
        }
        return Err(format!("{p} is not a file"));
    }
    if p.contains('/') || p.is_empty() {
        return Err(format!(
            "{p:?} must be an absolute path or a bare name found in {SAFE_PATH}"
        ));
    }
    find_in_safe_path(p).ok_or_else(|| format!("{p:?} is not in {SAFE_PATH}"))
}

/// The first regular file named `name` in [`SAFE_PATH`]'s directories.
pub(crate) fn find_in_safe_path(name: &str) -> Option<PathBuf> {
    SAFE_PATH
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}
