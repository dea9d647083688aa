//! Object identifiers.

use std::fmt;
use std::str::FromStr;

/// An OBJECT IDENTIFIER. Ordering is SNMP's lexicographic order, which is
/// what walks rely on to detect agents that do not advance.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Oid(
    /// Sub-identifiers; SNMP limits each to 32 bits.
    pub Vec<u32>,
);

impl Oid {
    pub fn new(subids: impl Into<Vec<u32>>) -> Self {
        Oid(subids.into())
    }

    pub fn as_slice(&self) -> &[u32] {
        &self.0
    }

    /// True if `self` is `prefix` or lies under it.
    pub fn starts_with(&self, prefix: &Oid) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// This OID with one more sub-identifier.
    pub fn child(&self, subid: u32) -> Oid {
        let mut v = self.0.clone();
        v.push(subid);
        Oid(v)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Maps keyed by `Oid` can be searched with a slice of one (a prefix) without allocating.
/// Sound because the derived `Hash` and `Eq` are those of the inner `Vec`, hence of the slice.
impl std::borrow::Borrow<[u32]> for Oid {
    fn borrow(&self) -> &[u32] {
        &self.0
    }
}

/// Numeric form with a leading dot, as `snmpwalk -On` prints it.
impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            // net-snmp prints a zero-length OID as .0.0 (it decodes it that way).
            return f.write_str(".0.0");
        }
        write_dotted(f, &self.0)
    }
}

impl Oid {
    /// Appends the OID as `Display` shows it, without going through `fmt`: for writers that
    /// format thousands of OIDs into one buffer (a poll's result).
    pub fn push_to(&self, out: &mut String) {
        if self.0.is_empty() {
            out.push_str(".0.0");
        } else {
            push_dotted(out, &self.0);
        }
    }
}

/// `.a.b.c` for `arcs`, appended to `out`: built in a stack buffer, handed over a chunk at
/// a time (one capacity check and one ASCII check per chunk, not per arc).
pub(crate) fn push_dotted(out: &mut String, arcs: &[u32]) {
    const CHUNK: usize = 256;
    let mut buf = [0u8; CHUNK];
    let mut len = 0;
    for &arc in arcs {
        if len + 11 > CHUNK {
            out.push_str(ascii(&buf[..len]));
            len = 0;
        }
        len += put_arc(&mut buf[len..], arc);
    }
    out.push_str(ascii(&buf[..len]));
}

/// Writes `.arc` at the start of `buf` (at least 11 bytes) and returns its length.
fn put_arc(buf: &mut [u8], arc: u32) -> usize {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    let mut v = arc;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let tail = &digits[i..];
    buf[0] = b'.';
    buf[1..1 + tail.len()].copy_from_slice(tail);
    1 + tail.len()
}

/// `.a.b.c` for `arcs`. Formatted in a stack buffer and written in as few calls as possible:
/// a trap's payload prints several OIDs, and `write!` per arc (one padding-aware integer
/// format and two writes each) was a tenth of the receiver's CPU under load.
pub(crate) fn write_dotted(f: &mut fmt::Formatter<'_>, arcs: &[u32]) -> fmt::Result {
    const CHUNK: usize = 256;
    let mut buf = [0u8; CHUNK];
    let mut len = 0;
    for &arc in arcs {
        if len + 11 > CHUNK {
            f.write_str(ascii(&buf[..len]))?;
            len = 0;
        }
        len += put_arc(&mut buf[len..], arc);
    }
    f.write_str(ascii(&buf[..len]))
}

/// Bytes this crate formatted from ASCII (digits, dots, hex) as text: never falls back.
pub(crate) fn ascii(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or_default()
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The text is not an OID we can send as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseOidError {
    /// Not dots and decimal sub-identifiers (or one out of 32 bits).
    #[error("not a numeric OID: {0:?}")]
    NotNumeric(String),
    /// More sub-identifiers than net-snmp's MAX_OID_LEN.
    #[error("OID {0:?} has more than {max} sub-identifiers", max = crate::ber::MAX_OID_LEN)]
    TooLong(String),
    /// BER packs the first two arcs into one number (X.690 8.19.4): a first arc above 2
    /// would be sent as a different OID (`3.1` as `2.41`), so it is refused, as net-snmp
    /// refuses it ("Can't build OID for variable").
    #[error("invalid OID {oid:?}: the first sub-identifier is {arc}, it must be 0, 1 or 2 (net-snmp: Can't build OID for variable)")]
    BadFirstArc {
        /// The OID as written.
        oid: String,
        /// The offending first arc.
        arc: u32,
    },
    /// Under arcs 0 and 1 the second arc must be below 40, or it would be sent as a
    /// different OID (`0.50` as `1.10`).
    #[error("invalid OID {oid:?}: the second sub-identifier is {arc}, it must be under 40 when the first is 0 or 1 (net-snmp: Can't build OID for variable)")]
    BadSecondArc {
        /// The OID as written.
        oid: String,
        /// The offending second arc.
        arc: u32,
    },
}

impl Oid {
    /// Refuses what BER cannot encode as written (see [`ParseOidError::BadFirstArc`]) and
    /// what is longer than net-snmp accepts. `text` names the OID in the error. Every
    /// parser of OIDs from outside (numeric text, MIB names with suffixes) ends here;
    /// the decoder cannot produce such an OID (it splits the first octet into 0..=2 and,
    /// under 0 and 1, a second arc below 40).
    pub fn validate(&self, text: &str) -> Result<(), ParseOidError> {
        match self.0.as_slice() {
            [a, ..] if *a > 2 => {
                return Err(ParseOidError::BadFirstArc {
                    oid: shown(text),
                    arc: *a,
                })
            }
            [a, b, ..] if *a < 2 && *b >= 40 => {
                return Err(ParseOidError::BadSecondArc {
                    oid: shown(text),
                    arc: *b,
                })
            }
            _ => {}
        }
        if self.0.len() > crate::ber::MAX_OID_LEN {
            return Err(ParseOidError::TooLong(shown(text)));
        }
        Ok(())
    }
}

/// The text as an error shows it: at most 128 characters, so a hostile megabyte of OID is
/// not copied into every error message and log line.
pub(crate) fn shown(text: &str) -> String {
    const MAX: usize = 128;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_string(),
    }
}

impl FromStr for Oid {
    type Err = ParseOidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.strip_prefix('.').unwrap_or(s);
        if t.is_empty() {
            return Err(ParseOidError::NotNumeric(shown(s)));
        }
        let mut v = Vec::new();
        for part in t.split('.') {
            v.push(
                part.parse::<u32>()
                    .map_err(|_| ParseOidError::NotNumeric(shown(s)))?,
            );
            if v.len() > crate::ber::MAX_OID_LEN {
                return Err(ParseOidError::TooLong(shown(s)));
            }
        }
        let oid = Oid(v);
        oid.validate(s)?;
        Ok(oid)
    }
}

impl serde::Serialize for Oid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Oid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl From<&[u32]> for Oid {
    fn from(v: &[u32]) -> Self {
        Oid(v.to_vec())
    }
}
