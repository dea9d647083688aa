//! Property tests of the ICMP codec: encode→decode is the identity for every message the
//! engine reads, and no byte string makes the decoder panic. `fuzz/` runs the same decoder
//! for longer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;

use outpost_icmp::codec::{self, Echo, Family, Message, Quoted};
use proptest::prelude::*;

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![Just(Family::V4), Just(Family::V6)]
}

fn message(f: Family) -> impl Strategy<Value = Message> {
    let addr: BoxedStrategy<IpAddr> = match f {
        Family::V4 => any::<[u8; 4]>().prop_map(IpAddr::from).boxed(),
        Family::V6 => any::<[u8; 16]>().prop_map(IpAddr::from).boxed(),
    };
    let echo = (
        any::<u16>(),
        any::<u16>(),
        prop::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(|(ident, seq, payload)| Echo {
            ident,
            seq,
            payload,
        });
    let quoted = (addr, any::<u16>(), any::<u16>()).prop_map(|(destination, ident, seq)| Quoted {
        destination,
        ident,
        seq,
    });
    prop_oneof![
        echo.clone().prop_map(Message::EchoRequest),
        echo.prop_map(Message::EchoReply),
        (any::<u8>(), quoted.clone())
            .prop_map(|(code, quoted)| Message::Unreachable { code, quoted }),
        (any::<u8>(), quoted).prop_map(|(code, quoted)| Message::TimeExceeded { code, quoted }),
    ]
}

proptest! {
    #[test]
    fn issue14_codec_round_trip((f, m) in family().prop_flat_map(|f| (Just(f), message(f)))) {
        let bytes = codec::encode(f, &m);
        prop_assert_eq!(codec::decode(f, &bytes), Ok(m));
    }

    #[test]
    fn issue14_decoder_never_panics(f in family(), bytes in prop::collection::vec(any::<u8>(), 0..120)) {
        let _ = codec::decode(f, &bytes);
        let _ = codec::ipv4_header_len(&bytes);
    }

    #[test]
    fn issue14_any_truncation_of_a_v4_message_is_refused_or_shorter(
        m in message(Family::V4), cut in 0usize..400,
    ) {
        let bytes = codec::encode(Family::V4, &m);
        let cut = cut.min(bytes.len());
        if cut < bytes.len() {
            // A shorter prefix never decodes to the whole message.
            prop_assert_ne!(codec::decode(Family::V4, &bytes[..cut]), Ok(m));
        }
    }
}
