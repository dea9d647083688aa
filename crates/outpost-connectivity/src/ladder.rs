//! The recovery ladder: an ordered list of steps (command names), each tried after a wait
//! that doubles from `initial` up to `max`. Past the last step, the last step is tried again
//! at the capped wait. Reset (first step, first wait) when the uplink is online again.

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
        }
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The uplink is offline: the next attempt is due after the current wait (no-op when
    /// already armed, or with no steps).
    pub fn arm(&mut self, now: Instant) {
        if self.due.is_none() && !self.steps.is_empty() {
            self.due = Some(now + self.delay);
        }
    }

    /// Offline no longer, online not yet: nothing is due, the position and wait are kept.
    pub fn pause(&mut self) {
        self.due = None;
    }

    /// Online: back to the first step and the first wait.
    pub fn reset(&mut self) {
        self.position = 0;
        self.delay = self.initial;
        self.due = None;
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
        self.due = Some(now + self.delay);
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
}
