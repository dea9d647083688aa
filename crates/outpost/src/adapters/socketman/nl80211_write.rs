//! The encoder of nl80211 dumps as the kernel writes them (netlink(7), `linux/nl80211.h`):
//! what the test fixtures and the fuzz target's round trip are built with. The decoder is
//! [`super::nl80211`].

use super::nl80211::{NLA_F_NESTED, NLMSG_DONE};

/// Builds netlink messages as the kernel writes them: the fixtures' encoder, and the
/// other half of the round-trip property.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }

    /// Appends one generic-netlink message of `cmd` whose attributes `attrs` writes.
    pub fn message(&mut self, cmd: u8, attrs: impl FnOnce(&mut Attrs)) -> &mut Writer {
        let mut a = Attrs::default();
        attrs(&mut a);
        let len = 16 + 4 + a.0.len();
        self.buf.extend_from_slice(&(len as u32).to_ne_bytes());
        // The family id is assigned at run time; the decoder does not read it.
        self.buf.extend_from_slice(&0x1cu16.to_ne_bytes());
        self.buf.extend_from_slice(&0x2u16.to_ne_bytes()); // NLM_F_MULTI
        self.buf.extend_from_slice(&1u32.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.extend_from_slice(&[cmd, 1, 0, 0]);
        self.buf.extend_from_slice(&a.0);
        self
    }

    /// Ends the dump with `NLMSG_DONE` and returns the bytes.
    pub fn done(&mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&20u32.to_ne_bytes());
        self.buf.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        self.buf.extend_from_slice(&0x2u16.to_ne_bytes());
        self.buf.extend_from_slice(&1u32.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        std::mem::take(&mut self.buf)
    }
}

/// A message's attributes being written.
#[derive(Debug, Default, Clone)]
pub struct Attrs(Vec<u8>);

impl Attrs {
    /// The attributes written so far (a request's body).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    pub fn bytes(&mut self, ty: u16, payload: &[u8]) -> &mut Attrs {
        self.0
            .extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        self.0.extend_from_slice(&ty.to_ne_bytes());
        self.0.extend_from_slice(payload);
        while self.0.len() % 4 != 0 {
            self.0.push(0);
        }
        self
    }
    pub fn u8(&mut self, ty: u16, v: u8) -> &mut Attrs {
        self.bytes(ty, &[v])
    }
    pub fn u16(&mut self, ty: u16, v: u16) -> &mut Attrs {
        self.bytes(ty, &v.to_ne_bytes())
    }
    pub fn u32(&mut self, ty: u16, v: u32) -> &mut Attrs {
        self.bytes(ty, &v.to_ne_bytes())
    }
    pub fn u64(&mut self, ty: u16, v: u64) -> &mut Attrs {
        self.bytes(ty, &v.to_ne_bytes())
    }
    /// A NUL-terminated string, as the kernel writes interface names.
    pub fn cstr(&mut self, ty: u16, s: &str) -> &mut Attrs {
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        self.bytes(ty, &b)
    }
    pub fn flag(&mut self, ty: u16) -> &mut Attrs {
        self.bytes(ty, &[])
    }
    pub fn nest(&mut self, ty: u16, inner: impl FnOnce(&mut Attrs)) -> &mut Attrs {
        let mut a = Attrs::default();
        inner(&mut a);
        self.bytes(ty | NLA_F_NESTED, &a.0)
    }
}

/// Parses a MAC written `AA:BB:…` back to bytes (for the encoder's callers).
pub fn mac_bytes(mac: &str) -> Option<[u8; 6]> {
    let v: Vec<u8> = mac
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).ok())
        .collect::<Option<_>>()?;
    v.try_into().ok()
}
