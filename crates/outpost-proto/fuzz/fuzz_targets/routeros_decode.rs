//! Issue 17: bytes from a RouterOS API peer, as the MikroTik client reads them: fed to
//! the incremental decoder in two pieces (split where the first byte says), each sentence
//! parsed as a reply. Never a panic; every sentence decoded re-encodes to bytes that
//! decode to the same sentence.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_proto::routeros::{encode_sentence, parse_reply, Decoder, Limits};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    // Small limits so the fuzzer reaches them.
    let limits = Limits {
        max_word: 4096,
        max_words: 64,
        max_sentence_bytes: 16 << 10,
    };
    let mut d = Decoder::new(limits);
    let cut = usize::from(split).min(rest.len());
    let mut got = Vec::new();
    for piece in [&rest[..cut], &rest[cut..]] {
        d.feed(piece);
        while let Ok(Some(s)) = d.next_sentence() {
            let _ = parse_reply(&s);
            got.push(s);
        }
    }
    let mut again = Vec::new();
    for s in &got {
        encode_sentence(s, &mut again);
    }
    let mut d2 = Decoder::new(limits);
    d2.feed(&again);
    for s in &got {
        assert_eq!(d2.next_sentence().ok().flatten().as_ref(), Some(s));
    }
});
