//! Allowlisted commands (`exec.*` and the file's `[commands.NAME]`), off unless
//! `exec.enabled`: the `exec` and `check.nagios` job kinds over `outpost-exec`, audited in
//! DATA_DIR/audit.log.

use anyhow::Context;
use outpost_exec::{Allowlist, AuditLog, Exec, ExecSettings, UserRef};
use serde::Deserialize;

use crate::config::Config;
use crate::executors::exec::ExecJob;

use super::{Component, Registrar, Shared};

struct ExecComponent(Exec);

/// The agent's one `Exec` (one audit log, one hash chain), for components that run
/// allowlisted commands themselves (the connectivity monitor): `r.common::<SharedExec>`,
/// `None` while exec is off. Components that ask register after this one.
#[derive(Clone)]
pub struct SharedExec(pub Option<Exec>);

pub fn build(cfg: &mut Config, shared: &Shared) -> anyhow::Result<Option<Box<dyn Component>>> {
    if !cfg.exec.enabled {
        return Ok(None);
    }
    // Read, not taken: the rusty_agent adapter (built later) maps command lines onto the
    // commands' parameter order.
    let allowlist = match cfg.commands.clone() {
        Some(table) => Allowlist::deserialize(table).context("commands")?,
        None => Allowlist::default(),
    };
    let user = match cfg.exec.user.parse::<u32>() {
        Ok(id) => UserRef::Id(id),
        Err(_) => UserRef::Name(cfg.exec.user.clone()),
    };
    let settings = ExecSettings {
        scripts_dir: cfg.exec.scripts_dir.clone(),
        allow_inline: cfg.exec.allow_inline,
        user: Some(user),
        ..ExecSettings::default()
    };
    // The audit log keeps the store's durability promise: every line is in the kernel before
    // the command runs (any crash of the agent keeps it); `store.sync = full` also syncs
    // each line to the disk (a power loss keeps it), at one fdatasync per line.
    let audit = AuditLog::open(shared.data_dir.join("audit.log"))
        .context("exec: audit log")?
        .with_fsync(cfg.store.sync == crate::config::SyncMode::Full);
    let exec = Exec::new(allowlist, settings, audit).context("exec")?;
    tracing::info!(
        commands = exec.allowlist().len(),
        "exec: on; every attempt is audited"
    );
    Ok(Some(Box::new(ExecComponent(exec))))
}

impl Component for ExecComponent {
    fn register(&mut self, r: &mut Registrar<'_>) -> anyhow::Result<()> {
        r.kinds
            .register(ExecJob::new(self.0.clone(), r.shared.store.clone()));
        // Nagios plugins are allowlisted commands too: the kind exists only with exec on
        // (and reads its result as a check, so only with probes).
        #[cfg(feature = "probes")]
        r.kinds.register(crate::executors::nagios::NagiosCheck::new(
            self.0.clone(),
            r.shared.store.clone(),
        ));
        let exec = self.0.clone();
        r.common::<SharedExec>(move |_| SharedExec(Some(exec)));
        Ok(())
    }
}
