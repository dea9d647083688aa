//! Every byte of a datagram reaching the trap port, through the receiver's real `Filter`
//! (the one `trap/socket.rs` calls): source network, decoding, community, v3 user lookup,
//! time window, authentication, decryption, normalization, then what an accepted
//! notification becomes (event payload with and without MIB names, the log line) and the
//! inform acknowledgement, which must itself be a message we can decode.
//!
//! Input: one mode byte, then the datagram. Mode bits 0-2 are the v3 fix-up of
//! `outpost-snmp/fuzz/common/v3fix.rs` (re-sign, encrypt, clock) with the users and keys
//! the seeds were captured with (bench/fuzz/capture.py: snmptrap, snmpinform to snmptrapd);
//! bits 4-5 pick ENCRYPT's user; bits 6-7 the source address.
#![no_main]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use outpost::trap::filter::{Decision, Filter};
use outpost::trap::{config::TrapSection, TrapSettings};
use outpost_snmp::mib::Mib;
use outpost_snmp::{AuthProtocol, PrivProtocol};

#[path = "../../../outpost-snmp/fuzz/common/v3fix.rs"]
mod v3fix;

/// snmptrapd's engine ID in capture.py (`engineID fuzzrecv`): ours, for informs.
const OUR_ENGINE: &[u8] = b"\x80\x00\x1f\x88\x04fuzzrecv";
/// snmptrap's `-e` in capture.py: the trap senders' engine.
const SENDER_ENGINE: &str = "0x8000000001020304";

struct Harness {
    filter: Filter,
    /// Our engine's clock starts with the filter's (snmpEngineTime counts from there).
    started: Instant,
    users: v3fix::Users,
    mib: Mib,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let section: TrapSection = toml::from_str(&format!(
            r#"enabled = true
port = 162
listen = "127.0.0.1"
communities = "public"
allowed_networks = "127.0.0.0/8, ::1/128"
v3_users = "trapuser:{SENDER_ENGINE}:SHA:{a}:AES:{p}, trapmd5:{SENDER_ENGINE}:MD5:{a}:DES:{p}, trapauth:*:SHA:{a}, trapnoauth:*"
recv_buffer_bytes = 65536
queue_capacity = 16
log = false"#,
            a = v3fix::AUTH_PASS,
            p = v3fix::PRIV_PASS,
        ))
        .expect("the fuzz target's trap section parses");
        let mut s = TrapSettings::from_section(&section, OUR_ENGINE).expect("valid trap settings");
        let filter = Filter::new(&mut s);
        use AuthProtocol::*;
        use PrivProtocol::*;
        Harness {
            filter,
            started: Instant::now(),
            users: v3fix::Users::new(&[
                ("trapuser", Some(Sha1), Some(Aes128)),
                ("trapmd5", Some(Md5), Some(Des)),
                ("trapauth", Some(Sha1), None),
                ("trapnoauth", None, None),
            ]),
            mib: Mib::builtin(),
        }
    })
}

/// CLOCK for a sender's engine: the receiver keeps the highest (boots, time) it saw per
/// engine and drops older ones, so each fixed-up message is newer than every one before.
static SENDER_TIME: AtomicI32 = AtomicI32::new(1);

// Each marker's body differs (its name): rustc merges identical functions, which would fold
// every marker into one name in the coverage output.
macro_rules! stages {
    ($($f:ident),* $(,)?) => {
        $(#[inline(never)] fn $f() { std::hint::black_box(stringify!($f)); })*
    };
}
// Accepted notifications by version, in libFuzzer's coverage output (bench/fuzz/run.sh).
stages!(
    stage_accept_v1,
    stage_accept_v2c,
    stage_accept_v3,
    stage_inform_acknowledged
);

fn source(mode: u8) -> SocketAddr {
    match mode >> 6 {
        0 => "127.0.0.1:40000",
        1 => "[::1]:40000",
        2 => "192.0.2.1:162", // not an allowed network
        _ => "127.0.0.2:1",
    }
    .parse()
    .expect("a literal address")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, raw)) = data.split_first() else {
        return;
    };
    let h = harness();
    let datagram = v3fix::fix(raw, mode, &h.users, &["trapuser", "trapmd5"], |engine| {
        if engine == OUR_ENGINE {
            Some((
                1,
                i32::try_from(h.started.elapsed().as_secs()).unwrap_or(i32::MAX),
            ))
        } else {
            Some((
                i32::MAX - 1,
                SENDER_TIME.fetch_add(1, Ordering::Relaxed) & i32::MAX,
            ))
        }
    });
    match h.filter.check(&datagram, source(mode)) {
        Decision::Accept(n, reply) => {
            match outpost_snmp::Message::decode(&datagram).map(|m| m.version()) {
                Ok(outpost_snmp::Version::V1) => stage_accept_v1(),
                Ok(outpost_snmp::Version::V2c) => stage_accept_v2c(),
                Ok(outpost_snmp::Version::V3) => stage_accept_v3(),
                Err(_) => unreachable!("an accepted datagram decodes"),
            }
            let _ = n.payload();
            let _ = n.payload_named(Some(&h.mib));
            let _ = outpost::trap::log::line(&n);
            if let Some(r) = reply {
                outpost_snmp::Message::decode(&r).expect("our inform acknowledgement decodes");
                stage_inform_acknowledged();
            }
        }
        Decision::Report(r) | Decision::Refuse(_, r) => {
            outpost_snmp::Message::decode(&r).expect("our Report decodes");
        }
        Decision::Drop(_) => {}
    }
});
