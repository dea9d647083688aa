//! Which broker of `uplink.mqtt.url`'s list the uplink uses.
//!
//! One at a time. An agent starts at an offset derived from its id, so a fleet spreads over
//! a cluster's nodes instead of every agent crowding the first; after any connection that
//! failed or ended it moves to the next, and it stays wherever a connection works: it never
//! returns to a "preferred" node, so a node that comes back does not draw the whole fleet
//! onto itself. Nothing is lost by moving: the outbox is resent from the uplink's cursor
//! after any reconnect, whichever node takes it.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::url::{BrokerList, BrokerUrl};

pub struct Brokers {
    list: Vec<BrokerUrl>,
    current: AtomicUsize,
}

impl Brokers {
    /// `agent_id` picks the starting broker.
    pub fn new(list: BrokerList, agent_id: &str) -> Self {
        let list = list.into_vec();
        let start = if list.is_empty() {
            0
        } else {
            (offset(agent_id) % list.len() as u64) as usize
        };
        Brokers {
            list,
            current: AtomicUsize::new(start),
        }
    }

    /// The broker to connect to now. The list is never empty (`BrokerList` refuses that).
    pub fn current(&self) -> &BrokerUrl {
        let i = self.current.load(Ordering::Relaxed);
        &self.list[i % self.list.len().max(1)]
    }

    /// `host:port` of the current broker, for logs and the `broker` metric label.
    pub fn peer(&self) -> String {
        label(self.current())
    }

    /// Moves to the next broker; false when there is no other.
    pub fn advance(&self) -> bool {
        if self.list.len() < 2 {
            return false;
        }
        let next = (self.current.load(Ordering::Relaxed) + 1) % self.list.len();
        self.current.store(next, Ordering::Relaxed);
        true
    }

    /// Every broker's `host:port`, in list order.
    #[cfg(test)]
    fn peers(&self) -> Vec<String> {
        self.list.iter().map(label).collect()
    }
}

fn label(b: &BrokerUrl) -> String {
    if b.host.contains(':') {
        format!("[{}]:{}", b.host, b.port)
    } else {
        format!("{}:{}", b.host, b.port)
    }
}

/// FNV-1a of the agent id: stable across restarts (an agent goes back to the node it
/// started on last time) and spread across a fleet's ids.
fn offset(agent_id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in agent_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(n: usize) -> BrokerList {
        let text: Vec<String> = (0..n).map(|i| format!("mqtt://h{i}:1883")).collect();
        BrokerList::parse(&text.join(",")).unwrap()
    }

    #[test]
    fn issue20_brokers_start_spread_and_move_round_the_list() {
        let one = Brokers::new(list(1), "a");
        assert!(!one.advance(), "a single broker has nowhere to go");
        assert_eq!(one.peer(), "h0:1883");

        let b = Brokers::new(list(3), "agent-7");
        let first = b.peer();
        let mut seen = vec![first.clone()];
        for _ in 0..3 {
            assert!(b.advance());
            seen.push(b.peer());
        }
        assert_eq!(seen[3], first, "round the list and back");
        seen.truncate(3);
        seen.sort();
        assert_eq!(seen, ["h0:1883", "h1:1883", "h2:1883"]);

        // A fleet's ids spread over the nodes.
        let mut per_node = [0usize; 3];
        for i in 0..300 {
            let b = Brokers::new(list(3), &format!("site-{i}"));
            per_node[b.peers().iter().position(|p| *p == b.peer()).unwrap()] += 1;
        }
        assert!(per_node.iter().all(|n| *n > 60), "{per_node:?}");
        // The same id starts on the same node every time.
        assert_eq!(
            Brokers::new(list(3), "x").peer(),
            Brokers::new(list(3), "x").peer()
        );
    }
}
