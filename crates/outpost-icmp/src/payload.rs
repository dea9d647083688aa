//! What each probe carries after its echo header: the engine's random cookie, the probe's
//! send timestamp, then a fixed filler up to the requested size. A reply is credited only if
//! it brings back exactly these bytes, so a forged reply (which cannot know the cookie) or a
//! replayed one (whose timestamp belongs to an older probe) is dropped.

/// Cookie (8) + timestamp (8): the smallest payload a probe can carry. Smaller requested
/// sizes are raised to this.
pub const MIN_PAYLOAD: usize = 16;

pub fn size_for(requested: usize) -> usize {
    requested.max(MIN_PAYLOAD)
}

fn filler(i: usize) -> u8 {
    // Printable like ping's pattern, and never all zeros (zero padding would hide a
    // truncation that kept the length).
    0x20 + (i % 0x5f) as u8
}

pub fn build(cookie: [u8; 8], stamp: u64, requested: usize) -> Vec<u8> {
    let size = size_for(requested);
    let mut p = Vec::with_capacity(size);
    p.extend_from_slice(&cookie);
    p.extend_from_slice(&stamp.to_be_bytes());
    p.extend((MIN_PAYLOAD..size).map(filler));
    p
}

/// Whether `payload` is exactly what [`build`] made for this cookie, stamp and size.
pub fn matches(payload: &[u8], cookie: [u8; 8], stamp: u64, requested: usize) -> bool {
    let size = size_for(requested);
    payload.len() == size
        && payload.get(..8) == Some(&cookie[..])
        && payload.get(8..16) == Some(&stamp.to_be_bytes()[..])
        && payload
            .iter()
            .enumerate()
            .skip(MIN_PAYLOAD)
            .all(|(i, b)| *b == filler(i))
}

/// Whether `quoted` starts with this probe's cookie and stamp (what an ICMP error quotes of
/// it may be cut anywhere after them).
pub fn prefix_matches(quoted: &[u8], cookie: [u8; 8], stamp: u64) -> bool {
    quoted.get(..8) == Some(&cookie[..]) && quoted.get(8..16) == Some(&stamp.to_be_bytes()[..])
}
