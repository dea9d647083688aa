//! Issue 18: the generic-netlink client under the nl80211 reader (`adapters/socketman/
//! genl.rs`, `nl80211_read.rs`). Against this kernel: `nlctrl` (always there) resolves to
//! its fixed id, and `nl80211` is absent (a Firecracker VM: no Wi-Fi driver, no
//! mac80211_hwsim), so the Wi-Fi arrays are empty and the pass is not an error. Over
//! recorded dumps (the decoder suite's fixtures) and crafted replies: a dump split over
//! datagrams, acknowledgements, kernel errors in NLMSG_ERROR and NLMSG_DONE, cut
//! messages, replies to another request, and the message and byte bounds; a property
//! feeds random dumps split at random boundaries, and random bytes that must not panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod nl80211_fixture;

use outpost::adapters::socketman::genl::{
    self, Exchange, GenlError, Limits, Socket, Step, GENL_ID_CTRL,
};
use outpost::adapters::socketman::nl80211::{self as nl, Attrs, Writer};
use outpost::adapters::socketman::nl80211_read::{self, WifiReader};
use proptest::prelude::*;
use std::time::Duration;

const WIDE: Limits = Limits {
    messages: 1000,
    bytes: 1 << 20,
};

/// The messages of a buffer, each as its own slice (split at the lengths in the headers).
fn split(buf: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let len = u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
        let end = (at + len).next_multiple_of(4).min(buf.len());
        out.push(&buf[at..end]);
        at = end;
    }
    out
}

/// A netlink control message (`ty` NLMSG_ERROR or NLMSG_DONE) carrying `code`.
fn control(ty: u16, seq: u32, code: i32) -> Vec<u8> {
    let mut b = Vec::new();
    // NLMSG_ERROR carries the code and the request's header; DONE the code alone.
    let len: u32 = if ty == nl::NLMSG_ERROR { 36 } else { 20 };
    b.extend_from_slice(&len.to_ne_bytes());
    b.extend_from_slice(&ty.to_ne_bytes());
    b.extend_from_slice(&0u16.to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes());
    b.extend_from_slice(&code.to_ne_bytes());
    b.resize(len as usize, 0);
    b
}

#[tokio::test]
async fn issue18_genl_this_kernel_has_nlctrl_and_no_nl80211() {
    let mut s = Socket::open(Duration::from_secs(2)).unwrap();
    assert_eq!(s.family("nlctrl").unwrap(), Some(GENL_ID_CTRL));
    assert_eq!(
        s.family("nl80211").unwrap(),
        None,
        "this test expects a kernel without Wi-Fi (no cfg80211 / mac80211_hwsim)"
    );
    // The same socket keeps working after the kernel's refusal.
    assert_eq!(s.family("nlctrl").unwrap(), Some(GENL_ID_CTRL));
    assert!(nl80211_read::read(true).unwrap().is_none());
    let wifi = WifiReader::default().read(true).await;
    assert!(wifi.ssids.is_empty() && wifi.stations.is_empty() && wifi.survey.is_empty());
    // A dump of the controller's families through the same plumbing: nlctrl among them.
    let dump = s
        .exchange(
            GENL_ID_CTRL,
            genl::NLM_F_DUMP,
            genl::CTRL_CMD_GETFAMILY,
            &Attrs::default(),
            WIDE,
        )
        .unwrap();
    let names: Vec<String> = nl::messages(&dump)
        .unwrap()
        .iter()
        .filter_map(|m| {
            let a = nl::attrs(m.attrs).ok()?;
            let (_, p) = a.iter().find(|(t, _)| *t == genl::CTRL_ATTR_FAMILY_NAME)?;
            Some(String::from_utf8_lossy(p.strip_suffix(&[0]).unwrap_or(p)).into_owned())
        })
        .collect();
    assert!(names.iter().any(|n| n == "nlctrl"), "{names:?}");
    assert!(!names.iter().any(|n| n == "nl80211"), "{names:?}");
}

/// A recorded dump delivered one message per datagram: `More` until NLMSG_DONE, then the
/// messages the decoder reads are the recording's.
#[test]
fn issue18_genl_a_dump_over_several_datagrams_decodes_as_recorded() {
    let (ifaces, stations, surveys, scan) = nl80211_fixture::fixture();
    for (dump, decode) in [(&ifaces, 0), (&stations, 1), (&surveys, 2), (&scan, 3)] {
        let parts = split(dump);
        assert!(parts.len() >= 3, "messages and DONE");
        let mut ex = Exchange::new(1, WIDE);
        for (n, p) in parts.iter().enumerate() {
            let step = ex.feed(p).unwrap();
            let last = n + 1 == parts.len();
            assert_eq!(step, if last { Step::Done } else { Step::More });
        }
        let got = ex.into_replies();
        let want = &dump[..dump.len() - 20];
        assert_eq!(got, want, "the data messages, DONE left out");
        match decode {
            0 => assert_eq!(nl::interfaces(&got).unwrap(), nl::interfaces(dump).unwrap()),
            1 => assert_eq!(nl::stations(&got).unwrap().len(), 3),
            2 => assert_eq!(nl::surveys(&got).unwrap().len(), 2),
            _ => assert_eq!(nl::scan(&got).unwrap().len(), 2),
        }
        // Whole, in one datagram: the same.
        let mut ex = Exchange::new(1, WIDE);
        assert_eq!(ex.feed(dump).unwrap(), Step::Done);
        assert_eq!(ex.into_replies(), want);
    }
}

#[test]
fn issue18_genl_errors_acks_and_bounds() {
    let (_, stations, _, _) = nl80211_fixture::fixture();
    let body = &stations[..stations.len() - 20];
    // An acknowledgement ends a request; a kernel error (negative errno) is an error.
    let mut ex = Exchange::new(9, WIDE);
    assert_eq!(
        ex.feed(&control(nl::NLMSG_ERROR, 9, 0)).unwrap(),
        Step::Done
    );
    let mut ex = Exchange::new(9, WIDE);
    match ex.feed(&control(nl::NLMSG_ERROR, 9, -19)) {
        Err(GenlError::Kernel(19)) => {}
        other => panic!("{other:?}"),
    }
    // A dump cut short by the kernel: the error in NLMSG_DONE after some messages.
    let mut ex = Exchange::new(1, WIDE);
    assert_eq!(ex.feed(body).unwrap(), Step::More);
    match ex.feed(&control(nl::NLMSG_DONE, 1, -4)) {
        Err(GenlError::Kernel(4)) => {}
        other => panic!("{other:?}"),
    }
    // An error message too short to hold its code.
    let mut short = control(nl::NLMSG_ERROR, 9, 0);
    short.truncate(16);
    short[..4].copy_from_slice(&16u32.to_ne_bytes());
    assert!(matches!(
        Exchange::new(9, WIDE).feed(&short),
        Err(GenlError::Malformed(_))
    ));
    // A reply to another request (its sequence number) is refused, not taken as this one's.
    match Exchange::new(2, WIDE).feed(&stations) {
        Err(GenlError::Sequence { want: 2, got: 1 }) => {}
        other => panic!("{other:?}"),
    }
    // Cut anywhere inside a message: malformed, never a panic or a shorter dump.
    for cut in [3, 15, 17, 40, body.len() - 1] {
        assert!(
            matches!(
                Exchange::new(1, WIDE).feed(&body[..cut]),
                Err(GenlError::Malformed(_))
            ),
            "cut at {cut}"
        );
    }
    // A length below the header's.
    let mut bad = body.to_vec();
    bad[..4].copy_from_slice(&8u32.to_ne_bytes());
    assert!(matches!(
        Exchange::new(1, WIDE).feed(&bad),
        Err(GenlError::Malformed(_))
    ));
    // Overrun: replies were lost.
    let mut over = control(nl::NLMSG_DONE, 1, 0);
    over[4..6].copy_from_slice(&genl::NLMSG_OVERRUN.to_ne_bytes());
    assert!(matches!(
        Exchange::new(1, WIDE).feed(&over),
        Err(GenlError::Overrun)
    ));
    // The bounds: three stations against two messages, or against 100 bytes.
    let two = Limits {
        messages: 2,
        bytes: 1 << 20,
    };
    assert!(matches!(
        Exchange::new(1, two).feed(body),
        Err(GenlError::TooMany(2))
    ));
    let small = Limits {
        messages: 100,
        bytes: 100,
    };
    assert!(matches!(
        Exchange::new(1, small).feed(body),
        Err(GenlError::TooLarge(100))
    ));
    // After the end, nothing more is taken.
    let mut ex = Exchange::new(1, WIDE);
    assert_eq!(ex.feed(&stations).unwrap(), Step::Done);
    assert_eq!(ex.feed(body).unwrap(), Step::Done);
    assert_eq!(ex.into_replies(), body);
}

/// The request as netlink(7) lays it out, and the family id read from a NEWFAMILY reply.
#[test]
fn issue18_genl_request_layout_and_family_id() {
    let mut a = Attrs::default();
    a.cstr(genl::CTRL_ATTR_FAMILY_NAME, "nl80211");
    let r = genl::request(
        GENL_ID_CTRL,
        genl::NLM_F_REQUEST | genl::NLM_F_ACK,
        7,
        3,
        1,
        &a,
    );
    assert_eq!(r.len(), 32);
    assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 32);
    assert_eq!(u16::from_ne_bytes(r[4..6].try_into().unwrap()), 16);
    assert_eq!(u16::from_ne_bytes(r[6..8].try_into().unwrap()), 5);
    assert_eq!(u32::from_ne_bytes(r[8..12].try_into().unwrap()), 7);
    assert_eq!(&r[16..20], &[3, 1, 0, 0]);
    assert_eq!(u16::from_ne_bytes(r[20..22].try_into().unwrap()), 12);
    assert_eq!(&r[24..32], b"nl80211\0");
    let reply = Writer::new()
        .message(1, |a| {
            a.cstr(genl::CTRL_ATTR_FAMILY_NAME, "nl80211")
                .u16(genl::CTRL_ATTR_FAMILY_ID, 0x1c);
        })
        .done();
    assert_eq!(genl::family_id(&reply).unwrap(), Some(0x1c));
    assert_eq!(genl::family_id(&[]).unwrap(), None);
}

/// Random generic-netlink messages (command, attributes of random types and payloads).
fn dump() -> impl Strategy<Value = Vec<u8>> {
    let attr = (1u16..300, proptest::collection::vec(any::<u8>(), 0..40));
    let msg = (any::<u8>(), proptest::collection::vec(attr, 0..6));
    proptest::collection::vec(msg, 0..12).prop_map(|msgs| {
        let mut w = Writer::new();
        for (cmd, attrs) in msgs {
            w.message(cmd, |a| {
                for (t, p) in &attrs {
                    a.bytes(*t, p);
                }
            });
        }
        w.done()
    })
}

proptest! {
    /// Split into datagrams at any message boundaries, a dump is taken whole: `Done` at
    /// its end, and the replies are the messages as written.
    #[test]
    fn issue18_genl_dump_round_trip(bytes in dump(), cuts in proptest::collection::vec(any::<bool>(), 0..16)) {
        let msgs = split(&bytes);
        let mut datagrams: Vec<Vec<u8>> = vec![Vec::new()];
        for (n, m) in msgs.iter().enumerate() {
            datagrams.last_mut().unwrap().extend_from_slice(m);
            if cuts.get(n).copied().unwrap_or(false) {
                datagrams.push(Vec::new());
            }
        }
        datagrams.retain(|d| !d.is_empty());
        let mut ex = Exchange::new(1, WIDE);
        let mut steps = Vec::new();
        for d in &datagrams {
            steps.push(ex.feed(d).unwrap());
        }
        prop_assert_eq!(steps.last(), Some(&Step::Done));
        prop_assert!(steps[..steps.len() - 1].iter().all(|s| *s == Step::More));
        let got = ex.into_replies();
        prop_assert_eq!(&got[..], &bytes[..bytes.len() - 20]);
        prop_assert_eq!(nl::messages(&got).unwrap().len(), msgs.len() - 1);
    }

    #[test]
    fn issue18_genl_exchange_never_panics(datagrams in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..4)) {
        let mut ex = Exchange::new(1, Limits { messages: 8, bytes: 512 });
        for d in &datagrams {
            if ex.feed(d).is_err() {
                break;
            }
        }
        let _ = nl::stations(&ex.into_replies());
    }
}
