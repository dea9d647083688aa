//! The monitor: one loop, one timer. It sleeps until the next probe round or the next
//! recovery step, whichever is first, and does nothing in between.
//!
//! A round runs every probe at once and feeds the results to the [`Assessor`]. Online (and
//! settled), the next round is `period` away; degraded, offline, or while a changed result
//! is being confirmed, `degraded_period`. Offline arms the [`Ladder`]; online resets it;
//! anything else pauses it. A due step passes the [`Guards`] and then runs, or is skipped
//! with its reason; either way it is reported to [`Effects::action`], which the agent turns
//! into an audit line and an event.
//!
//! [`Monitor::urgent`] hands out a [`Notify`] for the agent to say "I may just have cut
//! the uplink" (a SocketMan `network` job whose after-check failed): the monitor then
//! probes at once, back to back until the state settles (at most `fall` + `rise` rounds),
//! and if it settles offline the ladder's due step is due now rather than after its wait.
//! Every guard rail still applies.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::SystemTime;

use serde::Serialize;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::assess::{Assessor, Health};
use crate::clock::Clocks;
use crate::guard::{unix_ms, Guards, SkipReason, Verdict};
use crate::ladder::Ladder;
use crate::probe::{Probe, ProbeKind};
use crate::settings::Settings;
use crate::stamp::RebootStamp;
use crate::status::{action_key, ProbeView, Status};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The state changed (including the first settled state after start, from `unknown`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateChange {
    pub from: Health,
    pub to: Health,
    pub score: u8,
    pub failing_targets: Vec<String>,
    pub probes: Vec<ProbeView>,
}

/// What became of a due recovery step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// It ran and succeeded.
    Ran,
    /// It ran (or was refused by the executor) and did not succeed.
    Failed,
    /// Dry run: every guard rail passed, it would have run.
    WouldRun,
    /// A guard rail held it back.
    Skipped,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Ran => "ran",
            Decision::Failed => "failed",
            Decision::WouldRun => "would_run",
            Decision::Skipped => "skipped",
        }
    }
}

/// One recovery decision, taken or not.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionRecord {
    /// The step's command name.
    pub step: String,
    /// Its place on the ladder (0-based).
    pub position: usize,
    pub reboot: bool,
    pub decision: Decision,
    /// Why it did not run (a guard rail, or dry run).
    pub reason: Option<SkipReason>,
    /// The run's outcome, when it ran.
    pub detail: Option<String>,
    pub failing_targets: Vec<String>,
}

/// How a step's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepOutcome {
    pub ok: bool,
    pub detail: String,
}

/// The monitor's side effects, which the agent implements (and tests record).
pub trait Effects: Send + Sync {
    /// The state changed: the agent stores a `connectivity` event.
    fn state_changed<'a>(&'a self, change: &'a StateChange) -> BoxFuture<'a, ()>;
    /// Runs a recovery step's command (through the audited executor).
    fn run_step<'a>(&'a self, step: &'a str) -> BoxFuture<'a, StepOutcome>;
    /// Every decision, after it was taken: skipped and would-run ones are audited here
    /// (a run is audited by the executor that ran it), and each is an event.
    fn action<'a>(&'a self, record: &'a ActionRecord) -> BoxFuture<'a, ()>;
}

pub struct Monitor<C: Clocks> {
    settings: Settings,
    assessor: Assessor,
    ladder: Ladder,
    guards: Guards,
    clocks: C,
    health: Health,
    since: Option<SystemTime>,
    last_round: Option<SystemTime>,
    actions: BTreeMap<String, u64>,
    status: Arc<Mutex<Status>>,
    urgent: Arc<Notify>,
    /// Back-to-back rounds left after an urgent notice (0: none pending).
    urgent_rounds: u32,
}

impl<C: Clocks> Monitor<C> {
    /// `kinds`: the probes that will be run (the same as passed to [`run`](Self::run)).
    pub fn new(settings: Settings, kinds: &[ProbeKind], stamp: RebootStamp, clocks: C) -> Self {
        let r = &settings.recovery;
        let ladder = Ladder::new(r.steps.clone(), r.initial_delay, r.max_delay)
            .hold_step_until_offline(r.reboot.clone(), r.reboot_after_offline);
        let guards = Guards::new(r, stamp);
        let m = Monitor {
            assessor: Assessor::new(kinds, settings.hysteresis),
            ladder,
            guards,
            clocks,
            health: Health::Unknown,
            since: None,
            last_round: None,
            actions: BTreeMap::new(),
            status: Arc::new(Mutex::new(Status::default())),
            urgent: Arc::new(Notify::new()),
            urgent_rounds: 0,
            settings,
        };
        m.publish();
        m
    }

    /// The status as of the last round or action, for the API and `/metrics`.
    pub fn status(&self) -> Arc<Mutex<Status>> {
        self.status.clone()
    }

    /// `notify_one()` on it: probe now, and if the uplink settles offline, take the due
    /// recovery step without its wait (see the module).
    pub fn urgent(&self) -> Arc<Notify> {
        self.urgent.clone()
    }

    /// Runs until `stop` resolves. A step already running when it does is let finish (the
    /// agent's executor stops its command on the same shutdown).
    pub async fn run(
        mut self,
        probes: Vec<Box<dyn Probe>>,
        effects: &dyn Effects,
        stop: impl Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        let mut next_round = Instant::now();
        let urgent = self.urgent.clone();
        loop {
            let wake = match self.ladder.due() {
                Some(d) if d < next_round => d,
                _ => next_round,
            };
            tokio::select! {
                biased;
                () = &mut stop => return,
                () = tokio::time::sleep_until(wake) => {}
                () = urgent.notified() => {
                    let h = self.settings.hysteresis;
                    self.urgent_rounds = h.fall.max(1) + h.rise.max(1);
                    next_round = Instant::now();
                }
            }
            if Instant::now() >= next_round {
                tokio::select! {
                    biased;
                    () = &mut stop => return,
                    next = self.round(&probes, effects) => next_round = next,
                }
            }
            if self.ladder.due().is_some_and(|d| d <= Instant::now()) {
                self.act(effects).await;
            }
            self.publish();
        }
    }

    /// One probe round; returns when the next is due.
    async fn round(&mut self, probes: &[Box<dyn Probe>], effects: &dyn Effects) -> Instant {
        let results = futures_util::future::join_all(
            probes
                .iter()
                .map(|p| async move { (p.kind(), p.check().await) }),
        )
        .await;
        self.last_round = Some(self.clocks.wall());
        self.assessor.observe(results);
        let health = self.assessor.health();
        if health != self.health {
            let change = StateChange {
                from: self.health,
                to: health,
                score: self.assessor.score(),
                failing_targets: self.assessor.failing_targets().into_iter().collect(),
                probes: self.assessor.views(),
            };
            tracing::info!(
                from = change.from.as_str(),
                to = change.to.as_str(),
                score = change.score,
                failing_targets = ?change.failing_targets,
                "connectivity: state changed"
            );
            self.health = health;
            self.since = self.last_round;
            effects.state_changed(&change).await;
        }
        let now = Instant::now();
        match health {
            Health::Online => self.ladder.reset(),
            Health::Offline if self.urgent_rounds > 0 => {
                self.urgent_rounds = 0;
                self.ladder.arm_now(now);
            }
            Health::Offline => self.ladder.arm(now),
            Health::Degraded | Health::Unknown => self.ladder.pause(),
        }
        let settled = !self.assessor.settling();
        if self.urgent_rounds > 0 {
            self.urgent_rounds -= 1;
            if settled {
                // Settled, and not offline: nothing was cut.
                self.urgent_rounds = 0;
            } else {
                return now + Duration::ZERO;
            }
        }
        let wait = if health == Health::Online && settled {
            self.settings.period
        } else {
            self.settings.degraded_period
        };
        now + wait
    }

    /// The due step: guard rails, then run or skip, then report.
    async fn act(&mut self, effects: &dyn Effects) {
        let now = Instant::now();
        let Some(step) = self.ladder.current().map(str::to_owned) else {
            return;
        };
        let position = self.ladder.position();
        let failing = self.assessor.failing_targets();
        let reboot = self.guards.is_reboot(&step);
        let mut verdict = self.guards.check(&step, &failing, &self.clocks);
        if verdict == Verdict::Run && reboot {
            // Remembered before it runs: a reboot the next boot cannot see is not ordered.
            let wall = self.clocks.wall();
            if let Err(e) = self.guards.stamp_mut().record(wall) {
                verdict = Verdict::Skip(SkipReason::StampUnwritable {
                    error: e.to_string(),
                });
            }
        }
        let mut record = ActionRecord {
            step: step.clone(),
            position,
            reboot,
            decision: Decision::Skipped,
            reason: None,
            detail: None,
            failing_targets: failing.into_iter().collect(),
        };
        match verdict {
            Verdict::Run => {
                tracing::warn!(step = %step, position, reboot, "connectivity: running a recovery step");
                let out = effects.run_step(&step).await;
                record.decision = if out.ok {
                    Decision::Ran
                } else {
                    Decision::Failed
                };
                record.detail = Some(out.detail);
                self.ladder.advance(Instant::now());
            }
            Verdict::Skip(SkipReason::DryRun) => {
                tracing::warn!(step = %step, position, reboot, "connectivity: dry run: would run a recovery step");
                record.decision = Decision::WouldRun;
                record.reason = Some(SkipReason::DryRun);
                self.ladder.advance(now);
            }
            Verdict::Skip(reason) => {
                tracing::warn!(step = %step, position, reason = reason.code(), why = %reason.describe(), "connectivity: recovery step skipped");
                record.reason = Some(reason);
                self.ladder.hold(now);
            }
        }
        *self
            .actions
            .entry(action_key(
                record.decision.as_str(),
                record.reason.as_ref().map(SkipReason::code),
            ))
            .or_default() += 1;
        effects.action(&record).await;
    }

    fn publish(&self) {
        let wall = self.clocks.wall();
        let status = Status {
            state: self.health,
            score: self.assessor.score(),
            since_ms: self.since.map(unix_ms),
            last_round_ms: self.last_round.map(unix_ms),
            probes: self.assessor.views(),
            failing_targets: self.assessor.failing_targets().into_iter().collect(),
            ladder: self.ladder.view(Instant::now(), unix_ms(wall)),
            guards: self.guards.view(&self.clocks),
            actions: self.actions.clone(),
        };
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = status;
    }
}
