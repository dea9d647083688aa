//! `system_reboot`, `system_shutdown`, `system_restart_agent` [MAINTAIN]. Reagent answered
//! ∅ and ran `reboot`, `poweroff` or `systemctl restart reagent` two seconds later, as
//! root. Here each runs the `[commands.NAME]` entry the operator named
//! (`reagent.reboot_command`, `reagent.shutdown_command`, `reagent.restart_agent_command`)
//! as an `exec` job: allowlisted, audited (`who` = `reagent:<procedure>`). Unnamed: refused
//! with an error saying which key to set.
//!
//! The answer: the command's failure when it fails within [`ANSWER_WINDOW`], else ∅. A
//! reboot that takes the agent down before it answers leaves the caller without one, so
//! the operator's command should detach (e.g. `systemd-run --on-active=2 systemctl
//! reboot`), as Reagent's two seconds did.

use std::time::Duration;

use outpost_core::{Dispatcher, JobSpec, JobState};
use outpost_exec::Request;
use outpost_proto::wamp::Payload;

/// How long the caller waits for the command's own verdict.
pub const ANSWER_WINDOW: Duration = Duration::from_secs(3);
/// The command's deadline.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The command names the system procedures run (from `reagent.*_command`).
#[derive(Debug, Clone, Default)]
pub struct Commands {
    pub reboot: Option<String>,
    pub shutdown: Option<String>,
    pub restart_agent: Option<String>,
}

impl Commands {
    /// The configured command of `procedure`, or why there is none.
    pub fn of(&self, procedure: &str) -> Result<&str, String> {
        let (cmd, key) = match procedure {
            "system_reboot" => (&self.reboot, "reagent.reboot_command"),
            "system_shutdown" => (&self.shutdown, "reagent.shutdown_command"),
            "system_restart_agent" => (&self.restart_agent, "reagent.restart_agent_command"),
            other => return Err(format!("{other} is not a system procedure")),
        };
        cmd.as_deref().ok_or_else(|| {
            format!("{procedure} is not configured on this device: set {key} to a [commands.NAME] entry")
        })
    }
}

/// Runs `command` for `procedure` through the dispatcher; ∅, or the command's failure.
pub async fn run(
    dispatcher: &Dispatcher,
    procedure: &str,
    command: &str,
) -> Result<Payload, String> {
    let spec = JobSpec {
        id: None,
        kind: crate::executors::exec::KIND.into(),
        params: serde_json::to_value(Request::command(command))
            .map_err(|e| format!("request not encodable: {e}"))?,
        timeout: TIMEOUT,
        source: format!("reagent:{procedure}"),
    };
    let submitted = dispatcher
        .submit(spec)
        .await
        .map_err(|e| format!("refused: {}: {e}", e.code()))?;
    let rec = dispatcher
        .wait(submitted.id, ANSWER_WINDOW)
        .await
        .map_err(|e| format!("the job store failed: {e}"))?;
    match rec {
        None => Err("the job was lost".into()),
        // Still running (a reboot on its way): accepted, audited, answered as Reagent did.
        Some(r) if !r.state.is_terminal() => Ok(Payload::default()),
        Some(r) if r.state == JobState::Succeeded => {
            // The command ran: its own verdict is its exit (`{kind, code|signal}`).
            let out = r.output.as_ref().map(|o| o.to_value()).unwrap_or_default();
            let exit = out.get("exit").cloned().unwrap_or_default();
            match (exit["kind"].as_str(), exit["code"].as_i64()) {
                (Some("exited"), Some(0)) => Ok(Payload::default()),
                (Some("exited"), Some(code)) => Err(format!("{command} exited with {code}")),
                _ => Err(format!("{command} ended abnormally: {exit}")),
            }
        }
        Some(r) => Err(r
            .error
            .as_ref()
            .map(|e| format!("refused: {}: {}", e.code, e.message))
            .unwrap_or_else(|| r.state.as_str().to_owned())),
    }
}
