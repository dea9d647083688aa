//! LLDP_TOPOLOGY (compat doc §4, lldp.go): the device's LLDP-MIB read over SNMP and
//! answered as LldpTopologyResult on `lldp_topology_result`.
//!
//! Reads: lldpLocSysName (GET), lldpLocPortDesc (walk, by local port number), the
//! lldpRemTable columns (walk; rows indexed `timeMark.localPort.remIndex`) and
//! lldpRemManAddrTable (walk of one column: the address is in the row's index). Rows come
//! out in numeric index order. A neighbor's name is its sysName, else its chassis id, else
//! its first management address; a row with none is skipped. The local port is its
//! description, else `port-N`.
//!
//! Beyond the original: chassis and port ids are formatted by their subtype (a MAC as colon
//! hex, a network address as the address, a name as text) where the original printed the
//! bytes whatever they meant.

use std::collections::BTreeMap;

use outpost_proto::towerops::{LldpNeighbor, LldpTopologyResult};
use outpost_snmp::{Oid, Session, Value, WalkMode};

/// lldpLocSysName.0
const LOC_SYS_NAME: &[u32] = &[1, 0, 8802, 1, 1, 2, 1, 3, 3, 0];
/// lldpLocPortDesc, indexed by lldpLocPortNum.
const LOC_PORT_DESC: &[u32] = &[1, 0, 8802, 1, 1, 2, 1, 3, 7, 1, 4];
/// lldpRemEntry; its columns below.
const REM_ENTRY: &[u32] = &[1, 0, 8802, 1, 1, 2, 1, 4, 1, 1];
const REM_CHASSIS_SUBTYPE: u32 = 4;
const REM_CHASSIS_ID: u32 = 5;
const REM_PORT_SUBTYPE: u32 = 6;
const REM_PORT_ID: u32 = 7;
const REM_PORT_DESC: u32 = 8;
const REM_SYS_NAME: u32 = 9;
/// lldpRemManAddrIfSubtype: one column is enough, the address is in the index.
const REM_MAN_ADDR: &[u32] = &[1, 0, 8802, 1, 1, 2, 1, 4, 2, 1, 3];

/// Bulk walks (GETNEXT on v1) with the adapter's repetitions.
const MAX_REPETITIONS: u32 = 25;

/// One lldpRemTable row as read.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RemoteRow {
    pub chassis_subtype: Option<i32>,
    pub chassis_id: Option<Vec<u8>>,
    pub port_subtype: Option<i32>,
    pub port_id: Option<Vec<u8>>,
    pub port_desc: Option<Vec<u8>>,
    pub sys_name: Option<Vec<u8>>,
    pub addresses: Vec<String>,
}

/// What was read from the device, before it becomes the result.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tables {
    pub local_name: String,
    /// lldpLocPortDesc by local port number.
    pub local_ports: BTreeMap<u32, String>,
    /// lldpRemTable rows by (timeMark, localPort, remIndex): numeric order.
    pub remote: BTreeMap<(u32, u32, u32), RemoteRow>,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim_end_matches('\0').to_owned()
}

fn colon_hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Text when the bytes read as printable UTF-8, else colon hex.
fn text_or_hex(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(t) if !t.is_empty() && !t.chars().any(|c| c.is_control()) => t.to_owned(),
        _ => colon_hex(b),
    }
}

/// An address of IANA family `family` (1 IPv4, 2 IPv6) as text; `None` for any other
/// family or a length that does not fit it.
fn ip_text(family: u32, a: &[u8]) -> Option<String> {
    match family {
        1 => <[u8; 4]>::try_from(a)
            .ok()
            .map(|o| std::net::Ipv4Addr::from(o).to_string()),
        2 => <[u8; 16]>::try_from(a)
            .ok()
            .map(|o| std::net::Ipv6Addr::from(o).to_string()),
        _ => None,
    }
}

/// An LLDP network address: IANA address family, then the address (RFC 2922 / 802.1AB).
fn network_address(b: &[u8]) -> String {
    b.split_first()
        .and_then(|(family, a)| ip_text(u32::from(*family), a))
        .unwrap_or_else(|| colon_hex(b))
}

/// LldpChassisIdSubtype: 4 macAddress, 5 networkAddress; the rest are names or opaque.
pub fn chassis_id(subtype: Option<i32>, b: &[u8]) -> String {
    match subtype {
        Some(4) => colon_hex(b),
        Some(5) => network_address(b),
        _ => text_or_hex(b),
    }
}

/// LldpPortIdSubtype: 3 macAddress, 4 networkAddress; the rest are names or opaque.
pub fn port_id(subtype: Option<i32>, b: &[u8]) -> String {
    match subtype {
        Some(3) => colon_hex(b),
        Some(4) => network_address(b),
        _ => text_or_hex(b),
    }
}

/// A management address from lldpRemManAddrTable's index after the row's three parts:
/// `subtype.length.octets...` (1 IPv4, 2 IPv6).
fn man_addr(rest: &[u32]) -> Option<String> {
    let (&subtype, rest) = rest.split_first()?;
    let (&len, octets) = rest.split_first()?;
    if octets.len() != len as usize {
        return None;
    }
    let bytes: Vec<u8> = octets
        .iter()
        .map(|&x| u8::try_from(x).ok())
        .collect::<Option<_>>()?;
    ip_text(subtype, &bytes)
}

fn row_key(idx: &[u32]) -> Option<(u32, u32, u32)> {
    match idx {
        [t, p, r, ..] => Some((*t, *p, *r)),
        _ => None,
    }
}

impl Tables {
    /// Files one varbind of the remote table walk.
    pub fn remote_cell(&mut self, oid: &Oid, value: &Value) {
        let Some(rest) = oid.as_slice().strip_prefix(REM_ENTRY) else {
            return;
        };
        let Some((&column, idx)) = rest.split_first() else {
            return;
        };
        let (Some(key), [_, _, _]) = (row_key(idx), idx) else {
            return;
        };
        let row = self.remote.entry(key).or_default();
        match (column, value) {
            (REM_CHASSIS_SUBTYPE, Value::Integer(n)) => row.chassis_subtype = Some(*n),
            (REM_CHASSIS_ID, Value::OctetString(b)) => row.chassis_id = Some(b.clone()),
            (REM_PORT_SUBTYPE, Value::Integer(n)) => row.port_subtype = Some(*n),
            (REM_PORT_ID, Value::OctetString(b)) => row.port_id = Some(b.clone()),
            (REM_PORT_DESC, Value::OctetString(b)) => row.port_desc = Some(b.clone()),
            (REM_SYS_NAME, Value::OctetString(b)) => row.sys_name = Some(b.clone()),
            _ => {}
        }
    }

    /// Files one varbind of the management address walk (its value does not matter).
    pub fn man_addr_cell(&mut self, oid: &Oid) {
        let Some(idx) = oid.as_slice().strip_prefix(REM_MAN_ADDR) else {
            return;
        };
        let (Some(key), Some(addr)) = (row_key(idx), idx.get(3..).and_then(man_addr)) else {
            return;
        };
        // Only rows the remote table has: an address alone names no neighbor port.
        if let Some(row) = self.remote.get_mut(&key) {
            row.addresses.push(addr);
        }
    }

    /// Files one varbind of the local port walk.
    pub fn local_port_cell(&mut self, oid: &Oid, value: &Value) {
        if let (Some([port]), Value::OctetString(b)) =
            (oid.as_slice().strip_prefix(LOC_PORT_DESC), value)
        {
            self.local_ports.insert(*port, text(b));
        }
    }

    /// The neighbors, in row order; rows with nothing to name them by are skipped.
    pub fn neighbors(&self) -> Vec<LldpNeighbor> {
        let mut out = Vec::new();
        for ((_, local, _), row) in &self.remote {
            let chassis = row
                .chassis_id
                .as_deref()
                .filter(|b| !b.is_empty())
                .map(|b| chassis_id(row.chassis_subtype, b));
            let name = row
                .sys_name
                .as_deref()
                .map(text)
                .filter(|s| !s.is_empty())
                .or_else(|| chassis.clone())
                .or_else(|| row.addresses.first().cloned());
            let Some(neighbor_name) = name else {
                continue;
            };
            out.push(LldpNeighbor {
                neighbor_name,
                local_port: self
                    .local_ports
                    .get(local)
                    .filter(|d| !d.is_empty())
                    .cloned()
                    .unwrap_or_else(|| format!("port-{local}")),
                remote_port: row.port_desc.as_deref().map(text).unwrap_or_default(),
                remote_port_id: row
                    .port_id
                    .as_deref()
                    .map(|b| port_id(row.port_subtype, b))
                    .unwrap_or_default(),
                management_addresses: row.addresses.clone(),
                remote_chassis_id: chassis.unwrap_or_default(),
            });
        }
        out
    }
}

/// Reads the LLDP-MIB of the device behind `session`. A device that does not answer is an
/// error (the result would otherwise claim it has no neighbors); a device without LLDP-MIB
/// answers with empty tables.
pub async fn read(session: &Session) -> Result<Tables, String> {
    let mut t = Tables::default();
    let name = Oid::new(LOC_SYS_NAME.to_vec());
    let vbs = session
        .get(std::slice::from_ref(&name))
        .await
        .map_err(|e| e.to_string())?;
    if let Some(Value::OctetString(b)) = vbs.first().map(|vb| &vb.value) {
        t.local_name = text(b);
    }
    let mode = WalkMode::Bulk(MAX_REPETITIONS);
    session
        .walk_each(&Oid::new(LOC_PORT_DESC.to_vec()), mode, |vb| {
            t.local_port_cell(&vb.oid, &vb.value)
        })
        .await
        .map_err(|e| e.to_string())?;
    session
        .walk_each(&Oid::new(REM_ENTRY.to_vec()), mode, |vb| {
            t.remote_cell(&vb.oid, &vb.value)
        })
        .await
        .map_err(|e| e.to_string())?;
    session
        .walk_each(&Oid::new(REM_MAN_ADDR.to_vec()), mode, |vb| {
            t.man_addr_cell(&vb.oid)
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(t)
}

/// The result for `tables`.
pub fn result(device_id: &str, job_id: &str, tables: &Tables, now: i64) -> LldpTopologyResult {
    LldpTopologyResult {
        device_id: device_id.to_owned(),
        job_id: job_id.to_owned(),
        local_system_name: tables.local_name.clone(),
        neighbors: tables.neighbors(),
        timestamp: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(base: &[u32], tail: &[u32]) -> Oid {
        Oid::new([base, tail].concat())
    }

    #[test]
    fn issue17_towerops_lldp_ids_are_formatted_by_subtype() {
        assert_eq!(
            chassis_id(Some(4), &[0, 0x1b, 0xff, 0, 1, 2]),
            "00:1b:ff:00:01:02"
        );
        assert_eq!(chassis_id(Some(5), &[1, 10, 0, 0, 9]), "10.0.0.9");
        assert_eq!(chassis_id(Some(7), b"sw-core"), "sw-core");
        assert_eq!(chassis_id(Some(7), &[0xff, 0]), "ff:00");
        assert_eq!(port_id(Some(3), &[1, 2, 3, 4, 5, 6]), "01:02:03:04:05:06");
        assert_eq!(port_id(Some(5), b"ge-0/0/1"), "ge-0/0/1");
        assert_eq!(man_addr(&[1, 4, 192, 0, 2, 7]), Some("192.0.2.7".into()));
        assert_eq!(man_addr(&[1, 4, 192, 0, 2]), None);
        assert_eq!(man_addr(&[1, 4, 300, 0, 2, 7]), None);
        assert_eq!(man_addr(&[]), None);
    }

    #[test]
    fn issue17_towerops_lldp_rows_names_and_ports() {
        let mut t = Tables::default();
        t.local_port_cell(
            &oid(LOC_PORT_DESC, &[1]),
            &Value::OctetString(b"uplink".to_vec()),
        );
        let cell = |c: u32, idx: [u32; 3]| oid(REM_ENTRY, &[&[c][..], &idx[..]].concat());
        // Row (0, 2, 1): only a MAC chassis id; row (0, 1, 1): a sysName; row (0, 3, 5):
        // only a management address; row (0, 4, 1): nothing to name it by.
        t.remote_cell(&cell(REM_CHASSIS_SUBTYPE, [0, 2, 1]), &Value::Integer(4));
        t.remote_cell(
            &cell(REM_CHASSIS_ID, [0, 2, 1]),
            &Value::OctetString(vec![0xaa, 0, 0, 0, 0, 1]),
        );
        t.remote_cell(
            &cell(REM_SYS_NAME, [0, 1, 1]),
            &Value::OctetString(b"edge-1".to_vec()),
        );
        t.remote_cell(&cell(REM_PORT_SUBTYPE, [0, 1, 1]), &Value::Integer(5));
        t.remote_cell(
            &cell(REM_PORT_ID, [0, 1, 1]),
            &Value::OctetString(b"eth0".to_vec()),
        );
        t.remote_cell(
            &cell(REM_PORT_DESC, [0, 1, 1]),
            &Value::OctetString(b"to core".to_vec()),
        );
        t.remote_cell(
            &cell(REM_PORT_DESC, [0, 3, 5]),
            &Value::OctetString(b"p".to_vec()),
        );
        t.remote_cell(
            &cell(REM_PORT_DESC, [0, 4, 1]),
            &Value::OctetString(b"q".to_vec()),
        );
        t.man_addr_cell(&oid(REM_MAN_ADDR, &[0, 3, 5, 1, 4, 10, 9, 8, 7]));
        // An address for a row the remote table lacks, and a malformed index: ignored.
        t.man_addr_cell(&oid(REM_MAN_ADDR, &[0, 9, 9, 1, 4, 10, 9, 8, 7]));
        t.man_addr_cell(&oid(REM_MAN_ADDR, &[0, 3]));
        // Cells outside the table or with a short index: ignored.
        t.remote_cell(
            &oid(REM_ENTRY, &[REM_SYS_NAME, 1]),
            &Value::OctetString(b"x".to_vec()),
        );
        let n = t.neighbors();
        let names: Vec<_> = n.iter().map(|x| x.neighbor_name.as_str()).collect();
        assert_eq!(names, ["edge-1", "aa:00:00:00:00:01", "10.9.8.7"]);
        assert_eq!(n[0].local_port, "uplink");
        assert_eq!(n[0].remote_port, "to core");
        assert_eq!(n[0].remote_port_id, "eth0");
        assert_eq!(n[1].local_port, "port-2");
        assert_eq!(n[1].remote_chassis_id, "aa:00:00:00:00:01");
        assert_eq!(n[2].management_addresses, ["10.9.8.7"]);
    }
}
