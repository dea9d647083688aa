//! Issue 17: the RouterOS API codec. Any sentences encoded and fed to the decoder in
//! pieces of any size come back word for word; a length prefix round-trips at every size;
//! arbitrary bytes never panic the decoder, and what it returns re-encodes to bytes it
//! decodes to the same sentences.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use outpost_proto::routeros::{
    decode_length, encode_length, encode_sentence, parse_reply, Decoder, Limits,
};
use proptest::prelude::*;

fn word() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..40),
        // Lengths across the 1- and 2-byte prefix boundary.
        (120usize..300).prop_map(|n| vec![b'x'; n]),
        "=[a-z.]{1,8}=[ -~]{0,20}".prop_map(String::into_bytes),
    ]
}

fn sentences() -> impl Strategy<Value = Vec<Vec<Vec<u8>>>> {
    proptest::collection::vec(proptest::collection::vec(word(), 1..12), 1..6)
}

fn decode_all(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<Vec<u8>>> {
    let mut d = Decoder::new(Limits::default());
    let mut out = Vec::new();
    let mut at = 0;
    let mut pieces: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    pieces.sort_unstable();
    pieces.push(bytes.len());
    for end in pieces {
        if end < at {
            continue;
        }
        d.feed(&bytes[at..end]);
        at = end;
        while let Some(s) = d.next_sentence().expect("our own bytes decode") {
            out.push(s);
        }
    }
    assert!(!d.mid_sentence());
    out
}

proptest! {
    #[test]
    fn issue17_routeros_props_sentences_round_trip_in_any_pieces(
        s in sentences(),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut bytes = Vec::new();
        for one in &s {
            encode_sentence(one, &mut bytes);
        }
        prop_assert_eq!(decode_all(&bytes, &cuts), s);
    }

    #[test]
    fn issue17_routeros_props_length_prefix_round_trips(len in 0usize..=u32::MAX as usize) {
        let mut out = Vec::new();
        encode_length(len, &mut out);
        prop_assert_eq!(decode_length(&out).unwrap(), Some((len, out.len())));
    }

    #[test]
    fn issue17_routeros_props_arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let limits = Limits { max_word: 64, max_words: 8, max_sentence_bytes: 256 };
        let mut d = Decoder::new(limits);
        d.feed(&bytes);
        let mut got = Vec::new();
        while let Ok(Some(s)) = d.next_sentence() {
            let _ = parse_reply(&s);
            got.push(s);
        }
        let mut again = Vec::new();
        for s in &got {
            encode_sentence(s, &mut again);
        }
        let mut d2 = Decoder::new(limits);
        d2.feed(&again);
        for s in &got {
            let next = d2.next_sentence().unwrap();
            prop_assert_eq!(next.as_ref(), Some(s));
        }
    }
}
