//! The SocketMan adapter's generic-netlink exchange (`adapters/socketman/genl.rs`): the
//! kernel's replies, one datagram at a time, checked before the nl80211 decoder reads
//! them. No bytes may panic it; what it takes, fed again, is taken the same (its output is
//! framed as the kernel frames messages), and decodes without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost::adapters::socketman::genl::{Exchange, Limits, Step};
use outpost::adapters::socketman::nl80211 as nl;

const LIMITS: Limits = Limits {
    messages: 64,
    bytes: 64 * 1024,
};

fuzz_target!(|data: &[u8]| {
    // The first byte says where the rest is cut into two datagrams.
    let Some((&k, rest)) = data.split_first() else {
        return;
    };
    let cut = (usize::from(k) * 4).min(rest.len());
    let mut ex = Exchange::new(1, LIMITS);
    for d in [&rest[..cut], &rest[cut..]] {
        match ex.feed(d) {
            Ok(Step::More) => {}
            Ok(Step::Done) => break,
            Err(_) => return,
        }
    }
    let replies = ex.into_replies();
    let mut again = Exchange::new(1, LIMITS);
    assert_eq!(again.feed(&replies).ok(), Some(Step::More));
    assert_eq!(again.into_replies(), replies);
    let i = nl::interfaces(&replies).unwrap_or_default();
    let s = nl::stations(&replies).unwrap_or_default();
    let v = nl::surveys(&replies).unwrap_or_default();
    let n = nl::scan(&replies).unwrap_or_default();
    let _ = nl::wifi(&i, &s, &v, n);
});
