//! The container listing is whatever the engine's socket answered: any bytes. Parsing never
//! panics; rows it accepts write back as JSON that parses to the same rows.
#![no_main]
use libfuzzer_sys::fuzz_target;
use outpost_containers::listing;

fuzz_target!(|data: &[u8]| {
    let Ok(rows) = listing::parse(data) else {
        return;
    };
    for r in &rows {
        std::hint::black_box(r.name());
    }
    let json = serde_json::to_vec(&rows).expect("rows serialize");
    let back = listing::parse(&json).expect("written rows parse");
    assert_eq!(back, rows);
});
