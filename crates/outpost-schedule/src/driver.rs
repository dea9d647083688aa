//! The one timer: a task that sleeps until the timeline's head fires, hands what fired to a
//! [`Sink`], and sleeps again. Nothing else wakes it but a change to the timeline (an add,
//! an update, a removal) or the stop signal, so 10,000 idle schedules cost no wakeups
//! between due times.

use std::{
    future::Future,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use tokio::sync::Notify;

use crate::timeline::{Action, Timeline};

/// Wall-clock time in Unix milliseconds. Cron is wall-clock; tests drive a clock that
/// follows tokio's paused time.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        crate::now_ms()
    }
}

/// Takes what fired. Called with the timeline unlocked; must not block (spawn instead).
pub trait Sink: Send + Sync + 'static {
    fn fire(&self, actions: Vec<Action>);
}

/// The longest single sleep. A wall-clock step (NTP, a suspended machine) is noticed at
/// most this late; cheap enough to ignore, far enough apart to count as asleep.
const MAX_SLEEP: Duration = Duration::from_secs(600);

/// Schedules rescheduled per hold of the lock after a firing.
const RESCHEDULE_SLICE: usize = 1024;

/// The timeline and the notice that it changed, shared by the timer task and every handle.
#[derive(Clone, Default)]
pub struct Timer {
    timeline: Arc<Mutex<Timeline>>,
    changed: Arc<Notify>,
    /// How long before a due time its runs are handed over (see [`Timer::with_lead`]).
    lead_ms: i64,
}

impl Timer {
    pub fn new() -> Self {
        Self::default()
    }

    /// A timer that hands each due time's runs to the sink `lead` ahead of it, each run
    /// with its `at`: the sink does the work of accepting 10,000 jobs before their minute
    /// and only starts them at it, so their timing error does not grow with their number.
    /// The overlap decision is taken then too: a job that ends within `lead` of the next
    /// due time counts as still running for it.
    pub fn with_lead(lead: Duration) -> Self {
        Timer {
            lead_ms: i64::try_from(lead.as_millis()).unwrap_or(i64::MAX / 4),
            ..Self::default()
        }
    }

    /// Changes the timeline and wakes the timer task to re-arm for the new head.
    pub fn update<T>(&self, f: impl FnOnce(&mut Timeline) -> T) -> T {
        let out = f(&mut self.lock());
        self.changed.notify_one();
        out
    }

    /// Changes the timeline without waking the timer task: for changes that cannot move
    /// the head (a job ended).
    pub fn quiet<T>(&self, f: impl FnOnce(&mut Timeline) -> T) -> T {
        f(&mut self.lock())
    }

    /// Reads the timeline without waking anyone.
    pub fn read<T>(&self, f: impl FnOnce(&Timeline) -> T) -> T {
        f(&self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, Timeline> {
        // A panic while holding the lock cannot leave the timeline half-changed in a way
        // that matters more than stopping every schedule would.
        self.timeline.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs until `stop` resolves: fires what is due, then sleeps until the next head.
    pub async fn run(&self, clock: impl Clock, sink: impl Sink, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            // Registered before the timeline is read, so a change made in between is not
            // missed (Notify keeps one permit for notify_one either way).
            let changed = self.changed.notified();
            tokio::pin!(changed);
            let now = clock.now_ms();
            let (fired, next) = {
                let mut t = self.lock();
                let fired = t.take_due(now.saturating_add(self.lead_ms));
                let next = if fired.is_empty() {
                    // Due times taken without an action (queued behind a running job,
                    // `queue_one`) still need their next one: without it such a schedule
                    // was never due again once its queued run had gone.
                    t.reschedule(now);
                    t.next_fire()
                } else {
                    None
                };
                (fired, next)
            };
            if !fired.is_empty() {
                // The jobs first: the sink's task is spawned on this thread, and runs only
                // once this task yields. Then the next due times, a slice at a time, so the
                // lock the jobs' ends take is never held for long.
                sink.fire(fired);
                loop {
                    tokio::task::yield_now().await;
                    if !self.lock().reschedule_some(now, RESCHEDULE_SLICE) {
                        break;
                    }
                }
                continue;
            }
            let sleep = match next {
                Some(at) => Duration::from_millis(
                    at.saturating_sub(self.lead_ms).saturating_sub(now).max(0) as u64,
                ),
                None => MAX_SLEEP,
            }
            .min(MAX_SLEEP);
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = &mut changed => {}
                _ = &mut stop => return,
            }
        }
    }
}
