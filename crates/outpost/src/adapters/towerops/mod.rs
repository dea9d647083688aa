//! The Towerops agent's wire (`TOWEROPS_API_URL`, a Phoenix v1 channel carrying protobuf
//! jobs and results; see ../shared/compat/towerops.md), to be mapped onto Outpost's own
//! paths. Off by default: nothing here runs unless the URL and a token are configured.
//!
//! Part 1 (this module so far): the session state machine, the socket URL, the
//! heartbeat's address fields, the value rules of SNMP results, traps as SnmpTrap and the
//! first-run stagger of local schedules. Nothing is wired into the daemon yet. The wire
//! shapes themselves live in `outpost_proto::towerops`; this adapter only names them.

pub mod addresses;
pub mod session;
pub mod stagger;
pub mod trap;
pub mod url;
pub mod values;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A join topic unique per connection: `agent:agent-<unix nanos>-<seq>`. The sequence
/// keeps two connections in the same nanosecond (or a clock stepped back) apart; the
/// original's seconds-only id collided on fast reconnects.
pub fn fresh_topic() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    session::topic(nanos, SEQ.fetch_add(1, Ordering::Relaxed))
}
