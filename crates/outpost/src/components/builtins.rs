//! `echo`, `sleep` and `agent.info`: always on; no tasks of their own.

use crate::executors;

use super::Registrar;

pub fn register(r: &mut Registrar<'_>) -> anyhow::Result<()> {
    executors::register_builtins(r.kinds, r.shared.started, r.shared.inventory.clone());
    Ok(())
}
