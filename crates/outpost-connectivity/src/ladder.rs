//! The recovery ladder: an ordered list of steps (command names), each tried after a wait
//! that doubles from `initial` up to `max`. Past the last step, the last step is tried again
//! at the capped wait. Reset (first step, first wait) when the uplink is online again.
//!
//! One step (the reboot) may also be held until the uplink has been offline for a while
//! ([`Ladder::hold_step_until_offline`], SocketMan's `reboot` seconds). The offline time
//! starts when the ladder is armed and restarts whenever the uplink is no longer offline
//! (paused or reset): one outage's minutes never count towards the next (SocketMan's bug:
//! its offline timer never reset, so a later outage rebooted on its first failed check).

use std::time::Duration;

use tokio::time::Instant;

use crate::status::LadderView;

#[derive(Debug, Clone)]
pub struct Ladder {
    steps: Vec<String>,
    initial: Duration,
    max: Duration,
    position: usize,
    /// The wait before the next attempt once armed.
    delay: Duration,
    due: Option<Instant>,
    /// A step not taken before the uplink has been offline this long.
    offline_hold: Option<(String, Duration)>,
    /// When the current outage began (the ladder armed); `None` while not offline.
    offline_since: Option<Instant>,
}

impl Ladder {
    pub fn new(steps: Vec<String>, initial: Duration, max: Duration) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        Ladder {
            steps,
            initial,
            max: max.max(initial),
            position: 0,
            delay: initial,
            due: None,
            offline_hold: None,
            offline_since: None,
        }
    }

    /// Step `step` is not taken before the uplink has been offline for `after`.
    pub fn hold_step_until_offline(
        mut self,
        step: Option<String>,
        after: Option<Duration>,
    ) -> Self {
        self.offline_hold = step.zip(after).filter(|(_, a)| !a.is_zero());
        self
    }

    /// When the current outage began, if the uplink is offline.
    pub fn offline_since(&self) -> Option<Instant> {
        self.offline_since
    }

    /// `t`, or later when the step due is held until the uplink has been offline long
    /// enough.
    fn not_before(&self, t: Instant) -> Instant {
        match (&self.offline_hold, self.offline_since, self.current()) {
            (Some((step, after)), Some(since), Some(cur)) if step == cur => t.max(since + *after),
            _ => t,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The uplink is offline: the next attempt is due after the current wait (no-op when
    /// already armed, or with no steps).
    pub fn arm(&mut self, now: Instant) {
        self.offline_since.get_or_insert(now);
        if self.due.is_none() && !self.steps.is_empty() {
            self.due = Some(self.not_before(now + self.delay));
        }
    }

    /// Offline, and known to be caused by something the agent just did (a job cut the
    /// uplink): the step due is due now, without the wait (a held step stays held).
    pub fn arm_now(&mut self, now: Instant) {
        self.offline_since.get_or_insert(now);
        if !self.steps.is_empty() {
            let at = self.not_before(now);
            self.due = Some(self.due.map_or(at, |d| d.min(at)));
        }
    }

    /// Offline no longer, online not yet: nothing is due, the position and wait are kept;
    /// the offline time starts again at the next outage.
    pub fn pause(&mut self) {
        self.due = None;
        self.offline_since = None;
    }

    /// Online: back to the first step and the first wait.
    pub fn reset(&mut self) {
        self.position = 0;
        self.delay = self.initial;
        self.due = None;
        self.offline_since = None;
    }

    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    pub fn position(&self) -> usize {
        self.position
    }

    /// The step due next.
    pub fn current(&self) -> Option<&str> {
        self.steps.get(self.position).map(String::as_str)
    }

    fn next_wait(&mut self, now: Instant) {
        self.delay = (self.delay * 2).min(self.max);
        self.due = Some(self.not_before(now + self.delay));
    }

    /// The step was taken (or, in dry run, would have been): on to the next step.
    pub fn advance(&mut self, now: Instant) {
        if self.position + 1 < self.steps.len() {
            self.position += 1;
        }
        self.next_wait(now);
    }

    /// A guard rail held the step back: the same step is tried after the next wait.
    pub fn hold(&mut self, now: Instant) {
        self.next_wait(now);
    }

    pub fn view(&self, now: Instant, wall_now_ms: u64) -> LadderView {
        LadderView {
            steps: self.steps.clone(),
            position: self.position,
            next_step: self.current().map(str::to_owned),
            next_action_at_ms: self
                .due
                .map(|d| wall_now_ms + d.saturating_duration_since(now).as_millis() as u64),
            delay_ms: (self.delay * 2).min(self.max).as_millis() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_double_to_the_cap_and_the_last_step_repeats() {
        let s = Duration::from_secs;
        let mut l = Ladder::new(vec!["a".into(), "b".into()], s(5), s(600));
        let t0 = Instant::now();
        l.arm(t0);
        assert_eq!(l.due(), Some(t0 + s(5)));
        let mut at = t0 + s(5);
        let mut seen = Vec::new();
        for _ in 0..9 {
            seen.push(l.current().map(str::to_owned));
            l.advance(at);
            at = match l.due() {
                Some(d) => d,
                None => at,
            };
        }
        assert_eq!(seen[0].as_deref(), Some("a"));
        assert!(seen[1..].iter().all(|x| x.as_deref() == Some("b")));
        // 5, then 10, 20, ... capped at 600.
        assert_eq!(
            at - t0,
            s(5 + 10 + 20 + 40 + 80 + 160 + 320 + 600 + 600 + 600)
        );
        l.reset();
        assert_eq!((l.current(), l.due()), (Some("a"), None));
        l.arm(at);
        assert_eq!(l.due(), Some(at + s(5)));
    }

    #[tokio::test(start_paused = true)]
    async fn issue18_a_held_step_waits_for_the_offline_time_which_restarts_with_each_outage() {
        let s = Duration::from_secs;
        let mut l = Ladder::new(vec!["restart".into(), "reboot".into()], s(5), s(600))
            .hold_step_until_offline(Some("reboot".into()), Some(s(300)));
        let t0 = Instant::now();
        l.arm(t0);
        assert_eq!(l.due(), Some(t0 + s(5)));
        l.advance(t0 + s(5));
        // The restart ran at 5 s; the reboot is due 300 s into the outage, not at 15 s.
        assert_eq!(l.current(), Some("reboot"));
        assert_eq!(l.due(), Some(t0 + s(300)));
        // The link came back (degraded) at 100 s and went again at 120 s: the reboot is
        // held 300 s from 120 s, not from 0 (SocketMan's timer never reset).
        l.pause();
        assert_eq!((l.due(), l.offline_since()), (None, None));
        let t1 = t0 + s(120);
        l.arm(t1);
        assert_eq!(l.offline_since(), Some(t1));
        assert_eq!(l.due(), Some(t1 + s(300)));
        // A hold of the step due is not skipped by arm_now either.
        l.arm_now(t1 + s(1));
        assert_eq!(l.due(), Some(t1 + s(300)));
        // Online: from the top; arm_now makes the first step due at once.
        l.reset();
        let t2 = t0 + s(1000);
        l.arm_now(t2);
        assert_eq!((l.current(), l.due()), (Some("restart"), Some(t2)));
        // No hold configured (or zero): nothing held.
        let mut l = Ladder::new(vec!["reboot".into()], s(5), s(600))
            .hold_step_until_offline(Some("reboot".into()), Some(Duration::ZERO));
        l.arm(t0);
        assert_eq!(l.due(), Some(t0 + s(5)));
    }
}
