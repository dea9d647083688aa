//! Where the reconciler's `/events` subscription resumes, so no event falls in a gap.
//!
//! The engine's `/events` stream starts with the subscription: whatever happens before the
//! engine has taken the request is not sent. The reconciler's first pass creates and starts
//! containers right away, and a container that exits at once (a crash loop's first death)
//! could die before the subscription is in place; that death would never reach the
//! reconciler, which restarts only on a death it saw. So every subscription asks for a
//! replay (`since`): the first from the moment the reconciler first subscribed (before its
//! first pass), a later one from the last event it was given. An event the replay repeats
//! (`since` is inclusive) is dropped here.
//!
//! The mark is the agent's clock; the engine stamps events with its own. Over the usual
//! local socket they are the same clock; a remote engine with a skewed clock can repeat or
//! miss events around a resubscription, and the pass after each resubscription still
//! catches up from the engine's listing.

use std::time::{SystemTime, UNIX_EPOCH};

/// The newest event given out, and the events given out at exactly that nanosecond.
#[derive(Debug, Clone)]
pub struct EventCursor {
    nanos: i64,
    at_mark: Vec<(String, String)>,
}

impl EventCursor {
    /// A cursor at the present moment: a subscription from it replays everything after now.
    pub fn now() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        EventCursor::at(nanos)
    }

    pub fn at(nanos: i64) -> Self {
        EventCursor {
            nanos,
            at_mark: Vec::new(),
        }
    }

    /// The `since` parameter of `/events`: `SECONDS.NANOSECONDS`, which Docker and Podman
    /// both read.
    pub fn since(&self) -> String {
        let n = self.nanos.max(0);
        format!("{}.{:09}", n / 1_000_000_000, n % 1_000_000_000)
    }

    /// Whether an event stamped `nanos` is new (and, if so, the cursor moves to it). An
    /// event without a stamp is always new and leaves the cursor where it is.
    pub fn admit(&mut self, nanos: Option<i64>, id: &str, action: &str) -> bool {
        let Some(nanos) = nanos else { return true };
        if nanos < self.nanos {
            return false;
        }
        let key = (id.to_owned(), action.to_owned());
        if nanos == self.nanos {
            if self.at_mark.contains(&key) {
                return false;
            }
            self.at_mark.push(key);
            return true;
        }
        self.nanos = nanos;
        self.at_mark = vec![key];
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue15_the_events_cursor_writes_since_as_seconds_dot_nanoseconds() {
        assert_eq!(
            EventCursor::at(1_795_711_711_000_000_007).since(),
            "1795711711.000000007"
        );
        assert_eq!(EventCursor::at(0).since(), "0.000000000");
    }

    #[test]
    fn issue15_the_events_cursor_drops_what_a_replay_repeats_and_keeps_the_rest() {
        let mut c = EventCursor::at(100);
        // Before the mark: an event the replay should not have sent.
        assert!(!c.admit(Some(99), "a", "start"));
        // At the mark: each (container, action) once.
        assert!(c.admit(Some(100), "a", "start"));
        assert!(!c.admit(Some(100), "a", "start"));
        assert!(c.admit(Some(100), "a", "die"));
        assert!(c.admit(Some(105), "b", "start"));
        assert_eq!(c.since(), "0.000000105");
        // A resubscription from 105 replays b's start: dropped; what follows is new.
        assert!(!c.admit(Some(105), "b", "start"));
        assert!(!c.admit(Some(101), "a", "die"));
        assert!(c.admit(Some(106), "a", "start"));
        // No stamp: passed on, the cursor unmoved.
        assert!(c.admit(None, "z", "start"));
        assert_eq!(c.since(), "0.000000106");
    }
}
