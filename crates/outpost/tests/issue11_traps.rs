//! Issue 11: the trap receiver's faster path. The read loop now writes each notification
//! straight into its outbox text (`trap/encode.rs`, `trap/pass.rs`) and the store inserts
//! that text as written (`Store::append_encoded`): these tests hold the new text to the old
//! serde path byte for byte, over random notifications, and show the store keeps and
//! publishes it as events. `outpost traps listen` prints from a thread of its own: with
//! its output blocked it drops what does not fit its queue, counts it and says so while it
//! runs and at exit, every datagram accounted for; with output that keeps up it loses none.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use outpost::trap::encode;
use outpost::trap::normalize::{Kind, Notification, Sender, V1Fields};
use outpost::trap::pass::{Body, Format, PassBuilder};
use outpost_core::{CoreMetrics, EncodedEvents, EventIds, OutboxItem, Store, StoreConfig};
use outpost_snmp::mib::Mib;
use outpost_snmp::{Oid, Value, VarBind};
use outpost_test_support::snmp_values::{self, named_oid, text_bytes};
use proptest::prelude::*;
use serde_json::Value as Json;

fn mib() -> &'static Mib {
    static M: std::sync::OnceLock<Mib> = std::sync::OnceLock::new();
    M.get_or_init(Mib::builtin)
}

// ---------------------------------------------------------------------------------------
// Random notifications

/// OIDs: random arcs, or under prefixes the built-in MIB names (so names are exercised).
fn oid() -> impl Strategy<Value = Oid> {
    named_oid()
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    text_bytes()
}

fn value() -> impl Strategy<Value = Value> {
    snmp_values::value(
        oid(),
        bytes(),
        prop_oneof![
            bytes(),
            any::<[u8; 4]>().prop_map(|f| [&[0x9f, 0x78, 4][..], &f].concat()),
            any::<[u8; 8]>().prop_map(|d| [&[0x9f, 0x79, 8][..], &d].concat()),
        ],
    )
}

fn source() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        any::<SocketAddr>(),
        (any::<u128>(), any::<u16>(), any::<u32>()).prop_map(|(ip, port, scope)| {
            SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, scope))
        }),
    ]
}

fn sender() -> impl Strategy<Value = Sender> {
    prop_oneof![
        bytes().prop_map(|c| Sender::Community(c.into())),
        (
            "[ -~\"\\\\\n\u{0}é]{0,12}",
            prop::collection::vec(any::<u8>(), 0..12),
            prop::sample::select(vec!["noAuthNoPriv", "authNoPriv", "authPriv"]),
            bytes(),
        )
            .prop_map(|(name, engine_id, level, context_name)| Sender::User {
                name,
                engine_id,
                level,
                context_name,
            }),
    ]
}

fn v1() -> impl Strategy<Value = Option<V1Fields>> {
    prop::option::of(
        (
            oid(),
            any::<[u8; 4]>(),
            any::<i32>(),
            any::<i32>(),
            any::<u32>(),
        )
            .prop_map(
                |(enterprise, agent_addr, generic_trap, specific_trap, timestamp)| V1Fields {
                    enterprise,
                    agent_addr,
                    generic_trap,
                    specific_trap,
                    timestamp,
                },
            ),
    )
}

prop_compose! {
    fn notification()(
        inform in any::<bool>(),
        source in source(),
        version in prop::sample::select(vec!["1", "2c", "3"]),
        sender in sender(),
        v1 in v1(),
        trap_oid in prop::option::of(oid()),
        uptime in prop::option::of(any::<u32>()),
        request_id in prop::option::of(any::<i32>()),
        varbinds in prop::collection::vec((oid(), value()), 0..6),
    ) -> Notification {
        Notification {
            kind: if inform { Kind::Inform } else { Kind::Trap },
            source,
            version,
            sender,
            v1,
            trap_oid,
            uptime,
            request_id,
            varbinds: varbinds.into_iter().map(|(o, v)| VarBind::new(o, v)).collect(),
        }
    }
}

/// The old path's `traps listen --json` line (a `serde_json::json!` tree), as a value.
fn old_json_line(n: &Notification) -> Json {
    let payload = n.payload_named(Some(mib()));
    serde_json::json!({ "kind": n.kind.event_kind(), "payload": &*payload })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// The payload written straight from the notification is the serde payload, byte for
    /// byte, with and without MIB names; `--json` lines hold the same value as before.
    #[test]
    fn issue11_direct_payload_equals_the_serde_payload(n in notification(), named in any::<bool>()) {
        let m = named.then(mib);
        let mut text = String::from("prefix ");
        encode::payload(&mut text, &n, m);
        let old = n.payload_named(m);
        prop_assert_eq!(&text["prefix ".len()..], old.get());

        let mut line = String::new();
        encode::json_line(&mut line, &n, Some(mib()));
        prop_assert!(line.ends_with('\n') && line.matches('\n').count() == 1, "{}", line);
        let parsed: Json = serde_json::from_str(&line).unwrap();
        prop_assert_eq!(parsed, old_json_line(&n));
    }

    /// A whole pass built by the read loop's builder for the store: each body is the outbox
    /// text serde writes for an event carrying the old payload, with the pass's time and
    /// increasing ids.
    #[test]
    fn issue11_pass_bodies_equal_serialized_events(
        ns in prop::collection::vec(notification(), 1..6),
        named in any::<bool>(),
    ) {
        let m = named.then(|| Arc::new(Mib::builtin()));
        let expected: Vec<(&str, String)> = ns
            .iter()
            .map(|n| (n.kind.event_kind(), n.payload_named(m.as_deref()).get().to_owned()))
            .collect();
        let mut b = PassBuilder::new(Format::Store { mib: m.clone(), ids: EventIds::new() }, false);
        for n in ns {
            b.add(Box::new(n), None);
        }
        let pass = b.take().unwrap();
        prop_assert_eq!(pass.count, expected.len());
        let Body::Events(events) = pass.body else { panic!("a store pass holds events") };
        let mut last = None;
        for (body, (kind, payload)) in events.bodies().zip(&expected) {
            let event = EncodedEvents::event(body).unwrap();
            prop_assert_eq!(event.kind.as_str(), *kind);
            prop_assert_eq!(event.payload.get(), payload.as_str());
            let serialized = serde_json::to_string(&OutboxItem::Event(event.clone())).unwrap();
            prop_assert_eq!(body, serialized.as_str());
            prop_assert!(last < Some(event.id));
            last = Some(event.id);
        }
    }
}

/// The store keeps pre-encoded events as events: read back from the outbox and published
/// to a live reader, equal to what was encoded; `append_events` and `append_encoded` rows
/// interleave in one sequence.
#[tokio::test]
async fn issue11_store_keeps_and_publishes_encoded_events() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(
        StoreConfig::new(dir.path().join("s.db")),
        CoreMetrics::default(),
    )
    .unwrap();
    let mut live = store.subscribe();
    let mut ids = EventIds::new();
    ids.stamp();
    let mut batch = EncodedEvents::new();
    // 70 events: two full multi-row statements (32 each) and 6 single rows.
    let shapes = [r#"{"a":1}"#, r#"{"b":"x\"y","c":[true,null]}"#, "[]"];
    const N: usize = 70;
    for i in 0..N {
        let p = shapes[i % shapes.len()];
        batch.push(&mut ids, "snmp.trap", |out| {
            out.push_str(&format!("{{\"i\":{i},\"p\":{p}}}"))
        });
    }
    let expected: Vec<_> = batch
        .bodies()
        .map(|b| EncodedEvents::event(b).unwrap())
        .collect();
    let before = store
        .append_events(vec![outpost_core::Event::new("x", serde_json::json!(1))])
        .await
        .unwrap();
    let last = store.append_encoded(batch).await.unwrap();
    assert_eq!(last, before[0] + N as u64);
    assert_eq!(store.append_encoded(EncodedEvents::new()).await.unwrap(), 0);

    let rows = store.outbox_after(before[0], 100).await.unwrap();
    assert_eq!(rows.len(), N);
    let _first = live.recv().await.unwrap();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.seq, before[0] + 1 + i as u64);
        assert_eq!(row.item, OutboxItem::Event(expected[i].clone()));
        let published = live.recv().await.unwrap();
        assert_eq!(*published, *row);
    }
    store.close().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// `outpost traps listen`

/// A running `outpost traps listen` with its stderr collected by a thread.
struct Listener {
    child: Child,
    port: u16,
    err: Arc<Mutex<Vec<String>>>,
}

impl Listener {
    fn start() -> Listener {
        let (child, port, err) = common::traps_listen(&[]);
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for l in err.lines() {
                let Ok(l) = l else { break };
                sink.lock().unwrap().push(l);
            }
        });
        Listener {
            child,
            port,
            err: lines,
        }
    }

    /// Waits (up to `deadline`) for a stderr line `pred` accepts.
    fn wait_err(&self, deadline: Duration, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + deadline;
        loop {
            if let Some(l) = self.err.lock().unwrap().iter().find(|l| pred(l)) {
                return l.clone();
            }
            assert!(
                Instant::now() < end,
                "no such line on stderr within {deadline:?}: {:?}",
                self.err.lock().unwrap()
            );
            std::thread::park_timeout(Duration::from_millis(20));
        }
    }

    fn terminate(&self) {
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(self.child.id() as i32).unwrap(),
            rustix::process::Signal::TERM,
        )
        .unwrap();
    }
}

/// `N accepted, M dropped (reason n, ...)` parsed: (accepted, dropped, by reason).
fn summary(line: &str) -> (u64, u64, Vec<(String, u64)>) {
    let body = line.trim_start_matches("outpost traps: ");
    let body = body.trim_end_matches(" so far");
    let mut words = body.split_whitespace();
    let accepted: u64 = words.next().unwrap().parse().unwrap();
    assert_eq!(words.next(), Some("accepted,"), "{line}");
    let dropped: u64 = words.next().unwrap().parse().unwrap();
    let reasons = match (body.find('('), body.rfind(')')) {
        (Some(a), Some(b)) => body[a + 1..b]
            .split(", ")
            .map(|p| {
                let (r, n) = p.rsplit_once(' ').unwrap();
                (r.to_string(), n.parse().unwrap())
            })
            .collect(),
        _ => Vec::new(),
    };
    assert_eq!(
        reasons.iter().map(|(_, n)| n).sum::<u64>(),
        dropped,
        "{line}"
    );
    (accepted, dropped, reasons)
}

fn reason(reasons: &[(String, u64)], name: &str) -> u64 {
    reasons
        .iter()
        .find(|(r, _)| r == name)
        .map_or(0, |(_, n)| *n)
}

/// Output blocked (stdout a pipe nobody reads): the writer thread stalls, the queue
/// (65,536) fills, and the read loop goes on reading, dropping what does not fit as
/// `queue_full`. The drops are said on stderr while it runs; at exit every datagram sent
/// is printed or counted as dropped, and as many lines were printed as it says accepted.
#[test]
fn issue11_traps_listen_counts_and_shows_drops_when_its_output_is_blocked() {
    let mut l = Listener::start();
    let dest = format!("127.0.0.1:{}", l.port);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let packets: Vec<Vec<u8>> = (0..64).map(|i| common::v2c_trap("public", i + 1)).collect();
    // Paced at about 50k/s (bursts of 250 every 5 ms) so the listener reads what is sent
    // and the drops come from its queue, until it says so on stderr.
    let is_queue_drop = |s: &str| s.ends_with(" so far") && s.contains("queue_full");
    let mut sent = 0usize;
    while !l.err.lock().unwrap().iter().any(|s| is_queue_drop(s)) {
        assert!(
            sent < 400_000,
            "no queue_full drop said after {sent} traps: {:?}",
            l.err.lock().unwrap()
        );
        for _ in 0..250 {
            sock.send_to(&packets[sent % packets.len()], &dest).unwrap();
            sent += 1;
        }
        std::thread::park_timeout(Duration::from_millis(5));
    }
    let running = l.wait_err(Duration::from_secs(1), is_queue_drop);
    let (_, dropped_then, reasons) = summary(&running);
    assert!(reason(&reasons, "queue_full") > 0, "{running}");
    assert!(dropped_then > 0);

    l.terminate();
    // Unblock the output only now, and count what was printed.
    let mut out = String::new();
    l.child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(l.child.wait().unwrap().success());
    let last = l.wait_err(Duration::from_secs(10), |s| {
        s.contains(" accepted, ") && !s.ends_with(" so far")
    });
    let (accepted, dropped, reasons) = summary(&last);
    let printed = out.lines().count() as u64;
    assert_eq!(printed, accepted, "{last}");
    assert!(out.lines().all(|l| l.starts_with("UDP: [127.0.0.1]:")));
    assert_eq!(accepted + dropped, sent as u64, "{last}");
    assert!(reason(&reasons, "queue_full") > 0, "{last}");
    // Only the queue and the kernel (socket buffer full while the machine is busy) drop.
    assert_eq!(
        reason(&reasons, "queue_full") + reason(&reasons, "kernel"),
        dropped,
        "{last}"
    );
    assert!(accepted >= 65_536, "the queue's worth at least: {last}");
}

/// Output that keeps up: sent in bursts of 1,000, each printed before the next is sent
/// (so the socket buffer never overflows), 20,000 traps come out as 20,000 lines, one per
/// trap in the order sent, and the listener says it dropped none.
#[test]
fn issue11_traps_listen_prints_every_trap_when_its_output_keeps_up() {
    let mut l = Listener::start();
    let dest = format!("127.0.0.1:{}", l.port);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut out = BufReader::new(l.child.stdout.take().unwrap());
    let mut seen = Vec::new();
    let mut line = String::new();
    for burst in 0..20 {
        for i in 0..1000 {
            sock.send_to(&common::v2c_trap("public", burst * 1000 + i + 1), &dest)
                .unwrap();
        }
        while seen.len() < (burst as usize + 1) * 1000 {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "output ended early");
            let uptime: u32 = line
                .split(" uptime=")
                .nth(1)
                .and_then(|r| r.split(':').next())
                .unwrap()
                .parse()
                .unwrap();
            seen.push(uptime);
        }
    }
    let want: Vec<u32> = (1..=20_000).collect();
    assert_eq!(seen, want);
    l.terminate();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "");
    assert!(l.child.wait().unwrap().success());
    let last = l.wait_err(Duration::from_secs(10), |s| s.contains(" accepted, "));
    assert_eq!(summary(&last), (20_000, 0, vec![]), "{last}");
}
