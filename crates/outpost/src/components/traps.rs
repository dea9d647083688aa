//! The trap receiver (`trap.*`): stops first, storing what it read (and acknowledging those
//! informs) before anything downstream stops.

use anyhow::Context;

use crate::trap::{self, Receiver, Sink, TrapMetrics, TrapSettings};

use super::{Component, Registrar, Shared, Start};

pub struct Traps {
    settings: TrapSettings,
    metrics: TrapMetrics,
}

pub fn build(
    cfg: &mut crate::config::Config,
    _: &Shared,
) -> anyhow::Result<Option<Box<dyn Component>>> {
    Ok(cfg.trap.take().map(|settings| {
        Box::new(Traps {
            settings,
            metrics: TrapMetrics::default(),
        }) as Box<dyn Component>
    }))
}

impl Component for Traps {
    fn register(&mut self, r: &mut Registrar<'_>) -> anyhow::Result<()> {
        self.metrics.register(r.metrics);
        Ok(())
    }

    fn start(self: Box<Self>, cx: &mut Start<'_>) -> anyhow::Result<()> {
        let Traps {
            mut settings,
            metrics,
        } = *self;
        settings.engine_id = trap::engine_id(&cx.shared.agent_id);
        settings.engine_boots = trap::boots::advance(&cx.shared.data_dir)
            .context("advancing the trap receiver's snmpEngineBoots")?;
        let receiver = Receiver::start(settings, Sink::Store(cx.shared.store.clone()), metrics)?;
        let stop = cx.stop_token();
        cx.spawn(async move {
            stop.cancelled().await;
            // Stop reading, then store everything queued.
            receiver.stop().await;
        });
        Ok(())
    }
}
