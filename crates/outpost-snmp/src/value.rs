//! The typed value model and its two renderings: net-snmp's `-On` text
//! and a JSON form for machines.

use std::fmt::{self, Write as _};

use crate::ber::{self, tag, Reader, Writer};
use crate::error::DecodeError;
use crate::oid::{ascii, Oid};

/// A varbind value, one variant per SMI type SNMP carries.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Value {
    Integer(i32),
    OctetString(Vec<u8>),
    Null,
    ObjectId(Oid),
    IpAddress([u8; 4]),
    Counter32(u32),
    Gauge32(u32),
    TimeTicks(u32),
    Opaque(Vec<u8>),
    Counter64(u64),
    NoSuchObject,
    NoSuchInstance,
    EndOfMibView,
}

impl Value {
    /// True for the three v2 exceptions, which are not data.
    pub fn is_exception(&self) -> bool {
        matches!(
            self,
            Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView
        )
    }

    pub(crate) fn decode(t: u8, c: &[u8]) -> Result<Value, DecodeError> {
        Ok(match t {
            // Truncation mirrors net-snmp, which stores these in 32 bits.
            tag::INTEGER => Value::Integer(ber::decode_integer(c)? as i32),
            tag::OCTET_STRING => Value::OctetString(c.to_vec()),
            tag::NULL => Value::Null,
            tag::OBJECT_ID => Value::ObjectId(Oid(ber::decode_oid(c)?)),
            tag::IP_ADDRESS => {
                let a: [u8; 4] = c
                    .try_into()
                    .map_err(|_| DecodeError::BadIpAddress(c.len()))?;
                Value::IpAddress(a)
            }
            tag::COUNTER32 => Value::Counter32(ber::decode_integer(c)? as u32),
            tag::GAUGE32 => Value::Gauge32(ber::decode_integer(c)? as u32),
            tag::TIMETICKS => Value::TimeTicks(ber::decode_integer(c)? as u32),
            tag::OPAQUE => Value::Opaque(c.to_vec()),
            tag::COUNTER64 => Value::Counter64(ber::decode_integer(c)? as u64),
            tag::NO_SUCH_OBJECT => Value::NoSuchObject,
            tag::NO_SUCH_INSTANCE => Value::NoSuchInstance,
            tag::END_OF_MIB_VIEW => Value::EndOfMibView,
            other => return Err(DecodeError::UnknownValueType(other)),
        })
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        match self {
            Value::Integer(v) => w.int(tag::INTEGER, i64::from(*v)),
            Value::OctetString(v) => w.primitive(tag::OCTET_STRING, v),
            Value::Null => w.null(tag::NULL),
            Value::ObjectId(o) => w.oid(&o.0),
            Value::IpAddress(a) => w.primitive(tag::IP_ADDRESS, a),
            Value::Counter32(v) => w.uint(tag::COUNTER32, u64::from(*v)),
            Value::Gauge32(v) => w.uint(tag::GAUGE32, u64::from(*v)),
            Value::TimeTicks(v) => w.uint(tag::TIMETICKS, u64::from(*v)),
            Value::Opaque(v) => w.primitive(tag::OPAQUE, v),
            Value::Counter64(v) => w.uint(tag::COUNTER64, *v),
            Value::NoSuchObject => w.null(tag::NO_SUCH_OBJECT),
            Value::NoSuchInstance => w.null(tag::NO_SUCH_INSTANCE),
            Value::EndOfMibView => w.null(tag::END_OF_MIB_VIEW),
        }
    }

    /// The type name used in the JSON form and in SET type letters' docs.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Integer(_) => "Integer",
            Value::OctetString(_) => "OctetString",
            Value::Null => "Null",
            Value::ObjectId(_) => "ObjectId",
            Value::IpAddress(_) => "IpAddress",
            Value::Counter32(_) => "Counter32",
            Value::Gauge32(_) => "Gauge32",
            Value::TimeTicks(_) => "TimeTicks",
            Value::Opaque(_) => "Opaque",
            Value::Counter64(_) => "Counter64",
            Value::NoSuchObject => "NoSuchObject",
            Value::NoSuchInstance => "NoSuchInstance",
            Value::EndOfMibView => "EndOfMibView",
        }
    }
}

/// net-snmp's text for a value with no MIB loaded (`sprint_realloc_by_type`).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Integer(v) => write!(f, "INTEGER: {v}"),
            Value::OctetString(s) => write_octet_string(f, s),
            Value::Null => f.write_str("NULL"),
            Value::ObjectId(o) => write!(f, "OID: {o}"),
            Value::IpAddress([a, b, c, d]) => write!(f, "IpAddress: {a}.{b}.{c}.{d}"),
            Value::Counter32(v) => write!(f, "Counter32: {v}"),
            Value::Gauge32(v) => write!(f, "Gauge32: {v}"),
            Value::TimeTicks(v) => write!(f, "Timeticks: ({v}) {}", UptimeText(*v)),
            Value::Opaque(v) => write_opaque(f, v),
            Value::Counter64(v) => write!(f, "Counter64: {v}"),
            Value::NoSuchObject => {
                f.write_str("No Such Object available on this agent at this OID")
            }
            Value::NoSuchInstance => f.write_str("No Such Instance currently exists at this OID"),
            Value::EndOfMibView => f.write_str(
                "No more variables left in this MIB View (It is past the end of the MIB tree)",
            ),
        }
    }
}

/// C's `isprint() || isspace()` in the "C" locale, which net-snmp uses to
/// choose between `STRING:` and `Hex-STRING:`.
fn printable(b: u8) -> bool {
    (0x20..=0x7e).contains(&b) || (0x09..=0x0d).contains(&b)
}

fn write_octet_string(f: &mut fmt::Formatter<'_>, s: &[u8]) -> fmt::Result {
    // net-snmp prints an empty string as `""` with no type prefix.
    if s.is_empty() {
        return f.write_str("\"\"");
    }
    if s.iter().any(|&b| !printable(b)) {
        f.write_str("Hex-STRING: ")?;
        write_hex(f, s)
    } else {
        f.write_str("STRING: \"")?;
        for &b in s {
            if b == b'\\' || b == b'"' {
                f.write_char('\\')?;
            }
            f.write_char(char::from(b))?;
        }
        f.write_char('"')
    }
}

/// net-snmp decodes the RFC draft opaque-wrapped float and double
/// (tag 0x9f78/0x9f79) when parsing; UCD-SNMP-MIB laLoadFloat uses it.
fn write_opaque(f: &mut fmt::Formatter<'_>, v: &[u8]) -> fmt::Result {
    match v {
        [0x9f, 0x78, 4, a, b, c, d] => {
            let x = f32::from_be_bytes([*a, *b, *c, *d]);
            write!(f, "Opaque: Float: {:.6}", f64::from(x))
        }
        [0x9f, 0x79, 8, rest @ ..] if rest.len() == 8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(rest);
            write!(f, "Opaque: Double: {:.6}", f64::from_be_bytes(b))
        }
        _ => {
            f.write_str("OPAQUE: ")?;
            write_hex(f, v)
        }
    }
}

/// Hex octets, 16 per line, each followed by a space, as net-snmp prints.
fn write_hex(f: &mut fmt::Formatter<'_>, s: &[u8]) -> fmt::Result {
    for (i, chunk) in s.chunks(16).enumerate() {
        if i > 0 {
            f.write_char('\n')?;
        }
        for b in chunk {
            write!(f, "{b:02X} ")?;
        }
    }
    Ok(())
}

/// TimeTicks as net-snmp's `uptimeString`.
pub struct UptimeText(pub u32);

impl fmt::Display for UptimeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        let cs = t % 100;
        let mut s = t / 100;
        let days = s / 86400;
        s %= 86400;
        let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
        match days {
            0 => write!(f, "{h}:{m:02}:{sec:02}.{cs:02}"),
            1 => write!(f, "1 day, {h}:{m:02}:{sec:02}.{cs:02}"),
            d => write!(f, "{d} days, {h}:{m:02}:{sec:02}.{cs:02}"),
        }
    }
}

/// Bytes as lowercase hex, written where they go (no string built for them).
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0u8; 128];
        for chunk in self.0.chunks(buf.len() / 2) {
            for (i, b) in chunk.iter().enumerate() {
                buf[2 * i] = DIGITS[usize::from(b >> 4)];
                buf[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
            }
            f.write_str(ascii(&buf[..2 * chunk.len()]))?;
        }
        Ok(())
    }
}

impl Value {
    /// Writes the value's JSON fields (`type`, `value`, `hex`) into a map being serialized,
    /// so a caller can put them beside its own fields without `#[serde(flatten)]`'s
    /// buffering. Nothing is allocated for them.
    pub fn serialize_fields<M: serde::ser::SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        m.serialize_entry("type", self.type_name())?;
        match self {
            Value::Integer(v) => m.serialize_entry("value", v),
            Value::OctetString(b) | Value::Opaque(b) => {
                if let (Value::OctetString(_), Ok(t)) = (self, std::str::from_utf8(b)) {
                    m.serialize_entry("value", t)?;
                }
                m.serialize_entry("hex", &Collected(Hex(b)))
            }
            Value::ObjectId(o) => m.serialize_entry("value", o),
            Value::IpAddress(a) => {
                m.serialize_entry("value", &Collected(std::net::Ipv4Addr::from(*a)))
            }
            Value::Counter32(v) | Value::Gauge32(v) | Value::TimeTicks(v) => {
                m.serialize_entry("value", v)
            }
            Value::Counter64(v) => m.serialize_entry("value", v),
            Value::Null | Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView => {
                Ok(())
            }
        }
    }
}

/// Serializes anything displayable as a string, written straight into the output.
struct Collected<T>(T);

impl<T: fmt::Display> serde::Serialize for Collected<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// JSON form: `{"type": "...", "value": ...}`. Octet strings carry `value`
/// only when they are valid UTF-8, and always `hex`, so no byte is lost.
impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        self.serialize_fields(&mut m)?;
        m.end()
    }
}

/// One OID with its value.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct VarBind {
    /// Which object instance this is.
    pub oid: Oid,
    /// Its value, or an exception, or Null in a request.
    pub value: Value,
}

impl VarBind {
    pub fn new(oid: Oid, value: Value) -> Self {
        VarBind { oid, value }
    }

    /// A request varbind: the OID with a Null value.
    pub fn null(oid: Oid) -> Self {
        VarBind {
            oid,
            value: Value::Null,
        }
    }

    pub(crate) fn decode_list(r: &mut Reader<'_>) -> Result<Vec<VarBind>, DecodeError> {
        let mut list = r.read_sequence()?;
        let mut out = Vec::new();
        while !list.is_empty() {
            let mut vb = list.read_sequence()?;
            let oid = Oid(ber::decode_oid(vb.expect(tag::OBJECT_ID)?)?);
            let (t, c) = vb.read_tlv()?;
            let value = Value::decode(t, c)?;
            out.push(VarBind { oid, value });
        }
        Ok(out)
    }

    pub(crate) fn encode_list(w: &mut Writer, list: &[VarBind]) {
        w.constructed(tag::SEQUENCE, |w| {
            for vb in list {
                w.constructed(tag::SEQUENCE, |w| {
                    w.oid(&vb.oid.0);
                    vb.value.encode(w);
                });
            }
        });
    }
}

/// `OID = VALUE`, the `snmpwalk -On` line (without the newline).
impl VarBind {
    /// Appends what `Display` shows (`OID = TYPE: value`), with the OID written directly.
    pub fn push_to(&self, out: &mut String) {
        self.oid.push_to(out);
        out.push_str(" = ");
        // Writing to a String cannot fail.
        let _ = write!(out, "{}", self.value);
    }
}

impl fmt::Display for VarBind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}", self.oid, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netsnmp_text() {
        assert_eq!(
            Value::TimeTicks(12345).to_string(),
            "Timeticks: (12345) 0:02:03.45"
        );
        assert_eq!(
            Value::TimeTicks(8_640_000 + 1).to_string(),
            "Timeticks: (8640001) 1 day, 0:00:00.01"
        );
        assert_eq!(
            Value::OctetString(b"a\"b\\".to_vec()).to_string(),
            "STRING: \"a\\\"b\\\\\""
        );
        assert_eq!(Value::OctetString(vec![]).to_string(), "\"\"");
        assert_eq!(
            Value::OctetString(vec![0, 0xab]).to_string(),
            "Hex-STRING: 00 AB "
        );
        let long: Vec<u8> = (0..17).collect();
        assert_eq!(
            Value::OctetString(long).to_string(),
            "Hex-STRING: 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F \n10 "
        );
    }
}
