//! A TTL cache per metric group. Collection runs under the group's lock, so
//! callers that arrive during a refresh wait for it and take its result
//! instead of collecting again (single-flight). Nothing runs between calls.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, TryLockError};
use std::time::{Duration, Instant};

/// One group's cached value and the collector state that produces it.
#[derive(Debug)]
pub(crate) struct Cached<S, T> {
    /// How long a value is served before the next caller refreshes it.
    ttl: Duration,
    /// The collector state and the last value with its time.
    slot: Mutex<Slot<S, T>>,
    /// Collections run, for the single-flight test and for /metrics.
    collections: AtomicU64,
}

#[derive(Debug)]
struct Slot<S, T> {
    /// What the collector keeps between samples (previous counters).
    state: S,
    /// The last value and when it was collected.
    last: Option<(Instant, Arc<T>)>,
}

impl<S: Default, T> Cached<S, T> {
    pub(crate) fn new(ttl: Duration) -> Self {
        Cached {
            ttl,
            slot: Mutex::new(Slot {
                state: S::default(),
                last: None,
            }),
            collections: AtomicU64::new(0),
        }
    }
}

impl<S, T> Cached<S, T> {
    /// The cached value if fresh, else the result of `collect`.
    pub(crate) fn get<E>(&self, collect: impl FnOnce(&mut S) -> Result<T, E>) -> Result<Arc<T>, E> {
        // A panic cannot happen in collectors (lints forbid it), but if one
        // did, the state is still usable: take it rather than propagate.
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, value)) = &slot.last {
            if at.elapsed() < self.ttl {
                return Ok(Arc::clone(value));
            }
        }
        self.collections.fetch_add(1, Ordering::Relaxed);
        let value = Arc::new(collect(&mut slot.state)?);
        slot.last = Some((Instant::now(), Arc::clone(&value)));
        Ok(value)
    }

    /// The cached value if it is fresh, without collecting and without
    /// waiting: None while a collection holds the lock (the caller then goes
    /// the blocking way and shares that collection's result).
    pub(crate) fn fresh(&self) -> Option<Arc<T>> {
        let slot = match self.slot.try_lock() {
            Ok(slot) => slot,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        let (at, value) = slot.last.as_ref()?;
        (at.elapsed() < self.ttl).then(|| Arc::clone(value))
    }

    /// Runs `f` on the collector state; lets tests see it.
    #[cfg(test)]
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&S) -> R) -> R {
        let slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        f(&slot.state)
    }

    pub(crate) fn collections(&self) -> u64 {
        self.collections.load(Ordering::Relaxed)
    }
}

/// A TTL cache per pid for the detail requests, bounded: entries older than
/// the TTL are swept on every insert and at most `max_entries` are kept
/// (oldest evicted), so a client walking pids cannot grow it. Collection
/// runs under the lock, so at most one detail collection (and one
/// journalctl) runs at a time, whatever the number of sessions.
#[derive(Debug)]
pub(crate) struct PerPid<T> {
    /// How long one pid's value is served.
    ttl: Duration,
    /// Pids remembered at most.
    max_entries: usize,
    /// pid -> (collected at, value).
    slot: Mutex<std::collections::HashMap<u32, (Instant, Arc<T>)>>,
}

impl<T> PerPid<T> {
    pub(crate) fn new(ttl: Duration, max_entries: usize) -> Self {
        PerPid {
            ttl,
            max_entries: max_entries.max(1),
            slot: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The cached value for `pid` if fresh, else the result of `collect`.
    pub(crate) fn get<E>(
        &self,
        pid: u32,
        collect: impl FnOnce() -> Result<T, E>,
    ) -> Result<Arc<T>, E> {
        let mut map = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, value)) = map.get(&pid) {
            if at.elapsed() < self.ttl {
                return Ok(Arc::clone(value));
            }
        }
        let value = Arc::new(collect()?);
        let ttl = self.ttl;
        map.retain(|_, (at, _)| at.elapsed() < ttl);
        while map.len() >= self.max_entries {
            let Some(oldest) = map.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| *k) else {
                break;
            };
            map.remove(&oldest);
        }
        map.insert(pid, (Instant::now(), Arc::clone(&value)));
        Ok(value)
    }

    /// Pids remembered now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_fresh_value_and_refreshes_stale() {
        let c: Cached<u32, u32> = Cached::new(Duration::from_secs(3600));
        let a = c.get::<()>(|n| {
            *n += 1;
            Ok(*n)
        });
        let b = c.get::<()>(|n| {
            *n += 1;
            Ok(*n)
        });
        assert_eq!((*a.unwrap(), *b.unwrap()), (1, 1));
        assert_eq!(c.collections(), 1);

        let z: Cached<u32, u32> = Cached::new(Duration::ZERO);
        z.get::<()>(|_| Ok(1)).unwrap();
        z.get::<()>(|_| Ok(2)).unwrap();
        assert_eq!(z.collections(), 2);
        assert!(z.fresh().is_none(), "TTL 0 is never fresh");
    }

    #[test]
    fn fresh_peeks_without_collecting_or_waiting() {
        let c: Cached<u32, u32> = Cached::new(Duration::from_secs(3600));
        assert!(c.fresh().is_none());
        let a = c.get::<()>(|_| Ok(5)).unwrap();
        let b = c.fresh().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(c.collections(), 1);
        // During a collection the slot is locked: fresh() answers None at once.
        c.with_state(|_| assert!(c.fresh().is_none()));
    }

    #[test]
    fn per_pid_cache_is_bounded_and_serves_fresh_values() {
        let c: PerPid<u32> = PerPid::new(Duration::from_secs(3600), 4);
        for pid in 0..100u32 {
            c.get::<()>(pid, || Ok(pid)).unwrap();
            assert!(c.len() <= 4);
        }
        // 99 is fresh: served without collecting.
        assert_eq!(*c.get::<()>(99, || Ok(0)).unwrap(), 99);
        assert!(c.get(5, || Err("gone")).is_err());
        let z: PerPid<u32> = PerPid::new(Duration::ZERO, 4);
        z.get::<()>(1, || Ok(1)).unwrap();
        assert_eq!(*z.get::<()>(1, || Ok(2)).unwrap(), 2);
    }

    #[test]
    fn errors_are_not_cached() {
        let c: Cached<(), u32> = Cached::new(Duration::from_secs(3600));
        assert!(c.get(|_| Err("boom")).is_err());
        assert_eq!(*c.get::<()>(|_| Ok(7)).unwrap(), 7);
    }

    #[test]
    fn concurrent_callers_share_one_collection() {
        let c: Arc<Cached<(), u32>> = Arc::new(Cached::new(Duration::from_secs(3600)));
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let c = Arc::clone(&c);
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    *c.get::<()>(|_| Ok(42)).unwrap()
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), 42);
        }
        assert_eq!(c.collections(), 1);
    }
}
