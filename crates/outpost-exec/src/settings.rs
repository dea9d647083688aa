//! The executor's own settings (`exec.*` in the agent's config).

use std::path::PathBuf;

use serde::Deserialize;

use crate::identity::UserRef;
use crate::plan::Limits;
use crate::sandbox_fs::LandlockMode;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecSettings {
    /// Scripts runnable by name; `None`: no scripts.
    pub scripts_dir: Option<PathBuf>,
    /// Inline scripts (content in the request). Off unless set.
    pub allow_inline: bool,
    /// Who commands run as when the agent is root and the command names no user. `None`
    /// runs them as root: only an explicit `user = ...` in a command should do that.
    pub user: Option<UserRef>,
    /// Limits for commands that do not set their own, and for scripts.
    pub limits: Limits,
    /// Landlock for commands that do not say, and for scripts.
    pub landlock: LandlockMode,
    /// Where each run's private temporary directory (its TMPDIR, and its cwd unless the
    /// command sets one) is made; default: the system's temporary directory.
    pub work_dir: Option<PathBuf>,
    /// Between SIGTERM and SIGKILL to the group on timeout or cancel.
    pub kill_grace_ms: u64,
    /// Largest script (file or inline) accepted.
    pub max_script_bytes: usize,
}

impl Default for ExecSettings {
    fn default() -> Self {
        Self {
            scripts_dir: None,
            allow_inline: false,
            user: Some(UserRef::Name("nobody".into())),
            limits: Limits::default(),
            landlock: LandlockMode::default(),
            work_dir: None,
            kill_grace_ms: 2_000,
            max_script_bytes: 1024 * 1024,
        }
    }
}
