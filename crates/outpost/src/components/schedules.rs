//! Schedules (issue 13): always on. Loads the stored schedules once the dispatcher exists,
//! runs the one timer task, serves `/v1/schedules` and the `schedule.*` job kinds, and
//! shares its [`Schedules`] handle with later components (`r.common::<Schedules>(..)`).
//! Stops with the intake: no job is submitted once the drain has begun.

use outpost_schedule::SystemClock;

use crate::{
    api,
    config::Config,
    executors,
    schedules::{self, Schedules},
};

use super::{Component, Registrar, Shared, Start};

struct SchedulesComponent(Schedules);

pub fn build(cfg: &mut Config, shared: &Shared) -> anyhow::Result<Option<Box<dyn Component>>> {
    Ok(Some(Box::new(SchedulesComponent(Schedules::new(
        shared.store.clone(),
        cfg.jobs.default_timeout_ms,
        cfg.jobs.max_timeout_ms,
        schedules::sealer(shared),
    )))))
}

impl Component for SchedulesComponent {
    fn register(&mut self, r: &mut Registrar<'_>) -> anyhow::Result<()> {
        let s = self.0.clone();
        self.0 = r.common::<Schedules>(move |_| s);
        self.0.inner().figures.register(r.metrics);
        executors::schedules::register(r.kinds, self.0.clone());
        r.routes.extend(api::schedules::routes(self.0.clone()));
        Ok(())
    }

    fn start(self: Box<Self>, cx: &mut Start<'_>) -> anyhow::Result<()> {
        let s = self.0;
        // Set once, here: the handle's only source of the dispatcher.
        let _ = s.inner().dispatcher.set(cx.dispatcher.clone());
        let stop = cx.stop_token();
        cx.spawn(async move {
            match s.load().await {
                Ok((loaded, 0)) => tracing::info!(loaded, "schedules: loaded"),
                Ok((loaded, failed)) => {
                    tracing::error!(
                        loaded,
                        failed,
                        "schedules: some could not be loaded and will not run"
                    )
                }
                Err(e) => tracing::error!(error = %e, "schedules: loading failed; none will run"),
            }
            let runner = schedules::runner(&s);
            s.inner()
                .timer
                .run(SystemClock, runner, stop.cancelled())
                .await;
        });
        Ok(())
    }
}
