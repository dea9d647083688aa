//! v3 verify + decrypt + scoped-PDU decode, with real localized keys, so the
//! fuzzer reaches the decrypted-plaintext decoder.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use outpost_snmp::security::{open, UsmUser};
use outpost_snmp::usm::{decrypt, LocalizedKeys};
use outpost_snmp::ScopedPdu;
use outpost_snmp::{AuthProtocol, PrivProtocol};

fn keys() -> &'static [LocalizedKeys] {
    static K: OnceLock<Vec<LocalizedKeys>> = OnceLock::new();
    K.get_or_init(|| {
        [
            (AuthProtocol::Sha1, PrivProtocol::Aes128),
            (AuthProtocol::Md5, PrivProtocol::Des),
        ]
        .iter()
        .filter_map(|(a, p)| {
            let u = UsmUser::new(
                "fuzz",
                Some((*a, "authpass123".to_string().into())),
                Some((*p, "privpass123".to_string().into())),
            )
            .ok()?;
            u.localize(b"\x80\x00\x1f\x88\x80fuzz").ok()
        })
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    for k in keys() {
        let _ = open(data, Some(k));
    }
    let _ = open(data, None);
    // HMAC blocks random input before decryption; drive the decrypt and
    // plaintext decoder directly too (first 8 bytes are the salt).
    if data.len() > 8 {
        let (salt, cipher) = data.split_at(8);
        for p in [PrivProtocol::Des, PrivProtocol::Aes128] {
            if let Ok(plain) = decrypt(p, &[7u8; 32], 1, 2, salt, cipher) {
                let _ = ScopedPdu::decode(&plain);
            }
        }
    }
});
