//! Issue 15: the container listing (`listing::parse`, the engine's `GET /containers/json`
//! read by our own types) takes any state word and any text, round-trips what it accepts,
//! and answers any bytes with rows or an error, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use outpost_containers::listing::{self, Summary};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    // Any characters, quotes, backslashes and non-ASCII included.
    "\\PC{0,24}"
}

fn summary() -> impl Strategy<Value = Summary> {
    (
        text(),
        proptest::collection::vec(text(), 0..3),
        text(),
        // Docker's words, Podman's, and anything else an engine may say.
        prop_oneof![
            Just("running".to_owned()),
            Just("stopped".to_owned()),
            Just("configured".to_owned()),
            text()
        ],
        text(),
        any::<i64>(),
        proptest::collection::btree_map(text(), text(), 0..4),
        (text(), text()),
    )
        .prop_map(
            |(id, names, image, state, status, created, labels, (image_id, command))| Summary {
                id,
                names,
                image,
                image_id,
                command,
                state,
                status,
                created,
                labels,
            },
        )
}

proptest! {
    #[test]
    fn issue15_listing_rows_round_trip(rows in proptest::collection::vec(summary(), 0..5)) {
        let json = serde_json::to_vec(&rows).unwrap();
        prop_assert_eq!(listing::parse(&json).unwrap(), rows);
    }

    #[test]
    fn issue15_listing_of_any_bytes_is_rows_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = listing::parse(&bytes);
    }
}
