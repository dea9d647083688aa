//! The ICMP suites' own test peer: a raw-socket echo responder running on a thread inside a
//! namespace whose kernel echo replies are off, so the test decides exactly which requests
//! get answered (deterministic loss, since `tc netem` is not available) and what hostile
//! packets come back. Namespaces and veth pairs come from `outpost_test_support::netns`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use outpost_icmp::codec::{self, Echo, Family, Message};
use outpost_test_support::netns::Netns;
use socket2::{Domain, Protocol, Socket, Type};

pub use outpost_test_support::netns;

/// What the responder does with each echo request.
#[derive(Clone, Copy)]
pub enum Behaviour {
    /// Answers request number `i` (0-based, in arrival order) unless `i % every == 0`.
    DropEvery(u64),
    /// Before the genuine reply: a reply with another identifier, a reply with a bad
    /// checksum, a truncated "time exceeded", a reply with a flipped cookie byte, a "host
    /// unreachable" quoting the probe with a flipped cookie, one with its payload cut to 10 bytes, and the genuine
    /// reply from `alt_source` (another address of the responder); after it, the genuine
    /// reply twice more (replays).
    Hostile { alt_source: IpAddr },
}

pub struct Responder {
    stop: Arc<AtomicBool>,
    pub requests: Arc<AtomicU64>,
    pub answered: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn raw(family: Family, bind: Option<IpAddr>) -> UdpSocket {
    let (d, p) = match family {
        Family::V4 => (Domain::IPV4, Protocol::ICMPV4),
        Family::V6 => (Domain::IPV6, Protocol::ICMPV6),
    };
    let s = Socket::new(d, Type::RAW, Some(p)).expect("raw ICMP socket (run as root)");
    if let Some(a) = bind {
        s.bind(&SocketAddr::new(a, 0).into()).unwrap();
    }
    let s: UdpSocket = s.into();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    s
}

/// Turns the kernel's own echo replies off in `ns` (both families).
pub fn silence_kernel(ns: &Netns) {
    ns.sysctl("net.ipv4.icmp_echo_ignore_all", "1");
    ns.sysctl("net.ipv6.icmp.echo_ignore_all", "1");
}

/// Starts a responder for `family` inside `ns` (call [`silence_kernel`] first).
pub fn respond(ns: &Netns, family: Family, behaviour: Behaviour) -> Responder {
    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));
    let ready = Arc::new(AtomicBool::new(false));
    let (s2, r2, a2, ready2) = (
        stop.clone(),
        requests.clone(),
        answered.clone(),
        ready.clone(),
    );
    let ns_handle = ns.borrow();
    let thread = std::thread::spawn(move || {
        ns_handle.enter();
        let sock = raw(family, None);
        let alt = match behaviour {
            Behaviour::Hostile { alt_source } => Some(raw(family, Some(alt_source))),
            Behaviour::DropEvery(_) => None,
        };
        ready2.store(true, Ordering::Release);
        let mut buf = vec![0u8; 65536];
        while !s2.load(Ordering::Relaxed) {
            let (n, from) = match sock.recv_from(&mut buf) {
                Ok(x) => x,
                Err(e) => {
                    if !matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) {
                        eprintln!("responder recv: {e}");
                    }
                    continue;
                }
            };

            let mut bytes = &buf[..n];
            if family == Family::V4 {
                bytes = &bytes[codec::ipv4_header_len(bytes).unwrap()..];
            }
            let Ok(Message::EchoRequest(e)) = codec::decode(family, bytes) else {
                continue;
            };
            let i = r2.fetch_add(1, Ordering::Relaxed);
            let reply = |e: &Echo| codec::encode(family, &Message::EchoReply(e.clone()));
            let genuine = reply(&e);
            match behaviour {
                Behaviour::DropEvery(k) => {
                    if i % k == 0 {
                        continue;
                    }
                    sock.send_to(&genuine, from).unwrap();
                }
                Behaviour::Hostile { .. } => {
                    let mut foreign = e.clone();
                    foreign.ident ^= 0x5555;
                    sock.send_to(&reply(&foreign), from).unwrap();
                    // Malformed: a bad checksum, and a "time exceeded" whose quote is cut
                    // (the kernel never hands a raw socket less than 8 bytes of ICMP).
                    let mut bad_sum = genuine.clone();
                    bad_sum[2] ^= 0x01;
                    sock.send_to(&bad_sum, from).unwrap();
                    sock.send_to(&cut_quote(&e), from).unwrap();
                    let mut cookie = e.clone();
                    cookie.payload[0] ^= 0xff;
                    sock.send_to(&reply(&cookie), from).unwrap();
                    sock.send_to(&forged_unreachable(&e), from).unwrap();
                    let mut cut = e.clone();
                    cut.payload.truncate(10);
                    sock.send_to(&reply(&cut), from).unwrap();
                    alt.as_ref().unwrap().send_to(&genuine, from).unwrap();
                    sock.send_to(&genuine, from).unwrap();
                    sock.send_to(&genuine, from).unwrap();
                    sock.send_to(&genuine, from).unwrap();
                }
            }
            a2.fetch_add(1, Ordering::Relaxed);
        }
    });
    outpost_test_support::wait::wait_until(
        "the responder's socket",
        Duration::from_secs(5),
        || ready.load(Ordering::Acquire),
    );
    Responder {
        stop,
        requests,
        answered,
        thread: Some(thread),
    }
}

/// A v4 "host unreachable" for the probe `e`, quoting its payload with the cookie
/// flipped: what an attacker who guessed the identifier and sequence would send.
fn forged_unreachable(e: &Echo) -> Vec<u8> {
    let mut b = codec::encode(
        Family::V4,
        &Message::Unreachable {
            code: 1,
            quoted: codec::Quoted {
                destination: "10.1.0.2".parse().unwrap(),
                ident: e.ident,
                seq: e.seq,
            },
        },
    );
    let mut payload = e.payload.clone();
    payload[0] ^= 0xff;
    b.extend_from_slice(&payload);
    b[2] = 0;
    b[3] = 0;
    let sum = codec::checksum(&b).to_be_bytes();
    b[2..4].copy_from_slice(&sum);
    b
}

/// A v4 "time exceeded" quoting only 10 bytes of the probe's IP header, checksum valid.
fn cut_quote(e: &Echo) -> Vec<u8> {
    let full = codec::encode(
        Family::V4,
        &Message::TimeExceeded {
            code: 0,
            quoted: codec::Quoted {
                destination: "10.1.0.2".parse().unwrap(),
                ident: e.ident,
                seq: e.seq,
            },
        },
    );
    let mut cut = full[..18].to_vec();
    cut[2] = 0;
    cut[3] = 0;
    let sum = codec::checksum(&cut).to_be_bytes();
    cut[2..4].copy_from_slice(&sum);
    cut
}

/// Drops CAP_NET_RAW from the calling thread (effective and permitted), as an agent
/// without the capability would run.
pub fn drop_net_raw() {
    use rustix::thread::{capabilities, set_capabilities, CapabilitySet};
    let mut caps = capabilities(None).unwrap();
    caps.effective.remove(CapabilitySet::NET_RAW);
    caps.permitted.remove(CapabilitySet::NET_RAW);
    set_capabilities(None, caps).unwrap();
}
