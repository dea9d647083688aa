//! An accepted notification as the Towerops `trap` event's SnmpTrap: source address,
//! version (1, 2 for v2c, and 3, which the original cannot receive), the trap OID (RFC
//! 3584 §3.1 for v1, as the receiver already normalizes it), the v1 header fields, the
//! uptime, and at most 128 varbinds with undotted keys and the result value rules.

use std::net::SocketAddr;

use outpost_proto::towerops::SnmpTrap;
use outpost_snmp::{Oid, Value, VarBind};
use secrecy::SecretSlice;

use super::values::{oid_key, value_text};
use crate::trap::normalize::{Kind, Notification, Sender, V1Fields};

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

/// The SnmpTrap of a stored `snmp.trap` / `snmp.inform` event (the receiver's payload,
/// `trap::encode::payload`), or `None` when the payload is not one. The adapter forwards
/// traps from the outbox, so a trap received while the server is away is sent when it
/// returns (the original kept 1,000 in memory and lost them on a restart).
pub fn from_event(kind: &str, payload: &serde_json::Value, at_ms: i64) -> Option<SnmpTrap> {
    let kind = match kind {
        "snmp.trap" => Kind::Trap,
        "snmp.inform" => Kind::Inform,
        _ => return None,
    };
    let source: SocketAddr = payload.get("source")?.as_str()?.parse().ok()?;
    let version = match payload.get("version")?.as_str()? {
        "1" => "1",
        "3" => "3",
        _ => "2c",
    };
    let oid_at =
        |v: &serde_json::Value, key: &str| -> Option<Oid> { v.get(key)?.as_str()?.parse().ok() };
    let v1 = match payload.get("v1") {
        Some(v) => Some(V1Fields {
            enterprise: oid_at(v, "enterprise")?,
            agent_addr: [0; 4],
            generic_trap: i32::try_from(v.get("generic_trap")?.as_i64()?).ok()?,
            specific_trap: i32::try_from(v.get("specific_trap")?.as_i64()?).ok()?,
            timestamp: u32::try_from(v.get("timestamp")?.as_u64()?).ok()?,
        }),
        None => None,
    };
    let varbinds = payload
        .get("varbinds")?
        .as_array()?
        .iter()
        .filter_map(|vb| {
            Some(VarBind {
                oid: oid_at(vb, "oid")?,
                value: value_of(vb.get("value")?)?,
            })
        })
        .collect();
    let n = Notification {
        kind,
        source,
        version,
        // Not forwarded: the SnmpTrap has no field for who sent it.
        sender: Sender::Community(SecretSlice::from(Vec::new())),
        v1,
        trap_oid: oid_at(payload, "trap_oid"),
        uptime: payload
            .get("uptime")
            .and_then(serde_json::Value::as_u64)
            .and_then(|u| u32::try_from(u).ok()),
        request_id: None,
        varbinds,
    };
    Some(snmp_trap(&n, at_ms.div_euclid(1000)))
}

/// A varbind's value from the receiver's `{"type", "value", "hex"}`; `None` for the types
/// the result value rules drop anyway (Null and the exceptions) and for what is malformed.
fn value_of(v: &serde_json::Value) -> Option<Value> {
    let hex = || -> Option<Vec<u8>> {
        let h = v.get("hex")?.as_str()?;
        if h.len() % 2 != 0 {
            return None;
        }
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
            .collect()
    };
    let int = || v.get("value")?.as_i64();
    let u32_ = || u32::try_from(v.get("value")?.as_u64()?).ok();
    Some(match v.get("type")?.as_str()? {
        "Integer" => Value::Integer(i32::try_from(int()?).ok()?),
        "OctetString" => Value::OctetString(hex()?),
        "Opaque" => Value::Opaque(hex()?),
        "ObjectId" => Value::ObjectId(v.get("value")?.as_str()?.parse().ok()?),
        "IpAddress" => Value::IpAddress(
            v.get("value")?
                .as_str()?
                .parse::<std::net::Ipv4Addr>()
                .ok()?
                .octets(),
        ),
        "Counter32" => Value::Counter32(u32_()?),
        "Gauge32" => Value::Gauge32(u32_()?),
        "TimeTicks" => Value::TimeTicks(u32_()?),
        "Counter64" => Value::Counter64(v.get("value")?.as_u64()?),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_snmp::TrapV1Pdu;

    /// What the receiver stores for `n`, read back as the adapter does.
    fn through_the_store(n: &Notification, at_ms: i64) -> Option<SnmpTrap> {
        let mut text = String::new();
        crate::trap::encode::payload(&mut text, n, None);
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        from_event(n.kind.event_kind(), &v, at_ms)
    }

    #[test]
    fn issue17_towerops_trap_from_the_stored_event_equals_the_direct_one() {
        let v1 = Notification::from_v1(
            ([10, 0, 0, 5], 40000).into(),
            community(),
            TrapV1Pdu {
                enterprise: Oid::new(vec![1, 3, 6, 1, 4, 1, 8072]),
                agent_addr: [10, 0, 0, 1],
                generic_trap: 6,
                specific_trap: 17,
                timestamp: 4242,
                varbinds: vec![
                    VarBind {
                        oid: Oid::new(vec![1, 3, 6, 1, 4, 1, 8072, 9, 0]),
                        value: Value::OctetString(b"hello".to_vec()),
                    },
                    VarBind {
                        oid: Oid::new(vec![1, 3, 6, 1, 2, 1, 2, 2, 1, 6, 1]),
                        value: Value::OctetString(vec![0, 0x1b, 0xff, 0, 1, 2]),
                    },
                    VarBind {
                        oid: Oid::new(vec![1, 3, 6, 1, 4, 1, 9, 1]),
                        value: Value::OctetString(vec![0xc3, 0x28, 7]),
                    },
                ],
            },
        );
        let every_type = [
            Value::Integer(-5),
            Value::Counter32(7),
            Value::Gauge32(8),
            Value::TimeTicks(9),
            Value::Counter64(u64::MAX),
            Value::IpAddress([192, 0, 2, 1]),
            Value::ObjectId(Oid::new(vec![1, 3, 6, 1])),
            Value::Opaque(vec![1, 2]),
            Value::Null,
            Value::NoSuchObject,
        ];
        let v2 = Notification::from_v2(
            Kind::Inform,
            "[::1]:999"
                .parse()
                .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into()),
            "2c",
            Sender::Community(community()),
            3,
            every_type
                .into_iter()
                .enumerate()
                .map(|(i, value)| VarBind {
                    oid: Oid::new(vec![1, 3, 6, 1, 4, 1, 9, 2, i as u32]),
                    value,
                })
                .collect(),
        );
        for n in [v1, v2] {
            assert_eq!(through_the_store(&n, 99_999), Some(snmp_trap(&n, 99)));
        }
        assert_eq!(from_event("snmp.trap", &serde_json::json!({}), 0), None);
        assert_eq!(
            from_event("other", &serde_json::json!({"source": "1.2.3.4:1"}), 0),
            None
        );
    }

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
