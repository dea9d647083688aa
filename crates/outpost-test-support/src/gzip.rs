//! Reading what the agent gzips (socktop frames, stats batches).

use std::io::Read;

/// The decompressed bytes of a gzip stream; panics (failing the test) when it is not one.
pub fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .expect("a gzip stream");
    out
}
