//! v3 verify + decrypt + scoped-PDU decode (`security::open`), with the real keys of the
//! users the seeds were captured with from snmpd (bench/fuzz/capture.py), and the fix-up of
//! `common/v3fix.rs` so mutated messages still verify and reach decryption. An opened
//! message must seal and open again to the same scoped PDU.
//!
//! Input: one mode byte (v3fix), then the datagram.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use outpost_snmp::message::{flags, Message};
use outpost_snmp::security::{open, seal, EngineParams, SealParams, SecurityLevel};
use outpost_snmp::{AuthProtocol, PrivProtocol};

#[path = "../common/v3fix.rs"]
mod v3fix;

/// The users of capture.py's snmpd.conf, same pass phrases.
fn users() -> &'static v3fix::Users {
    static U: OnceLock<v3fix::Users> = OnceLock::new();
    U.get_or_init(|| {
        use AuthProtocol::*;
        use PrivProtocol::*;
        v3fix::Users::new(&[
            ("noauthuser", None, None),
            ("authuser", Some(Sha1), None),
            ("probeuser", Some(Sha1), Some(Aes128)),
            ("probe256", Some(Sha256), Some(Aes128)),
            ("md5des", Some(Md5), Some(Des)),
            ("sha512", Some(Sha512), Some(Aes256)),
        ])
    })
}

/// ENCRYPT's choices (mode bits 4-5): one user per cipher.
const ENCRYPT_USERS: &[&str] = &["probeuser", "probe256", "md5des", "sha512"];

// Each marker's body differs (its name): rustc merges identical functions, which would fold
// every marker into one name in the coverage output.
macro_rules! stages {
    ($($f:ident),* $(,)?) => {
        $(#[inline(never)] fn $f() { std::hint::black_box(stringify!($f)); })*
    };
}
// What opened, by security level, in libFuzzer's coverage output (bench/fuzz/run.sh).
stages!(
    stage_opened_plain,
    stage_opened_authenticated,
    stage_opened_decrypted
);

fuzz_target!(|data: &[u8]| {
    let Some((&mode, raw)) = data.split_first() else {
        return;
    };
    let msg = v3fix::fix(raw, mode, users(), ENCRYPT_USERS, |_| Some((1, 100)));
    // The keys of the user the message names, localized to its engine, as a receiver does.
    let keys = match Message::decode(&msg) {
        Ok(Message::V3(head)) => users().keys(&head.usm.user_name, &head.usm.engine_id),
        _ => None,
    };
    let _ = open(&msg, None);
    let Some(keys) = keys else {
        return;
    };
    let Ok((m, scoped)) = open(&msg, Some(&keys)) else {
        return;
    };
    match m.flags & (flags::AUTH | flags::PRIV) {
        0 => stage_opened_plain(),
        flags::AUTH => stage_opened_authenticated(),
        _ => stage_opened_decrypted(),
    }
    // Round trip: what was opened seals (same level) and opens to the same scoped PDU.
    let engine = EngineParams {
        engine_id: m.usm.engine_id.clone(),
        boots: m.usm.engine_boots,
        time: m.usm.engine_time,
    };
    let level =
        SecurityLevel::from_flags(m.flags).expect("an opened message has a valid security level");
    let sealed = seal(&SealParams {
        msg_id: m.msg_id,
        max_size: m.max_size,
        level,
        reportable: false,
        engine: &engine,
        user_name: &m.usm.user_name,
        scoped: &scoped,
        keys: &keys,
        salt: 7,
    })
    .expect("an opened message seals again with the same keys");
    let (_, again) = open(&sealed, Some(&keys)).expect("a sealed message opens");
    assert_eq!(again, scoped, "seal/open round trip changed the scoped PDU");
});
