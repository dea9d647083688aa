//! The address fields of the AgentHeartbeat (`local_ips`, `interface_subnets`) from the
//! host's interface addresses, as the original computes them: addresses of interfaces
//! that are up and not loopback, without loopback, link-local unicast and link-local
//! multicast addresses; subnets as each address's masked network in CIDR. Both lists
//! deduplicated and sorted (as strings, like the original), so that an unchanged host
//! sends identical heartbeats.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One address of one interface, as the pump reads it from the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfAddr {
    pub addr: IpAddr,
    /// Prefix length of the address's network.
    pub prefix: u8,
    pub up: bool,
    pub loopback: bool,
}

fn reported(a: &IfAddr) -> bool {
    if !a.up || a.loopback || a.addr.is_loopback() {
        return false;
    }
    match a.addr {
        IpAddr::V4(v4) => !v4.is_link_local() && !v4.is_unspecified(),
        IpAddr::V6(v6) => {
            let seg0 = v6.segments()[0];
            // fe80::/10 link-local unicast, ff02::/16 link-local multicast.
            (seg0 & 0xffc0) != 0xfe80 && seg0 != 0xff02 && !v6.is_unspecified()
        }
    }
}

fn network(addr: IpAddr, prefix: u8) -> String {
    match addr {
        IpAddr::V4(v4) => {
            let p = prefix.min(32);
            let mask = u32::MAX.checked_shl(32 - u32::from(p)).unwrap_or(0);
            format!("{}/{p}", Ipv4Addr::from(u32::from(v4) & mask))
        }
        IpAddr::V6(v6) => {
            let p = prefix.min(128);
            let mask = u128::MAX.checked_shl(128 - u32::from(p)).unwrap_or(0);
            format!("{}/{p}", Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

/// `(local_ips, interface_subnets)` for the heartbeat.
pub fn heartbeat_addresses(addrs: &[IfAddr]) -> (Vec<String>, Vec<String>) {
    let mut ips: Vec<String> = Vec::new();
    let mut nets: Vec<String> = Vec::new();
    for a in addrs.iter().filter(|a| reported(a)) {
        ips.push(a.addr.to_string());
        nets.push(network(a.addr, a.prefix));
    }
    for v in [&mut ips, &mut nets] {
        v.sort();
        v.dedup();
    }
    (ips, nets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(addr: &str, prefix: u8, up: bool, loopback: bool) -> IfAddr {
        IfAddr {
            addr: addr.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            prefix,
            up,
            loopback,
        }
    }

    #[test]
    fn issue17_towerops_heartbeat_addresses() {
        let (ips, nets) = heartbeat_addresses(&[
            a("10.0.0.7", 24, true, false),
            a("10.0.0.9", 24, true, false),
            a("192.168.1.1", 32, true, false),
            a("127.0.0.1", 8, true, true),
            a("169.254.3.4", 16, true, false),
            a("fe80::1", 64, true, false),
            a("ff02::1", 16, true, false),
            a("2001:db8::5", 64, true, false),
            a("172.16.0.1", 12, false, false), // interface down
            a("10.0.0.7", 24, true, false),    // a duplicate
            a("0.0.0.0", 0, true, false),
        ]);
        assert_eq!(ips, ["10.0.0.7", "10.0.0.9", "192.168.1.1", "2001:db8::5"]);
        assert_eq!(nets, ["10.0.0.0/24", "192.168.1.1/32", "2001:db8::/64"]);
        // Out-of-range prefixes are clamped, never a panic.
        let (_, nets) = heartbeat_addresses(&[
            a("10.1.2.3", 40, true, false),
            a("2001:db8::1", 200, true, false),
        ]);
        assert_eq!(nets, ["10.1.2.3/32", "2001:db8::1/128"]);
    }
}
