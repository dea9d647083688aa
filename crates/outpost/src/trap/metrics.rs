//! The receiver's counters. Every notification that reaches a socket ends in exactly one of
//! them: accepted (stored), dropped by a named reason, or dropped by the kernel before we
//! read it. v3 discovery probes, which are not notifications, are counted apart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet},
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};

/// Why a datagram was dropped.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum DropReason {
    /// Not a decodable SNMP message.
    Malformed,
    /// v1/v2c community not in `trap.communities`.
    Community,
    /// Source address outside `trap.allowed_networks`.
    SourceNetwork,
    /// v3 user (or its engine ID) not configured.
    UnknownUser,
    /// v3 authentication or decryption failed, or the security level is wrong.
    AuthFailure,
    /// A valid message that is not a trap or inform (a GET sent to the trap port).
    NotNotification,
    /// The queue towards the store was full.
    QueueFull,
    /// The store refused the event (it is not acknowledged).
    StoreError,
    /// An authenticated v3 notification outside the RFC 3414 time window: a replay, or a
    /// sender whose clock (or ours, for informs) it does not know. An inform is answered
    /// with a notInTimeWindow Report so its sender can resynchronize and retry.
    NotInTimeWindow,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::Community => "community",
            DropReason::SourceNetwork => "source_network",
            DropReason::UnknownUser => "unknown_user",
            DropReason::AuthFailure => "auth_failure",
            DropReason::NotNotification => "not_notification",
            DropReason::QueueFull => "queue_full",
            DropReason::StoreError => "store_error",
            DropReason::NotInTimeWindow => "not_in_time_window",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

/// The receiver's figures, shared by the read loops and the writer.
#[derive(Clone, Debug, Default)]
pub struct TrapMetrics {
    /// Notifications written to the outbox (or printed, for `traps listen`).
    pub accepted: Counter,
    /// Informs whose Response was sent (after the event was stored).
    pub informs_acknowledged: Counter,
    /// Datagrams dropped, by reason.
    pub dropped: Family<ReasonLabel, Counter>,
    /// v3 discovery probes answered with a Report; not notifications.
    pub reports: Counter,
    /// Socket inodes whose kernel drop counters are read at scrape time.
    pub sockets: KernelDrops,
}

impl TrapMetrics {
    pub fn drop(&self, reason: DropReason) {
        self.dropped
            .get_or_create(&ReasonLabel {
                reason: reason.as_str().into(),
            })
            .inc();
    }

    pub fn dropped_by(&self, reason: DropReason, n: u64) {
        self.dropped
            .get_or_create(&ReasonLabel {
                reason: reason.as_str().into(),
            })
            .inc_by(n);
    }

    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped
            .get_or_create(&ReasonLabel {
                reason: reason.as_str().into(),
            })
            .get()
    }

    pub fn register(&self, reg: &mut Registry) {
        reg.register(
            "outpost_trap_accepted",
            "SNMP notifications accepted and stored in the outbox",
            self.accepted.clone(),
        );
        reg.register(
            "outpost_trap_informs_acknowledged",
            "SNMP informs acknowledged, each after its event was stored",
            self.informs_acknowledged.clone(),
        );
        reg.register(
            "outpost_trap_dropped",
            "SNMP datagrams dropped by the receiver, by reason",
            self.dropped.clone(),
        );
        reg.register(
            "outpost_trap_reports",
            "SNMPv3 discovery probes answered with a Report",
            self.reports.clone(),
        );
        reg.register_collector(Box::new(self.sockets.clone()));
    }
}

/// Reads the kernel's `drops` column of /proc/net/udp and udp6 for our sockets, at scrape
/// time only (idle stays idle).
#[derive(Clone, Debug, Default)]
pub struct KernelDrops {
    /// Socket inodes of the receiver's sockets.
    inodes: Arc<Mutex<Vec<u64>>>,
    /// The count when the sockets closed: their rows leave /proc with them, and a
    /// summary written after the receiver stopped (`traps listen`'s) still needs it.
    frozen: Arc<AtomicU64>,
}

impl KernelDrops {
    pub fn add(&self, inode: u64) {
        if let Ok(mut v) = self.inodes.lock() {
            v.push(inode);
        }
    }

    /// Reads the count one last time and keeps it: called when the sockets are about to
    /// close (the read loop's end), after which [`KernelDrops::total`] returns it.
    pub fn freeze(&self) {
        let n = self.total();
        if let Ok(mut v) = self.inodes.lock() {
            v.clear();
        }
        // `n` already holds any earlier frozen count.
        self.frozen.store(n, Ordering::Release);
    }

    /// Total datagrams the kernel dropped on our sockets (buffer full).
    pub fn total(&self) -> u64 {
        let frozen = self.frozen.load(Ordering::Acquire);
        let inodes = match self.inodes.lock() {
            Ok(v) => v.clone(),
            Err(_) => return frozen,
        };
        if inodes.is_empty() {
            return frozen;
        }
        let mut sum = 0;
        for file in ["/proc/net/udp", "/proc/net/udp6"] {
            let Ok(text) = std::fs::read_to_string(file) else {
                continue;
            };
            sum += drops_in(&text, &inodes);
        }
        frozen + sum
    }
}

/// Sums the `drops` column (the last) of rows whose inode (column 10) is in `inodes`.
pub fn drops_in(table: &str, inodes: &[u64]) -> u64 {
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let inode: u64 = cols.get(9)?.parse().ok()?;
            if !inodes.contains(&inode) {
                return None;
            }
            cols.last()?.parse::<u64>().ok()
        })
        .sum()
}

impl Collector for KernelDrops {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        outpost_host::prom::counter(
            &mut encoder,
            "outpost_trap_kernel_drops",
            "Datagrams the kernel dropped on the trap sockets (receive buffer full), from /proc/net/udp",
            self.total(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_column_is_read_for_our_inode_only() {
        let t = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  1: 0100007F:A2B4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17\n\
  2: 0100007F:A2B5 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4243 2 0000000000000000 5\n";
        assert_eq!(drops_in(t, &[4242]), 17);
        assert_eq!(drops_in(t, &[4242, 4243]), 22);
        assert_eq!(drops_in(t, &[1]), 0);
    }
}
