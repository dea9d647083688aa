//! Minimal BER (X.690) reader and writer: exactly the subset SNMP uses.
//!
//! The reader never trusts a length: every slice is bounds-checked against
//! what is left, so truncated or oversized input becomes a [`DecodeError`].

use crate::error::DecodeError;

/// Universal and SNMP application tags.
pub mod tag {
    pub const INTEGER: u8 = 0x02;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OBJECT_ID: u8 = 0x06;
    pub const SEQUENCE: u8 = 0x30;
    pub const IP_ADDRESS: u8 = 0x40;
    pub const COUNTER32: u8 = 0x41;
    pub const GAUGE32: u8 = 0x42;
    pub const TIMETICKS: u8 = 0x43;
    pub const OPAQUE: u8 = 0x44;
    pub const COUNTER64: u8 = 0x46;
    pub const NO_SUCH_OBJECT: u8 = 0x80;
    pub const NO_SUCH_INSTANCE: u8 = 0x81;
    pub const END_OF_MIB_VIEW: u8 = 0x82;
}

/// Longest OID net-snmp accepts (MAX_OID_LEN); longer ones are hostile.
pub const MAX_OID_LEN: usize = 128;

/// A length octet with this bit set is the long form: its low seven bits count the
/// length octets that follow (X.690 8.1.3.5). Below it, the octet is the length itself.
pub const LONG_LENGTH: u8 = 0x80;

/// Length octets we accept in the long form: four carry any length a 32-bit `usize`
/// holds, far past any SNMP message; more is hostile.
pub const MAX_LENGTH_OCTETS: usize = 4;

/// A cursor over a borrowed buffer that yields TLVs.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    /// The bytes still to be read; shrinks as TLVs are consumed.
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { rest: buf }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Bytes not yet consumed (trailing garbage checks, offsets).
    pub fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    /// Reads one TLV and returns its tag and content.
    pub fn read_tlv(&mut self) -> Result<(u8, &'a [u8]), DecodeError> {
        let (&t, after_tag) = self.rest.split_first().ok_or(DecodeError::Truncated)?;
        if t & 0x1f == 0x1f {
            // Multi-byte tags never occur in SNMP.
            return Err(DecodeError::UnexpectedTag {
                expected: 0,
                found: t,
            });
        }
        let (&first, mut after_len) = after_tag.split_first().ok_or(DecodeError::Truncated)?;
        let len = if first < LONG_LENGTH {
            usize::from(first)
        } else {
            let n = usize::from(first & !LONG_LENGTH);
            if n == 0 {
                return Err(DecodeError::IndefiniteLength);
            }
            if n > MAX_LENGTH_OCTETS {
                return Err(DecodeError::LengthTooLarge);
            }
            let (len_bytes, rest) = split(after_len, n)?;
            after_len = rest;
            len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        let (content, rest) = split(after_len, len)?;
        self.rest = rest;
        Ok((t, content))
    }

    /// Reads a TLV and checks its tag.
    pub fn expect(&mut self, expected: u8) -> Result<&'a [u8], DecodeError> {
        let (t, content) = self.read_tlv()?;
        if t != expected {
            return Err(DecodeError::UnexpectedTag { expected, found: t });
        }
        Ok(content)
    }

    pub fn read_i32(&mut self) -> Result<i32, DecodeError> {
        let c = self.expect(tag::INTEGER)?;
        // net-snmp truncates over-long integers to 32 bits; so do we, so the
        // text form matches what operators already see.
        Ok(decode_integer(c)? as i32)
    }

    pub fn read_octets(&mut self) -> Result<&'a [u8], DecodeError> {
        self.expect(tag::OCTET_STRING)
    }

    pub fn read_sequence(&mut self) -> Result<Reader<'a>, DecodeError> {
        Ok(Reader::new(self.expect(tag::SEQUENCE)?))
    }
}

fn split(buf: &[u8], n: usize) -> Result<(&[u8], &[u8]), DecodeError> {
    if n > buf.len() {
        return Err(DecodeError::Truncated);
    }
    Ok(buf.split_at(n))
}

/// Decodes a two's-complement integer of up to 9 octets (a 64-bit unsigned
/// value may need a leading zero octet). Over-long values are an error.
pub fn decode_integer(c: &[u8]) -> Result<i128, DecodeError> {
    if c.is_empty() {
        return Err(DecodeError::BadInteger);
    }
    if c.len() > 9 {
        return Err(DecodeError::BadInteger);
    }
    let mut v: i128 = if c[0] & 0x80 != 0 { -1 } else { 0 };
    for &b in c {
        v = (v << 8) | i128::from(b);
    }
    Ok(v)
}

/// Decodes OID content octets into sub-identifiers.
pub fn decode_oid(c: &[u8]) -> Result<Vec<u32>, DecodeError> {
    // net-snmp reads an empty OID as .0.0; keep that so output matches.
    if c.is_empty() {
        return Ok(vec![0, 0]);
    }
    let mut out = Vec::with_capacity(c.len() + 1);
    let mut acc: u64 = 0;
    let mut in_progress = false;
    for &b in c {
        if !in_progress && b == 0x80 {
            // A leading 0x80 is a non-minimal encoding; tolerated, adds nothing.
        }
        acc = (acc << 7) | u64::from(b & 0x7f);
        if acc > u64::from(u32::MAX) + 80 {
            return Err(DecodeError::BadOid);
        }
        in_progress = b & 0x80 != 0;
        if !in_progress {
            if out.is_empty() {
                let (a, b) = match acc {
                    0..=39 => (0, acc),
                    40..=79 => (1, acc - 40),
                    _ => (2, acc - 80),
                };
                out.push(a);
                out.push(u32::try_from(b).map_err(|_| DecodeError::BadOid)?);
            } else {
                out.push(u32::try_from(acc).map_err(|_| DecodeError::BadOid)?);
            }
            acc = 0;
            if out.len() > MAX_OID_LEN {
                return Err(DecodeError::BadOid);
            }
        }
    }
    if in_progress {
        return Err(DecodeError::BadOid);
    }
    Ok(out)
}

/// An append-only BER writer. Constructed values write their content first
/// and patch the length in afterwards, which keeps the call sites nested like
/// the ASN.1 they encode.
#[derive(Debug, Default)]
pub struct Writer {
    /// The encoded bytes so far.
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Writer {
            buf: Vec::with_capacity(256),
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Writes a constructed TLV whose content is produced by `f`.
    pub fn constructed<T>(&mut self, t: u8, f: impl FnOnce(&mut Writer) -> T) -> T {
        self.buf.push(t);
        let len_pos = self.buf.len();
        self.buf.push(0);
        let r = f(self);
        let content_len = self.buf.len() - len_pos - 1;
        if content_len < usize::from(LONG_LENGTH) {
            self.buf[len_pos] = content_len as u8;
        } else {
            let be = (content_len as u32).to_be_bytes();
            let skip = be.iter().take_while(|&&b| b == 0).count();
            let lb = &be[skip..];
            self.buf[len_pos] = LONG_LENGTH | lb.len() as u8;
            self.buf
                .splice(len_pos + 1..len_pos + 1, lb.iter().copied());
        }
        r
    }

    pub fn primitive(&mut self, t: u8, content: &[u8]) {
        self.buf.push(t);
        write_len(&mut self.buf, content.len());
        self.buf.extend_from_slice(content);
    }

    pub fn int(&mut self, t: u8, v: i64) {
        let be = v.to_be_bytes();
        // Minimal two's complement: drop leading octets that only repeat the sign.
        let mut start = 0;
        while start < 7 {
            let (b, next) = (be[start], be[start + 1]);
            if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
                start += 1;
            } else {
                break;
            }
        }
        self.primitive(t, &be[start..]);
    }

    pub fn uint(&mut self, t: u8, v: u64) {
        let be = v.to_be_bytes();
        let skip = be.iter().take_while(|&&b| b == 0).count().min(7);
        let body = &be[skip..];
        if body[0] & 0x80 != 0 {
            let mut c = Vec::with_capacity(body.len() + 1);
            c.push(0);
            c.extend_from_slice(body);
            self.primitive(t, &c);
        } else {
            self.primitive(t, body);
        }
    }

    pub fn null(&mut self, t: u8) {
        self.buf.push(t);
        self.buf.push(0);
    }

    pub fn octets(&mut self, v: &[u8]) {
        self.primitive(tag::OCTET_STRING, v);
    }

    pub fn oid(&mut self, subids: &[u32]) {
        let mut c = Vec::with_capacity(subids.len() + 4);
        let (a, b) = match subids {
            [] => (0u64, 0u64),
            [a] => (u64::from(*a), 0),
            [a, b, ..] => (u64::from(*a), u64::from(*b)),
        };
        push_base128(&mut c, a * 40 + b);
        for &s in subids.iter().skip(2) {
            push_base128(&mut c, u64::from(s));
        }
        self.primitive(tag::OBJECT_ID, &c);
    }
}

fn write_len(buf: &mut Vec<u8>, len: usize) {
    if len < usize::from(LONG_LENGTH) {
        buf.push(len as u8);
    } else {
        let be = (len as u32).to_be_bytes();
        let skip = be.iter().take_while(|&&b| b == 0).count();
        buf.push(LONG_LENGTH | (be.len() - skip) as u8);
        buf.extend_from_slice(&be[skip..]);
    }
}

fn push_base128(out: &mut Vec<u8>, v: u64) {
    let mut tmp = [0u8; 10];
    let mut i = tmp.len();
    let mut v = v;
    loop {
        i -= 1;
        tmp[i] = (v & 0x7f) as u8 | if i == tmp.len() - 1 { 0 } else { 0x80 };
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_minimal() {
        for (v, want) in [
            (0i64, vec![0x02, 1, 0]),
            (127, vec![0x02, 1, 0x7f]),
            (128, vec![0x02, 2, 0, 0x80]),
            (-1, vec![0x02, 1, 0xff]),
            (-129, vec![0x02, 2, 0xff, 0x7f]),
        ] {
            let mut w = Writer::new();
            w.int(tag::INTEGER, v);
            assert_eq!(w.buf, want, "{v}");
            assert_eq!(decode_integer(&want[2..]).unwrap(), i128::from(v));
        }
    }

    #[test]
    fn long_length() {
        let mut w = Writer::new();
        w.constructed(tag::SEQUENCE, |w| w.octets(&[7u8; 300]));
        let mut r = Reader::new(&w.buf);
        let mut inner = r.read_sequence().unwrap();
        assert_eq!(inner.read_octets().unwrap().len(), 300);
        assert!(r.is_empty());
    }

    #[test]
    fn oid_roundtrip() {
        let o = [1u32, 3, 6, 1, 4, 1, 2021, 4294967295];
        let mut w = Writer::new();
        w.oid(&o);
        assert_eq!(decode_oid(&w.buf[2..]).unwrap(), o);
    }
}
