//! One Towerops SNMP job at a time per target (compat doc §9: the original gates one-shot
//! jobs by the device's bare IP), so two polls of one device never interleave their
//! requests and a slow device holds one worker, not many. A job waiting for its target
//! holds a worker slot; at most [`MAX_WAITING`] may wait per target, and beyond that the
//! job is answered "busy" rather than let one device take the whole pool.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::OwnedMutexGuard;

/// Jobs waiting for one target at most: the original parks at most 5× its 100 SNMP
/// workers, and a quarter of those per target (compat doc §9).
pub const MAX_WAITING: usize = 125;
/// Past this many keys, the ones no job holds are forgotten.
const PRUNE_AT: usize = 1024;

#[derive(Default)]
pub struct Gates(Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>);

/// Why a job could not pass its gate.
#[derive(Debug, PartialEq, Eq)]
pub struct Busy;

impl Gates {
    /// Waits until no other job runs against `key`; the guard lets the next one in when
    /// dropped. An empty key is no gate.
    pub async fn enter(&self, key: &str) -> Result<Option<OwnedMutexGuard<()>>, Busy> {
        if key.is_empty() {
            return Ok(None);
        }
        let gate = {
            let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if map.len() >= PRUNE_AT {
                map.retain(|_, w| w.strong_count() > 0);
            }
            match map.get(key).and_then(Weak::upgrade) {
                // The map's entry is weak: every strong count is a job holding or waiting,
                // plus the one just upgraded here.
                Some(g) if Arc::strong_count(&g) > MAX_WAITING + 1 => return Err(Busy),
                Some(g) => g,
                None => {
                    let g = Arc::new(tokio::sync::Mutex::new(()));
                    map.insert(key.to_owned(), Arc::downgrade(&g));
                    g
                }
            }
        };
        Ok(Some(gate.lock_owned().await))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn issue17_towerops_gate_one_at_a_time_per_key_and_busy_past_the_cap() {
        let g = Arc::new(Gates::default());
        let a = g.enter("10.0.0.1").await.unwrap();
        // Another key passes at once; the same key waits.
        assert!(g.enter("10.0.0.2").await.unwrap().is_some());
        let g2 = g.clone();
        let waiting = tokio::spawn(async move { g2.enter("10.0.0.1").await.map(|x| x.is_some()) });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(a);
        assert_eq!(waiting.await.unwrap(), Ok(true));
        // Holder plus MAX_WAITING waiters: the next is busy.
        let held = g.enter("k").await.unwrap();
        let mut parked = Vec::new();
        for _ in 0..MAX_WAITING {
            let g = g.clone();
            parked.push(tokio::spawn(async move { g.enter("k").await.is_ok() }));
        }
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
        assert_eq!(g.enter("k").await.err(), Some(Busy));
        drop(held);
        for p in parked {
            assert!(p.await.unwrap());
        }
        assert!(g.enter("").await.unwrap().is_none());
    }
}
