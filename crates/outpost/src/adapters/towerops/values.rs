//! SNMP values as Towerops results carry them (`SnmpResult.oid_values`, trap varbinds):
//! OIDs without the leading dot; integers, counters, gauges and ticks in decimal; an octet
//! string as its text when it is valid UTF-8 without control bytes other than `\t\n\r`,
//! else lowercase colon hex, and ifPhysAddress always hex; IpAddress dotted; Opaque hex;
//! Null and the three v2 exceptions dropped (`None`). The server parses these strings, so
//! they follow the original's rules except where the original was wrong (an OID value
//! with a leading dot, which the schema says never to send).

use std::fmt::Write as _;

use outpost_snmp::{oid::Oid, value::Value};

/// ifPhysAddress: MAC addresses, some of which happen to be printable bytes.
const IF_PHYS_ADDRESS: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 6];

/// `oid` without the leading dot (`1.3.6.1.2.1.1.1.0`).
pub fn oid_key(oid: &Oid) -> String {
    let mut s = String::with_capacity(oid.len() * 4);
    oid.push_to(&mut s);
    match s.strip_prefix('.') {
        Some(rest) => rest.to_owned(),
        None => s,
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn printable(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    let control = |b: &u8| (*b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || *b == 0x7f;
    (!bytes.iter().any(control)).then_some(text)
}

/// The value text of `value` read at `oid`; `None` for what the result leaves out.
pub fn value_text(oid: &Oid, value: &Value) -> Option<String> {
    Some(match value {
        Value::Integer(n) => n.to_string(),
        Value::Counter32(n) | Value::Gauge32(n) | Value::TimeTicks(n) => n.to_string(),
        Value::Counter64(n) => n.to_string(),
        Value::OctetString(b) if oid.as_slice().starts_with(IF_PHYS_ADDRESS) => hex(b),
        Value::OctetString(b) => match printable(b) {
            Some(text) => text.to_owned(),
            None => hex(b),
        },
        Value::IpAddress(a) => std::net::Ipv4Addr::from(*a).to_string(),
        Value::Opaque(b) => hex(b),
        Value::ObjectId(o) => oid_key(o),
        Value::Null | Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView => {
            return None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(s: &str) -> Oid {
        Oid::new(
            s.split('.')
                .filter(|p| !p.is_empty())
                .map(|p| p.parse().unwrap_or(0))
                .collect::<Vec<u32>>(),
        )
    }

    #[test]
    fn issue17_towerops_value_rules() {
        let descr = oid("1.3.6.1.2.1.1.1.0");
        assert_eq!(oid_key(&descr), "1.3.6.1.2.1.1.1.0");
        let t = |v: Value| value_text(&descr, &v);
        assert_eq!(t(Value::Integer(-5)).as_deref(), Some("-5"));
        assert_eq!(t(Value::Counter32(u32::MAX)).as_deref(), Some("4294967295"));
        assert_eq!(t(Value::Gauge32(7)).as_deref(), Some("7"));
        assert_eq!(t(Value::TimeTicks(100)).as_deref(), Some("100"));
        assert_eq!(
            t(Value::Counter64(u64::MAX)).as_deref(),
            Some("18446744073709551615")
        );
        assert_eq!(
            t(Value::OctetString(b"Linux box\t1\r\n".to_vec())).as_deref(),
            Some("Linux box\t1\r\n")
        );
        assert_eq!(
            t(Value::OctetString("é☃".as_bytes().to_vec())).as_deref(),
            Some("é☃")
        );
        assert_eq!(t(Value::OctetString(vec![])).as_deref(), Some(""));
        // A control byte (0x7f counts) or invalid UTF-8: colon hex, lowercase.
        assert_eq!(
            t(Value::OctetString(b"a\x00".to_vec())).as_deref(),
            Some("61:00")
        );
        assert_eq!(
            t(Value::OctetString(b"a\x7f".to_vec())).as_deref(),
            Some("61:7f")
        );
        assert_eq!(
            t(Value::OctetString(vec![0xff, 0xAB])).as_deref(),
            Some("ff:ab")
        );
        assert_eq!(
            t(Value::IpAddress([10, 0, 0, 1])).as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(t(Value::Opaque(vec![1, 2])).as_deref(), Some("01:02"));
        assert_eq!(
            t(Value::ObjectId(oid("1.3.6.1.4.1.8072.3.2.10"))).as_deref(),
            Some("1.3.6.1.4.1.8072.3.2.10")
        );
        for v in [
            Value::Null,
            Value::NoSuchObject,
            Value::NoSuchInstance,
            Value::EndOfMibView,
        ] {
            assert_eq!(t(v), None);
        }
        // ifPhysAddress is hex even when its bytes are printable.
        let mac = oid("1.3.6.1.2.1.2.2.1.6.2");
        assert_eq!(
            value_text(&mac, &Value::OctetString(b"ABCDEF".to_vec())).as_deref(),
            Some("41:42:43:44:45:46")
        );
        // ifDescr next to it is not.
        assert_eq!(
            value_text(
                &oid("1.3.6.1.2.1.2.2.1.2.2"),
                &Value::OctetString(b"eth0".to_vec())
            )
            .as_deref(),
            Some("eth0")
        );
    }
}
