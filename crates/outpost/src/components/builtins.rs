//! `echo`, `sleep` and `agent.info`: always on; no tasks of their own.

use crate::executors;

use super::{Component, Phase, Registrar, Shared, Start};

pub struct Builtins;

pub fn build(
    _: &mut crate::config::Config,
    _: &Shared,
) -> anyhow::Result<Option<Box<dyn Component>>> {
    Ok(Some(Box::new(Builtins)))
}

impl Component for Builtins {
    fn name(&self) -> &'static str {
        "builtins"
    }

    fn phase(&self) -> Phase {
        Phase::Drain
    }

    fn register(&mut self, r: &mut Registrar<'_>) -> anyhow::Result<()> {
        executors::register_builtins(r.kinds, r.shared.started, r.shared.inventory.clone());
        Ok(())
    }

    fn start(self: Box<Self>, _: &mut Start<'_>) -> anyhow::Result<()> {
        Ok(())
    }
}
