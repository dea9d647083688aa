//! An accepted notification as the Towerops `trap` event's SnmpTrap: source address,
//! version (1, 2 for v2c, and 3, which the original cannot receive), the trap OID (RFC
//! 3584 §3.1 for v1, as the receiver already normalizes it), the v1 header fields, the
//! uptime, and at most 128 varbinds with undotted keys and the result value rules.

use outpost_proto::towerops::SnmpTrap;

use super::values::{oid_key, value_text};
use crate::trap::normalize::Notification;

/// The original's cap on varbinds per trap (the rest are dropped).
pub const MAX_VARBINDS: usize = 128;

pub fn snmp_trap(n: &Notification, unix_secs: i64) -> SnmpTrap {
    let version = match n.version {
        "1" => 1,
        "3" => 3,
        _ => 2,
    };
    let v1 = n.v1.as_ref();
    SnmpTrap {
        // An IPv4 peer on a dual-stack socket reads as ::ffff:a.b.c.d; the server matches
        // devices by their IPv4 address.
        source_ip: n.source.ip().to_canonical().to_string(),
        version,
        trap_oid: n.trap_oid.as_ref().map(oid_key).unwrap_or_default(),
        enterprise: v1.map(|f| oid_key(&f.enterprise)).unwrap_or_default(),
        // Negative codes are not SNMP's; they read as 0 rather than wrapping.
        generic_trap: v1
            .map(|f| u32::try_from(f.generic_trap).unwrap_or(0))
            .unwrap_or(0),
        specific_trap: v1
            .map(|f| u32::try_from(f.specific_trap).unwrap_or(0))
            .unwrap_or(0),
        uptime_ticks: n.uptime.map(u64::from).unwrap_or(0),
        varbinds: n
            .varbinds
            .iter()
            .filter_map(|vb| Some((oid_key(&vb.oid), value_text(&vb.oid, &vb.value)?)))
            .take(MAX_VARBINDS)
            .collect(),
        timestamp: unix_secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trap::normalize::{Kind, Sender};
    use outpost_snmp::{Oid, TrapV1Pdu, Value, VarBind};
    use secrecy::SecretSlice;

    fn community() -> SecretSlice<u8> {
        SecretSlice::from(b"public".to_vec())
    }

    #[test]
    fn issue17_towerops_trap_v1_rfc3584() {
        let pdu = TrapV1Pdu {
            enterprise: Oid::new(vec![1, 3, 6, 1, 4, 1, 8072]),
            agent_addr: [10, 0, 0, 1],
            generic_trap: 6,
            specific_trap: 17,
            timestamp: 4242,
            varbinds: vec![VarBind {
                oid: Oid::new(vec![1, 3, 6, 1, 4, 1, 8072, 9, 0]),
                value: Value::OctetString(b"hello".to_vec()),
            }],
        };
        let n = Notification::from_v1(
            "[::ffff:10.0.0.5]:40000"
                .parse()
                .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into()),
            community(),
            pdu,
        );
        let t = snmp_trap(&n, 99);
        assert_eq!(t.source_ip, "10.0.0.5");
        assert_eq!(t.version, 1);
        assert_eq!(t.trap_oid, "1.3.6.1.4.1.8072.0.17");
        assert_eq!(t.enterprise, "1.3.6.1.4.1.8072");
        assert_eq!(
            (t.generic_trap, t.specific_trap, t.uptime_ticks),
            (6, 17, 4242)
        );
        assert_eq!(
            t.varbinds.get("1.3.6.1.4.1.8072.9.0").map(String::as_str),
            Some("hello")
        );
        assert_eq!(t.timestamp, 99);
    }

    #[test]
    fn issue17_towerops_trap_v2_and_v3_varbinds_capped() {
        let mut varbinds = vec![
            VarBind {
                oid: Oid::new(vec![1, 3, 6, 1, 2, 1, 1, 3, 0]),
                value: Value::TimeTicks(500),
            },
            VarBind {
                oid: Oid::new(vec![1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0]),
                value: Value::ObjectId(Oid::new(vec![1, 3, 6, 1, 6, 3, 1, 1, 5, 3])),
            },
        ];
        for i in 0..200 {
            varbinds.push(VarBind {
                oid: Oid::new(vec![1, 3, 6, 1, 4, 1, 9, i]),
                value: Value::Integer(i as i32),
            });
        }
        for (version, want) in [("2c", 2), ("3", 3)] {
            let sender = match version {
                "3" => Sender::User {
                    name: "u".into(),
                    engine_id: vec![1],
                    level: "authPriv",
                    context_name: vec![],
                },
                _ => Sender::Community(community()),
            };
            let n = Notification::from_v2(
                Kind::Trap,
                ([127, 0, 0, 1], 162).into(),
                version,
                sender,
                1,
                varbinds.clone(),
            );
            let t = snmp_trap(&n, 1);
            assert_eq!(t.version, want);
            assert_eq!(t.source_ip, "127.0.0.1");
            assert_eq!(t.trap_oid, "1.3.6.1.6.3.1.1.5.3");
            assert_eq!(t.uptime_ticks, 500);
            assert_eq!(t.enterprise, "");
            assert_eq!(t.varbinds.len(), MAX_VARBINDS);
            assert_eq!(
                t.varbinds.get("1.3.6.1.6.3.1.1.4.1.0").map(String::as_str),
                Some("1.3.6.1.6.3.1.1.5.3")
            );
        }
    }
}
