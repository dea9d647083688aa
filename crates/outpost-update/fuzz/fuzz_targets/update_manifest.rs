//! A manifest is whatever the update server sent (it is parsed only after its signature
//! verified, but the parser must hold even so): any bytes. Parsing never panics, and an
//! accepted manifest writes back as JSON that parses to the same manifest. Rotation
//! statements and signatures share the input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use outpost_update::{verify, Manifest, RotationStatement};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::parse(data) {
        let json = m.to_json();
        assert_eq!(Manifest::parse(json.as_bytes()).as_ref(), Ok(&m), "{json}");
    }
    let _ = RotationStatement::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = verify::decode(text);
    }
});
