//! The one ordered set of next-due times, and what each due time turns into (run, skip,
//! queue) under the overlap and missed-run policies. Pure: the caller supplies the time.

use std::{collections::BTreeSet, sync::Arc};

use crate::{
    jitter,
    spec::{Missed, Overlap},
    when::Cadence,
};

/// What the timeline needs of a schedule.
#[derive(Debug, Clone)]
pub struct Plan {
    pub cadence: Cadence,
    pub missed: Missed,
    pub overlap: Overlap,
    pub jitter_ms: u64,
}

/// What a due time became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Submit the schedule's job. `due` is the due time it stands for (without jitter);
    /// `through` is the time up to which every due time is now handled (what to persist).
    /// `at` is when it is meant to start (the due time plus its jitter): a timer with a
    /// lead hands it over before then, and the sink must not start it earlier.
    Run {
        id: Arc<str>,
        due: i64,
        through: i64,
        at: i64,
    },
    /// Not run: the previous job was still running (`Overlap::Skip`, or a second wait
    /// under `QueueOne`), or schedules are paused.
    Skip {
        id: Arc<str>,
        due: i64,
        why: SkipReason,
    },
}

impl Action {
    pub fn id(&self) -> &Arc<str> {
        match self {
            Action::Run { id, .. } | Action::Skip { id, .. } => id,
        }
    }

    pub fn due(&self) -> i64 {
        match self {
            Action::Run { due, .. } | Action::Skip { due, .. } => *due,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    Overlap,
    Paused,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Overlap => "overlap",
            SkipReason::Paused => "paused",
        }
    }
}

#[derive(Debug)]
struct Entry {
    plan: Plan,
    /// The next due time (without jitter), and when it fires (with).
    next: Option<(i64, i64)>,
    running: u32,
    /// A run owed under `QueueOne`: its due time.
    queued: Option<i64>,
    /// The due time `take_due` took, until `reschedule` gives the next one: the inventory
    /// still knows the next due time meanwhile (a slice of a large firing can take a while).
    taken: Option<i64>,
}

/// Every schedule's next firing, ordered: the head is the only time anyone waits for.
#[derive(Debug, Default)]
pub struct Timeline {
    entries: foldhash::HashMap<Arc<str>, Entry>,
    order: BTreeSet<(i64, Arc<str>)>,
    paused: bool,
    /// Taken by `take_due`, not yet rescheduled (the due time taken is the entry's `taken`).
    unscheduled: Vec<Arc<str>>,
}

impl Timeline {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }

    /// Adds (or replaces) a schedule. `handled_through`: the time up to which its due times
    /// were handled by a previous process (`None` for a new one). A due time between then
    /// and `now` was missed: under `Missed::RunOnce` the returned action runs it once.
    /// Replacing keeps the count of running jobs, so overlap control spans an update.
    pub fn insert(
        &mut self,
        id: Arc<str>,
        plan: Plan,
        handled_through: Option<i64>,
        now: i64,
    ) -> Option<Action> {
        let (running, queued) = match self.remove_entry(&id) {
            Some(e) => (e.running, e.queued),
            None => (0, None),
        };
        let missed = handled_through
            .and_then(|t| plan.cadence.next_after(t))
            .filter(|first| *first <= now);
        let action = match (missed, plan.missed) {
            (Some(due), Missed::RunOnce) if !self.paused => Some(Action::Run {
                id: id.clone(),
                due,
                through: now,
                at: now,
            }),
            _ => None,
        };
        let next = self.next_for(&id, &plan, now);
        let mut entry = Entry {
            plan,
            next,
            running,
            queued,
            taken: None,
        };
        if let Some((_, at)) = entry.next {
            self.order.insert((at, id.clone()));
        }
        if matches!(action, Some(Action::Run { .. })) {
            entry.running += 1;
        }
        self.entries.insert(id, entry);
        action
    }

    /// Forgets a schedule; its running jobs finish unwatched. Returns whether it existed.
    pub fn remove(&mut self, id: &str) -> bool {
        self.remove_entry(id).is_some()
    }

    fn remove_entry(&mut self, id: &str) -> Option<Entry> {
        let (key, entry) = self.entries.remove_entry(id)?;
        if let Some((_, at)) = entry.next {
            self.order.remove(&(at, key));
        }
        Some(entry)
    }

    /// A schedule's next due time (without jitter); `None` when paused or never due.
    pub fn next_due(&self, id: &str) -> Option<i64> {
        if self.paused {
            return None;
        }
        let entry = self.entries.get(id)?;
        match entry.next {
            Some((due, _)) => Some(due),
            // Handed on by the timer and not rescheduled yet: the due time after the one
            // taken, as `reschedule` will give it (unless the schedule fell a period behind).
            None => entry.taken.and_then(|t| entry.plan.cadence.next_after(t)),
        }
    }

    /// When the earliest schedule fires (Unix ms), if any.
    pub fn next_fire(&self) -> Option<i64> {
        self.order.first().map(|(at, _)| *at)
    }

    /// Everything that fires at or before `now`, each rescheduled to its next due time.
    pub fn fire(&mut self, now: i64) -> Vec<Action> {
        let out = self.take_due(now);
        self.reschedule(now);
        out
    }

    /// What fires at or before `now`, without rescheduling: the timer hands the actions on
    /// first, so 10,000 jobs due on the same minute are not held back by 10,000 cron
    /// computations, then calls [`reschedule`](Self::reschedule). A timer with a lead passes
    /// a `now` that far ahead; each run carries its own `at`.
    pub fn take_due(&mut self, now: i64) -> Vec<Action> {
        let paused = self.paused;
        // Everything due at once in one split, not one `pop_first` each: popping 10,000
        // entries from the front rebalanced the tree at every step (measured as a tenth of
        // a minute's firing). `(now + 1, "")` is the least key after `now`.
        let later = self
            .order
            .split_off(&(now.saturating_add(1), Arc::from("")));
        let due = std::mem::replace(&mut self.order, later);
        let mut out = Vec::with_capacity(due.len());
        for (at, id) in due {
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            let Some((due, _)) = entry.next.take() else {
                continue;
            };
            entry.taken = Some(due);
            let action = if paused {
                Some(Action::Skip {
                    id: id.clone(),
                    due,
                    why: SkipReason::Paused,
                })
            } else if entry.running == 0 || entry.plan.overlap == Overlap::Allow {
                entry.running += 1;
                Some(Action::Run {
                    id: id.clone(),
                    due,
                    through: due,
                    at,
                })
            } else if entry.plan.overlap == Overlap::QueueOne && entry.queued.is_none() {
                // Runs (and is handled) when the running job ends.
                entry.queued = Some(due);
                None
            } else {
                Some(Action::Skip {
                    id: id.clone(),
                    due,
                    why: SkipReason::Overlap,
                })
            };
            out.extend(action);
            self.unscheduled.push(id);
        }
        out
    }

    /// Gives every schedule [`take_due`](Self::take_due) took its next due time. One that
    /// was replaced or removed meanwhile is left as it is.
    pub fn reschedule(&mut self, now: i64) {
        while self.reschedule_some(now, usize::MAX) {}
    }

    /// [`reschedule`](Self::reschedule) for at most `limit` schedules; returns whether some
    /// remain. The timer works in slices so the lock is never held for long. Schedules that
    /// share a cron expression and zone share the computation of their next due time.
    pub fn reschedule_some(&mut self, now: i64, limit: usize) -> bool {
        let take = limit.min(self.unscheduled.len());
        let batch: Vec<_> = self.unscheduled.drain(..take).collect();
        let mut shared: foldhash::HashMap<(Arc<str>, crate::zone::Zone, i64), Option<i64>> =
            foldhash::HashMap::default();
        for id in batch {
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            // None: replaced meanwhile (`insert` gave it its own next due time), or done.
            let Some(due) = entry.taken.take() else {
                continue;
            };
            let plan = &entry.plan;
            let mut after = |t: i64| match &plan.cadence {
                Cadence::Cron { expr, tz, .. } => *shared
                    .entry((expr.clone(), tz.clone(), t))
                    .or_insert_with(|| plan.cadence.next_after(t)),
                other => other.next_after(t),
            };
            let next = (|| {
                let mut next = after(due)?;
                // Fell more than a period behind (a suspended machine, a clock step): the
                // first due time after now; a backlog is never replayed.
                if next + (plan.jitter_ms as i64) < now {
                    next = after(now)?;
                }
                Some((next, next + jitter::offset(&id, next, plan.jitter_ms)))
            })();
            entry.next = next;
            if let Some((_, at)) = next {
                self.order.insert((at, id));
            }
        }
        !self.unscheduled.is_empty()
    }

    /// A job of `id` ended. Returns the queued run it releases, if any.
    pub fn finished(&mut self, id: &str) -> Option<Action> {
        let paused = self.paused;
        let (key, _) = self.entries.get_key_value(id)?;
        let key = key.clone();
        let entry = self.entries.get_mut(id)?;
        entry.running = entry.running.saturating_sub(1);
        if entry.running > 0 || paused {
            return None;
        }
        let due = entry.queued.take()?;
        entry.running += 1;
        // Its due time has passed: it starts now.
        Some(Action::Run {
            id: key,
            due,
            through: due,
            at: due,
        })
    }

    /// Due times pass without runs until [`resume`](Self::resume).
    pub fn pause(&mut self) {
        self.paused = true;
    }

    pub fn resume(&mut self) {
        self.paused = false;
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    fn next_for(&self, id: &str, plan: &Plan, now: i64) -> Option<(i64, i64)> {
        let due = plan.cadence.next_after(now)?;
        Some((due, due + jitter::offset(id, due, plan.jitter_ms)))
    }
}
