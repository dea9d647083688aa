//! One SocketMan stats line (../shared/compat/socketman.md §5): `device{}` from /proc, /sys
//! and sysinfo(2), `dhcp[]` from dnsmasq's leases file, and the Wi-Fi arrays (`ssids[]`,
//! `stations[]`, `survey[]`) handed in by the caller (decoded from nl80211 by
//! [`super::nl80211`]). Field names, order and JSON types are SocketMan's: the collector
//! keys on them. Every file is read under a root ([`Paths`]), so tests point it at a
//! recorded tree; a missing or unreadable file leaves its fields empty, never fails the
//! line (SocketMan sent what it had).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::nl80211::{Ssid, Station, SurveyEntry};

/// SocketMan's `v`: the stats format's version, which the collector checks.
pub const FORMAT_VERSION: &str = "4";

/// Where the collector reads. [`Paths::system`] is a device's real files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// `/proc` (net/route, net/fib_trie, net/dev).
    pub proc: PathBuf,
    /// dnsmasq's leases (`/tmp/dhcp.leases` on OpenWrt).
    pub leases: PathBuf,
    /// `/etc/openwrt_version`: `firmware`, on OpenWrt only.
    pub openwrt_version: PathBuf,
    /// `/tmp/sysinfo/model`: `machine_type`, else os-release's `NAME`.
    pub model: PathBuf,
    pub os_release: PathBuf,
}

impl Paths {
    pub fn system() -> Paths {
        Paths::under(Path::new("/"))
    }

    /// The same layout under `root` (a test's recorded tree).
    pub fn under(root: &Path) -> Paths {
        Paths {
            proc: root.join("proc"),
            leases: root.join("tmp/dhcp.leases"),
            openwrt_version: root.join("etc/openwrt_version"),
            model: root.join("tmp/sysinfo/model"),
            os_release: root.join("etc/os-release"),
        }
    }
}

/// `dhcp[]`: one dnsmasq lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub mac: String,
    pub ip: String,
    pub name: String,
}

/// sysinfo(2)'s figures, raw (SocketMan sent the RAM in the kernel's units).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SysInfo {
    pub uptime: i64,
    /// Load averages in the kernel's fixed point (÷ 65536).
    pub loads: [u64; 3],
    pub total_ram: u64,
    pub free_ram: u64,
    pub procs: u16,
}

impl SysInfo {
    pub fn now() -> SysInfo {
        let i = rustix::system::sysinfo();
        SysInfo {
            uptime: i.uptime as i64,
            loads: [i.loads[0] as u64, i.loads[1] as u64, i.loads[2] as u64],
            total_ram: i.totalram as u64,
            free_ram: i.freeram as u64,
            procs: i.procs,
        }
    }
}

/// `device{}`, in SocketMan's key order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Device {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    pub wan_name: String,
    pub wan_gateway: String,
    pub wan_ip: String,
    pub machine_type: String,
    pub smv: String,
    pub mac: String,
    pub tx_bytes: u64,
    pub rx_bytes: u64,
    pub uptime: i64,
    pub load_1: f64,
    pub load_5: f64,
    pub load_15: f64,
    pub total_ram: f64,
    pub free_ram: f64,
    pub procs: u16,
    pub v: &'static str,
    pub status: u8,
    pub connected: usize,
    pub created_at: i64,
}

/// The Wi-Fi part of a line: present (even empty) only with SocketMan's `scan` on.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Wifi {
    pub ssids: Vec<Ssid>,
    pub survey: Vec<SurveyEntry>,
    pub stations: Vec<Station>,
}

/// One stats line: `ssids`, `survey`, `stations` (with `scan`), `dhcp`, `device`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub wifi: Option<Wifi>,
    pub dhcp: Vec<Lease>,
    pub device: Device,
}

/// The default route from /proc/net/route: `(interface, gateway)`, the lowest metric.
pub fn default_route(route: &str) -> Option<(String, std::net::Ipv4Addr)> {
    route
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (iface, dest, gw, metric, mask) =
                (f.first()?, f.get(1)?, f.get(2)?, f.get(6)?, f.get(7)?);
            let up = u16::from_str_radix(f.get(3)?, 16).ok()? & 1 == 1;
            (up && hex_ip(dest)?.is_unspecified() && hex_ip(mask)?.is_unspecified()).then_some((
                metric.parse::<u32>().ok()?,
                iface.to_string(),
                hex_ip(gw)?,
            ))
        })
        .min_by_key(|(m, _, _)| *m)
        .map(|(_, i, g)| (i, g))
}

/// The connected subnets of `iface` from /proc/net/route: `(network, mask)`.
fn subnets(route: &str, iface: &str) -> Vec<(u32, u32)> {
    route
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if *f.first()? != iface || !hex_ip(f.get(2)?)?.is_unspecified() {
                return None;
            }
            let (dest, mask) = (hex_ip(f.get(1)?)?, hex_ip(f.get(7)?)?);
            (!mask.is_unspecified()).then_some((u32::from(dest), u32::from(mask)))
        })
        .collect()
}

/// /proc/net/route writes addresses as the host-order (little-endian here) hex of the
/// network-order bytes.
fn hex_ip(s: &str) -> Option<std::net::Ipv4Addr> {
    let v = u32::from_str_radix(s, 16).ok()?;
    Some(std::net::Ipv4Addr::from(v.to_le_bytes()))
}

/// The local addresses (`/32 host LOCAL`) in /proc/net/fib_trie.
fn local_addrs(fib_trie: &str) -> Vec<std::net::Ipv4Addr> {
    let mut last = None;
    let mut out = Vec::new();
    for l in fib_trie.lines() {
        let t = l.trim_start_matches([' ', '|', '+', '-']).trim();
        if let Ok(ip) = t.parse::<std::net::Ipv4Addr>() {
            last = Some(ip);
        } else if t.starts_with("/32 host LOCAL") {
            if let Some(ip) = last {
                if !out.contains(&ip) {
                    out.push(ip);
                }
            }
        }
    }
    out
}

/// The WAN interface's address: the local address inside one of its connected subnets
/// (no netlink or ioctl needed, and it reads the namespace the agent runs in).
pub fn wan_ip(route: &str, fib_trie: &str, iface: &str) -> Option<std::net::Ipv4Addr> {
    let nets = subnets(route, iface);
    local_addrs(fib_trie)
        .into_iter()
        .find(|ip| nets.iter().any(|(n, m)| u32::from(*ip) & m == n & m))
}

/// dnsmasq's leases: `<expiry> <mac> <ip> <hostname> <client-id>` per line.
pub fn parse_leases(text: &str) -> Vec<Lease> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some(Lease {
                mac: f.get(1)?.to_string(),
                ip: f.get(2)?.to_string(),
                name: f.get(3)?.to_string(),
            })
        })
        .collect()
}

/// os-release's `NAME`, unquoted.
fn os_name(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("NAME="))
        .map(|v| v.trim().trim_matches('"').to_owned())
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

/// The `smv` field: SocketMan sent the first 10 characters of its build string.
pub fn smv() -> String {
    env!("CARGO_PKG_VERSION").chars().take(10).collect()
}

/// Collects one line. `status` is the connectivity score, `wifi` what nl80211 gave
/// (`None` with `scan` off).
pub fn line(
    paths: &Paths,
    mac: &str,
    sys: SysInfo,
    status: u8,
    wifi: Option<Wifi>,
    now: i64,
) -> Line {
    let route = read(&paths.proc.join("net/route")).unwrap_or_default();
    let (wan_name, gw) = default_route(&route).unzip();
    let wan_name = wan_name.unwrap_or_default();
    let wan_ip = read(&paths.proc.join("net/fib_trie"))
        .and_then(|t| wan_ip(&route, &t, &wan_name))
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    // SocketMan read garbage here without a default route; no route gives 0.
    let (tx_bytes, rx_bytes) = read(&paths.proc.join("net/dev"))
        .map(|t| outpost_host::net::parse_net_dev(&t))
        .and_then(|ifs| ifs.into_iter().find(|i| i.name == wan_name))
        .map_or((0, 0), |i| (i.tx_bytes, i.rx_bytes));
    let machine_type = read(&paths.model)
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .or_else(|| read(&paths.os_release).and_then(|t| os_name(&t)))
        .unwrap_or_default();
    let connected = wifi.as_ref().map_or(0, |w| w.stations.len());
    let load = |i: usize| sys.loads[i] as f64 / 65536.0;
    Line {
        wifi,
        dhcp: read(&paths.leases)
            .map(|t| parse_leases(&t))
            .unwrap_or_default(),
        device: Device {
            firmware: read(&paths.openwrt_version)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
            wan_name,
            wan_gateway: gw.map(|g| g.to_string()).unwrap_or_default(),
            wan_ip,
            machine_type,
            smv: smv(),
            mac: mac.to_owned(),
            tx_bytes,
            rx_bytes,
            uptime: sys.uptime,
            load_1: load(0),
            load_5: load(1),
            load_15: load(2),
            total_ram: sys.total_ram as f64,
            free_ram: sys.free_ram as f64,
            procs: sys.procs,
            v: FORMAT_VERSION,
            status,
            connected,
            created_at: now,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth1\t00000000\t0101A8C0\t0003\t0\t0\t20\t00000000\t0\t0\t0\n\
eth0\t00000000\t0100000A\t0003\t0\t0\t10\t00000000\t0\t0\t0\n\
eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";

    const FIB: &str = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n\
Local:\n  +-- 10.0.0.0/24 2 0 2\n     |-- 10.0.0.7\n        /32 host LOCAL\n     |-- 10.0.0.255\n        /32 link BROADCAST\n\
     |-- 127.0.0.1\n        /32 host LOCAL\n";

    #[test]
    fn issue18_default_route_wan_ip_and_leases() {
        let (iface, gw) = default_route(ROUTE).unwrap();
        assert_eq!(
            (iface.as_str(), gw.to_string().as_str()),
            ("eth0", "10.0.0.1")
        );
        assert_eq!(wan_ip(ROUTE, FIB, "eth0").unwrap().to_string(), "10.0.0.7");
        assert_eq!(wan_ip(ROUTE, FIB, "eth1"), None);
        assert_eq!(default_route("Iface\n"), None);
        let l = parse_leases("1700000000 aa:bb:cc:dd:ee:ff 192.168.1.20 laptop 01:aa\nbad\n");
        assert_eq!(
            l,
            vec![Lease {
                mac: "aa:bb:cc:dd:ee:ff".into(),
                ip: "192.168.1.20".into(),
                name: "laptop".into()
            }]
        );
        assert_eq!(
            os_name("ID=x\nNAME=\"Debian GNU/Linux\"\n").as_deref(),
            Some("Debian GNU/Linux")
        );
    }
}
