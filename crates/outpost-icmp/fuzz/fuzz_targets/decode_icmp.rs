//! Every packet the engine's receive task reads goes through this: the IPv4 header strip of
//! a raw socket, then the decoder, for both families. A decoded message re-encodes, and that
//! encoding decodes to the same message (our encoder never writes what our decoder refuses
//! or reads differently).
#![no_main]
use libfuzzer_sys::fuzz_target;
use outpost_icmp::codec::{self, Family, Message};

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let family = if first & 1 == 0 {
        Family::V4
    } else {
        Family::V6
    };
    // Half the inputs as a raw IPv4 socket hands them over (IP header first).
    let bytes = if family == Family::V4 && first & 2 != 0 {
        match codec::ipv4_header_len(rest) {
            Ok(ihl) => &rest[ihl..],
            Err(_) => return,
        }
    } else {
        rest
    };
    let Ok(m) = codec::decode(family, bytes) else {
        return;
    };
    if matches!(m, Message::Other { .. }) {
        return; // encoded as a bare header: not a round trip
    }
    let once = codec::encode(family, &m);
    let again = codec::decode(family, &once).expect("our own encoding decodes");
    assert_eq!(again, m, "decode(encode(m)) differs from m");
});
