//! A notification's event payload and its `traps listen` lines, written straight into a
//! caller's text buffer (issue 11). The same JSON text as [`Notification::payload_named`]
//! (which stays as the reference the tests hold this to), byte for byte, but without
//! serde's machinery: no intermediate `String` per payload that grows by reallocation, no
//! call per written piece through `io::Write`, one buffer reused for a whole read pass.
//!
//! [`Notification::payload_named`]: super::normalize::Notification::payload_named

use std::fmt::{self, Write as _};

use outpost_snmp::mib::Mib;
use outpost_snmp::{Oid, Value, VarBind};
use secrecy::ExposeSecret;

use super::normalize::{Notification, Sender};

/// Appends the event payload of `n` to `out`, with MIB names if `mib` is given.
pub fn payload(out: &mut String, n: &Notification, mib: Option<&Mib>) {
    out.push_str("{\"source\":\"");
    // A socket address needs no escaping (digits, dots, colons, brackets, `%` and digits).
    socket_addr(out, &n.source);
    out.push_str("\",\"version\":");
    string(out, n.version);
    match &n.sender {
        Sender::Community(c) => {
            out.push_str(",\"community\":");
            lossy(out, c.expose_secret());
        }
        Sender::User {
            name,
            engine_id,
            level,
            context_name,
        } => {
            out.push_str(",\"user\":");
            string(out, name);
            out.push_str(",\"engine_id\":\"");
            hex_lower(out, engine_id);
            out.push_str("\",\"security_level\":");
            string(out, level);
            out.push_str(",\"context_name\":");
            lossy(out, context_name);
        }
    }
    if let Some(v1) = &n.v1 {
        let [a, b, c, d] = v1.agent_addr;
        out.push_str(",\"v1\":{\"enterprise\":");
        oid(out, &v1.enterprise);
        out.push_str(",\"agent_addr\":\"");
        ipv4(out, [a, b, c, d]);
        out.push_str("\",\"generic_trap\":");
        int(out, i64::from(v1.generic_trap));
        out.push_str(",\"specific_trap\":");
        int(out, i64::from(v1.specific_trap));
        out.push_str(",\"timestamp\":");
        uint(out, u64::from(v1.timestamp));
        out.push('}');
    }
    if let Some(o) = &n.trap_oid {
        out.push_str(",\"trap_oid\":");
        oid(out, o);
        if let Some(mib) = mib {
            out.push_str(",\"trap_name\":");
            display(out, mib.named(o));
        }
    }
    if let Some(u) = n.uptime {
        out.push_str(",\"uptime\":");
        uint(out, u64::from(u));
    }
    if let Some(r) = n.request_id {
        out.push_str(",\"request_id\":");
        int(out, i64::from(r));
    }
    out.push_str(",\"varbinds\":[");
    for (i, vb) in n.varbinds.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        varbind(out, vb, mib);
    }
    out.push_str("]}");
}

/// `outpost traps listen --json`'s line: `{"kind":...,"payload":...}` and a newline.
pub fn json_line(out: &mut String, n: &Notification, mib: Option<&Mib>) {
    out.push_str("{\"kind\":\"");
    out.push_str(n.kind.event_kind());
    out.push_str("\",\"payload\":");
    payload(out, n, mib);
    out.push_str("}\n");
}

fn varbind(out: &mut String, vb: &VarBind, mib: Option<&Mib>) {
    out.push_str("{\"oid\":");
    oid(out, &vb.oid);
    if let Some(mib) = mib {
        out.push_str(",\"name\":");
        display(out, mib.named(&vb.oid));
    }
    out.push_str(",\"value\":{\"type\":\"");
    out.push_str(vb.value.type_name());
    out.push('"');
    match &vb.value {
        Value::Integer(v) => {
            out.push_str(",\"value\":");
            int(out, i64::from(*v));
        }
        Value::OctetString(b) | Value::Opaque(b) => {
            if let (Value::OctetString(_), Ok(t)) = (&vb.value, std::str::from_utf8(b)) {
                out.push_str(",\"value\":");
                string(out, t);
            }
            out.push_str(",\"hex\":\"");
            hex_lower(out, b);
            out.push('"');
        }
        Value::ObjectId(o) => {
            out.push_str(",\"value\":");
            oid(out, o);
        }
        Value::IpAddress(a) => {
            out.push_str(",\"value\":\"");
            ipv4(out, *a);
            out.push('"');
        }
        Value::Counter32(v) | Value::Gauge32(v) | Value::TimeTicks(v) => {
            out.push_str(",\"value\":");
            uint(out, u64::from(*v));
        }
        Value::Counter64(v) => {
            out.push_str(",\"value\":");
            uint(out, *v);
        }
        Value::Null | Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView => {}
    }
    out.push_str("},\"text\":");
    text(out, &vb.value);
    out.push('}');
}

/// net-snmp's `-On` text of a value as a JSON string. The common types are written here
/// (their text needs no escaping); the rest through `Value`'s own `Display`, escaped.
fn text(out: &mut String, v: &Value) {
    match v {
        Value::Integer(x) => {
            out.push_str("\"INTEGER: ");
            int(out, i64::from(*x));
            out.push('"');
        }
        Value::ObjectId(o) => {
            out.push_str("\"OID: ");
            oid_text(out, o);
            out.push('"');
        }
        Value::Counter32(x) => {
            out.push_str("\"Counter32: ");
            uint(out, u64::from(*x));
            out.push('"');
        }
        Value::Gauge32(x) => {
            out.push_str("\"Gauge32: ");
            uint(out, u64::from(*x));
            out.push('"');
        }
        Value::Counter64(x) => {
            out.push_str("\"Counter64: ");
            uint(out, *x);
            out.push('"');
        }
        Value::TimeTicks(x) => {
            out.push_str("\"Timeticks: (");
            uint(out, u64::from(*x));
            out.push_str(") ");
            uptime(out, *x);
            out.push('"');
        }
        _ => display(out, v),
    }
}

/// An OID as a JSON string (its text is dots and digits: nothing to escape).
fn oid(out: &mut String, o: &Oid) {
    out.push('"');
    oid_text(out, o);
    out.push('"');
}

fn ipv4(out: &mut String, [a, b, c, d]: [u8; 4]) {
    uint(out, u64::from(a));
    out.push('.');
    uint(out, u64::from(b));
    out.push('.');
    uint(out, u64::from(c));
    out.push('.');
    uint(out, u64::from(d));
}

/// Anything `Display` as a JSON string, escaped as it is written.
fn display(out: &mut String, v: impl fmt::Display) {
    out.push('"');
    let _ = write!(Escaped(out), "{v}");
    out.push('"');
}

/// Bytes as a JSON string the way `String::from_utf8_lossy` reads them.
fn lossy(out: &mut String, b: &[u8]) {
    out.push('"');
    for chunk in b.utf8_chunks() {
        escape_into(out, chunk.valid());
        if !chunk.invalid().is_empty() {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
    out.push('"');
}

/// A JSON string.
pub fn string(out: &mut String, s: &str) {
    out.push('"');
    escape_into(out, s);
    out.push('"');
}

/// `s` escaped as serde_json escapes a string's contents: `"`, `\` and the control
/// characters below 0x20 (`\b \t \n \f \r` by name, the rest as `\u00XX`), nothing else.
fn escape_into(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let named = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            b'\t' => "\\t",
            b'\n' => "\\n",
            0x0c => "\\f",
            b'\r' => "\\r",
            0..=0x1f => "",
            _ => continue,
        };
        // `i` is at an ASCII byte, so both cuts are on character boundaries.
        out.push_str(s.get(start..i).unwrap_or_default());
        if named.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(named);
        }
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or_default());
}

/// A `fmt::Write` that escapes what is written into it.
struct Escaped<'a>(&'a mut String);

impl fmt::Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape_into(self.0, s);
        Ok(())
    }
}

fn hex_lower(out: &mut String, b: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(b.len() * 2);
    for &x in b {
        out.push(char::from(HEX[usize::from(x >> 4)]));
        out.push(char::from(HEX[usize::from(x & 0xf)]));
    }
}

/// Writes `v`'s decimal digits at the end of `buf`; returns where they start.
fn digits(buf: &mut [u8; 20], mut v: u64) -> usize {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 || i == 0 {
            return i;
        }
    }
}

/// Pushes ASCII bytes that were written by this module (digits, dots, separators).
fn push_ascii(out: &mut String, b: &[u8]) {
    out.push_str(std::str::from_utf8(b).unwrap_or_default());
}

/// Decimal digits in one push, without `fmt`'s padding machinery (several numbers per
/// varbind).
pub fn uint(out: &mut String, v: u64) {
    let mut buf = [0u8; 20];
    let i = digits(&mut buf, v);
    push_ascii(out, &buf[i..]);
}

pub fn int(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    uint(out, v.unsigned_abs());
}

/// An OID's text, `.1.3.6...`, as `Oid`'s `Display` writes it, assembled on the stack and
/// pushed in one piece (per 256 bytes).
fn oid_text(out: &mut String, o: &Oid) {
    let arcs = o.as_slice();
    if arcs.is_empty() {
        // net-snmp prints a zero-length OID as .0.0, as `Oid`'s Display does.
        out.push_str(".0.0");
        return;
    }
    let mut buf = [0u8; 256];
    let mut len = 0;
    for &arc in arcs {
        if len + 11 > buf.len() {
            push_ascii(out, &buf[..len]);
            len = 0;
        }
        let mut d = [0u8; 20];
        let i = digits(&mut d, u64::from(arc));
        let n = d.len() - i;
        buf[len] = b'.';
        buf[len + 1..len + 1 + n].copy_from_slice(&d[i..]);
        len += 1 + n;
    }
    push_ascii(out, &buf[..len]);
}

/// TimeTicks as net-snmp's `uptimeString`, as `UptimeText` writes it.
fn uptime(out: &mut String, t: u32) {
    let cs = t % 100;
    let mut s = t / 100;
    let days = s / 86400;
    s %= 86400;
    match days {
        0 => {}
        1 => out.push_str("1 day, "),
        d => {
            uint(out, u64::from(d));
            out.push_str(" days, ");
        }
    }
    uint(out, u64::from(s / 3600));
    let two = |x: u32| [b'0' + (x / 10 % 10) as u8, b'0' + (x % 10) as u8];
    let [m1, m2] = two((s % 3600) / 60);
    let [s1, s2] = two(s % 60);
    let [c1, c2] = two(cs);
    push_ascii(out, &[b':', m1, m2, b':', s1, s2, b'.', c1, c2]);
}

fn socket_addr(out: &mut String, a: &std::net::SocketAddr) {
    match a {
        std::net::SocketAddr::V4(v4) => {
            ipv4(out, v4.ip().octets());
            out.push(':');
            uint(out, u64::from(v4.port()));
        }
        // Rare on trap ports, and its text (zero compression, scope) is std's to define.
        std::net::SocketAddr::V6(_) => {
            let _ = write!(out, "{a}");
        }
    }
}
