//! Jitter: a due time moved later by up to `jitter_ms`, so a thousand schedules due on the
//! minute do not all hit the same devices in the same millisecond.
//!
//! Deterministic: the offset is a hash of the schedule's id and the due time, so a test can
//! predict it, and a restart does not move a due time that was already announced.

/// The offset in `0..=max_ms` for (`id`, `due`).
pub fn offset(id: &str, due: i64, max_ms: u64) -> i64 {
    if max_ms == 0 {
        return 0;
    }
    // FNV-1a over the id and the due time, then splitmix64's finalizer for the low bits:
    // stable across Rust versions and platforms (std's hasher promises neither).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes().chain(due.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h % (max_ms + 1)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue13_schedules_jitter_is_deterministic_and_bounded() {
        assert_eq!(offset("a", 60_000, 0), 0);
        let mut seen = std::collections::HashSet::new();
        for due in 0..1000i64 {
            let o = offset("poll", due * 60_000, 5_000);
            assert!((0..=5_000).contains(&o));
            assert_eq!(o, offset("poll", due * 60_000, 5_000));
            seen.insert(o);
        }
        // Spread, not a constant.
        assert!(seen.len() > 500, "{}", seen.len());
        assert_ne!(offset("a", 0, 1_000_000), offset("b", 0, 1_000_000));
    }
}
