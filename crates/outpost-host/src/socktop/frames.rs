//! socktop replies kept as the frames they were sent as. A cached value is
//! serialized (and gzipped, past the threshold) once; every request served
//! from the same value gets the same bytes, shared by reference count, so a
//! cache hit costs two uncontended locks and a pointer copy. socktop_agent
//! serializes and gzips its cached value on every request.
//!
//! A frame is tied to the value it was encoded from by pointer identity: the
//! host's caches hand out the same `Arc` while a value is fresh and a new one
//! once it is refreshed, so TTLs keep their meaning with no second clock here.
//! The slot holds its source `Arc`, so the address cannot be reused by a new
//! value while the frame is stored. Encoding runs under the slot's lock:
//! requests that arrive while a frame is being encoded wait for it and take
//! it (single flight), as the host's caches do for collection. One frame per
//! group is kept, so the memory is bounded by the groups, not the clients.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, TryLockError};

use super::Reply;
use crate::disks::Disk;
use crate::processes::ProcessList;
use crate::{CacheGroup, HostMetrics};

/// What a frame was encoded from; the same source means the same frame.
pub(crate) trait Source {
    /// Whether `self` and `other` are the very same value (not merely equal).
    fn same(&self, other: &Self) -> bool;
}

impl<T> Source for Arc<T> {
    fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(self, other)
    }
}

impl<T: Source> Source for Option<T> {
    fn same(&self, other: &Self) -> bool {
        match (self, other) {
            (Some(a), Some(b)) => a.same(b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl<A: Source, B: Source> Source for (A, B) {
    fn same(&self, other: &Self) -> bool {
        self.0.same(&other.0) && self.1.same(&other.1)
    }
}

/// The last frame of one group and the value it came from.
#[derive(Debug)]
pub(crate) struct FrameSlot<K> {
    last: Mutex<Option<(K, Reply)>>,
    /// Frames encoded, for tests and benchmarks.
    encodes: AtomicU64,
}

impl<K> Default for FrameSlot<K> {
    fn default() -> Self {
        FrameSlot {
            last: Mutex::new(None),
            encodes: AtomicU64::new(0),
        }
    }
}

impl<K: Source> FrameSlot<K> {
    /// The frame for `source`: the stored one if it was encoded from it, else
    /// `encode(&source)`, stored for the next caller.
    pub(crate) fn get(&self, source: K, encode: impl FnOnce(&K) -> Reply) -> Reply {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((k, frame)) = last.as_ref() {
            if k.same(&source) {
                return frame.clone();
            }
        }
        self.encodes.fetch_add(1, Ordering::Relaxed);
        let frame = encode(&source);
        *last = Some((source, frame.clone()));
        frame
    }

    /// The stored frame if it was encoded from `source`; never encodes and
    /// never waits (None while another caller holds the slot).
    pub(crate) fn try_get(&self, source: &K) -> Option<Reply> {
        let last = match self.last.try_lock() {
            Ok(last) => last,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        let (k, frame) = last.as_ref()?;
        k.same(source).then(|| frame.clone())
    }

    fn encodes(&self) -> u64 {
        self.encodes.load(Ordering::Relaxed)
    }
}

/// What a `get_disks` frame is encoded from: the filesystems, and the fast
/// metrics whose hwmon scan gave the disks' temperatures (None: a scan of
/// its own, when the metrics were not cached).
pub(crate) type DisksSource = (Arc<Vec<Disk>>, Option<Arc<HostMetrics>>);

/// One slot per cached socktop request.
#[derive(Debug, Default)]
pub(crate) struct Frames {
    /// `get_metrics`.
    pub(crate) metrics: FrameSlot<Arc<HostMetrics>>,
    /// `get_processes`.
    pub(crate) processes: FrameSlot<Arc<ProcessList>>,
    /// `get_disks`.
    pub(crate) disks: FrameSlot<DisksSource>,
}

impl Frames {
    pub(crate) fn encodes(&self, group: CacheGroup) -> u64 {
        match group {
            CacheGroup::Metrics => self.metrics.encodes(),
            CacheGroup::Disks => self.disks.encodes(),
            CacheGroup::Processes => self.processes.encodes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Reply {
        Reply::text(s.to_owned())
    }

    #[test]
    fn same_source_same_frame_new_source_new_frame() {
        let slot: FrameSlot<Arc<u32>> = FrameSlot::default();
        let a = Arc::new(1);
        assert!(slot.try_get(&a).is_none());
        let first = slot.get(Arc::clone(&a), |_| text("one"));
        let again = slot.get(Arc::clone(&a), |_| text("not encoded again"));
        assert_eq!(first, again);
        assert_eq!(slot.try_get(&a), Some(first.clone()));
        assert_eq!(slot.encodes(), 1);
        // An equal but different value is a refresh: encoded anew.
        let b = Arc::new(1);
        assert!(slot.try_get(&b).is_none());
        assert_eq!(slot.get(b, |_| text("two")), text("two"));
        assert_eq!(slot.encodes(), 2);
    }

    #[test]
    fn pairs_and_options_compare_every_part() {
        let (a, b) = (Arc::new(1), Arc::new(2));
        assert!((Arc::clone(&a), Some(Arc::clone(&b))).same(&(Arc::clone(&a), Some(b))));
        assert!(!(Arc::clone(&a), None::<Arc<u32>>).same(&(Arc::clone(&a), Some(Arc::new(2)))));
        assert!(!Some(a).same(&Some(Arc::new(1))));
    }
}
