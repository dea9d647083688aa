//! gzip for socktop's long replies, with one deflate state kept for the process. A new
//! compressor (what `flate2::write::GzEncoder::new` makes) allocates and zeroes a few hundred
//! KB of tables; glibc returns that memory to the kernel when it is freed, so every uncached
//! `get_processes` page-faulted it back in: 8% of its CPU time (`perf record -e
//! exceptions:page_fault_user`, issue 11). Resetting one compressor costs nothing of that.
//! Nothing is allocated before the first reply that needs it, so an idle agent holds none.

use std::sync::{Mutex, PoisonError};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// The deflate state, created on first use.
static DEFLATE: Mutex<Option<Compress>> = Mutex::new(None);

/// What `flate2`'s `GzEncoder` writes for `Compression::fast()`: magic, deflate, no flags,
/// no mtime, XFL 4 (fastest), OS 255 (unknown).
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255];

/// `bytes` as a gzip member, or None if deflate fails (it does not on in-memory input).
pub(crate) fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut slot = DEFLATE.lock().unwrap_or_else(PoisonError::into_inner);
    let deflate = slot.get_or_insert_with(|| Compress::new(Compression::fast(), false));
    deflate.reset();
    let mut out = Vec::with_capacity(HEADER.len() + bytes.len() / 2 + 64);
    out.extend_from_slice(&HEADER);
    loop {
        let consumed = usize::try_from(deflate.total_in()).ok()?;
        let rest = bytes.get(consumed..)?;
        if out.capacity() == out.len() {
            out.reserve(out.len().max(256));
        }
        match deflate.compress_vec(rest, &mut out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => break,
            // Out of room: grow and go on.
            Ok(Status::Ok | Status::BufError) => out.reserve(out.len().max(256)),
            Err(_) => return None,
        }
    }
    drop(slot);
    let mut crc = Crc::new();
    crc.update(bytes);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    // ISIZE is the length modulo 2^32 (RFC 1952).
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    use outpost_test_support::gzip::gunzip;

    #[test]
    fn round_trips_any_size_and_reuses_the_state() {
        let big: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i * 7919).to_le_bytes())
            .collect();
        for input in [&b""[..], b"x", &[7u8; 5000], &big] {
            let z = gzip(input).unwrap();
            assert_eq!(&z[..2], &[0x1f, 0x8b]);
            assert_eq!(gunzip(&z), input);
            // Twice: the reset state gives the same bytes.
            assert_eq!(gzip(input).unwrap(), z);
        }
    }

    #[test]
    fn matches_flate2s_encoder() {
        use std::io::Write;
        let input = br#"{"cpu_total":12.5,"hostname":"h"}"#.repeat(40);
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(&input).unwrap();
        assert_eq!(gzip(&input).unwrap(), enc.finish().unwrap());
    }
}
