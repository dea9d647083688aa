//! Counters the engine keeps so every dropped datagram is accounted for.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Live counters, bumped by the engine's tasks.
#[derive(Debug, Default)]
pub struct Stats {
    /// Request datagrams/segments sent, including retransmissions.
    pub requests_sent: AtomicU64,
    /// Of those, retransmissions after a timeout.
    pub retransmits: AtomicU64,
    /// Datagrams read from our sockets.
    pub datagrams_received: AtomicU64,
    /// Replies accepted and credited to their request.
    pub responses_accepted: AtomicU64,
    /// Could not be decoded at all (garbage, truncated, oversized).
    pub malformed: AtomicU64,
    /// Decoded, but no request is waiting for that id (late, duplicate, spoofed).
    pub unknown_request_id: AtomicU64,
    /// Right id, but from an address other than the target's (spoofed).
    pub wrong_source: AtomicU64,
    /// Right id and source but failed validation: wrong version, community,
    /// PDU type, inner request-id, or USM authentication/decryption.
    pub rejected: AtomicU64,
    /// Dropped because the waiting request's queue was full.
    pub queue_full: AtomicU64,
    /// Requests that ran out of retries.
    pub timeouts: AtomicU64,
}

/// A point-in-time copy of [`Stats`], serialisable for `/metrics` and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StatsSnapshot {
    /// See [`Stats::requests_sent`].
    pub requests_sent: u64,
    /// See [`Stats::retransmits`].
    pub retransmits: u64,
    /// See [`Stats::datagrams_received`].
    pub datagrams_received: u64,
    /// See [`Stats::responses_accepted`].
    pub responses_accepted: u64,
    /// See [`Stats::malformed`].
    pub malformed: u64,
    /// See [`Stats::unknown_request_id`].
    pub unknown_request_id: u64,
    /// See [`Stats::wrong_source`].
    pub wrong_source: u64,
    /// See [`Stats::rejected`].
    pub rejected: u64,
    /// See [`Stats::queue_full`].
    pub queue_full: u64,
    /// See [`Stats::timeouts`].
    pub timeouts: u64,
}

impl StatsSnapshot {
    /// Every reply that was read but not credited to a request.
    pub fn dropped(&self) -> u64 {
        self.malformed
            + self.unknown_request_id
            + self.wrong_source
            + self.rejected
            + self.queue_full
    }
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests_sent: self.requests_sent.load(Relaxed),
            retransmits: self.retransmits.load(Relaxed),
            datagrams_received: self.datagrams_received.load(Relaxed),
            responses_accepted: self.responses_accepted.load(Relaxed),
            malformed: self.malformed.load(Relaxed),
            unknown_request_id: self.unknown_request_id.load(Relaxed),
            wrong_source: self.wrong_source.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            queue_full: self.queue_full.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
        }
    }
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}
