//! Issue 10, item 2: SNMP over TCP reports what happened to the connection. Refused,
//! unreachable, reset and closed are their own errors, worded as net-snmp words them, and
//! fail at once as `snmpget` 5.9.3 does (it retries none of them); only silence is
//! retried, each attempt after its full timeout. Against a real snmpd, a closed port, and
//! small TCP peers that reset or close.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use outpost_snmp::engine::{Engine, EngineConfig, TargetConfig};
use outpost_snmp::{Oid, Security, SnmpError};
use outpost_test_support::snmpd::v2c_session;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

fn sys_descr() -> Oid {
    ".1.3.6.1.2.1.1.1.0".parse().unwrap()
}

/// A v2c session with a long per-attempt timeout and several retries, so spending them
/// (the defect) would show in the elapsed time.
async fn session(engine: &Engine, target: &str) -> outpost_snmp::Session {
    let mut c = TargetConfig::new(target.parse().unwrap(), Security::v2c("public"));
    c.timeout = Duration::from_secs(2);
    c.retries = 3;
    engine.session(c).await.unwrap()
}

/// net-snmp's `snmpget` against `target`: (exit code, stderr). It must exist (no skip).
async fn snmpget_fails(target: &str) -> (i32, String) {
    let out = tokio::process::Command::new("snmpget")
        .args(["-v2c", "-c", "public", "-t", "2", "-r", "3", "-On", target])
        .arg(".1.3.6.1.2.1.1.1.0")
        .env("MIBS", "")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("snmpget must be installed: run scripts/deps/20-snmp.sh");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A loopback TCP port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn issue10_tcp_refused_fails_fast_with_its_own_error_as_net_snmp_does() {
    let target = format!("tcp:127.0.0.1:{}", closed_port());
    let engine = Engine::new(EngineConfig::default()).await.unwrap();
    let s = session(&engine, &target).await;
    let t0 = Instant::now();
    let e = s.get(&[sys_descr()]).await.unwrap_err();
    let took = t0.elapsed();
    assert!(
        matches!(e, SnmpError::ConnectionRefused { .. }),
        "{e:?}: {e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("(Connection refused)") && msg.contains(&target),
        "{msg}"
    );
    assert!(!msg.contains("community"), "no wrong-community hint: {msg}");
    // Not one per-attempt timeout waited, no request counted as sent or timed out.
    assert!(took < Duration::from_secs(1), "took {took:?}");
    let st = engine.stats();
    assert_eq!((st.requests_sent, st.timeouts), (0, 0), "{st:?}");

    // net-snmp says the same reason, and fails as fast.
    let t0 = Instant::now();
    let (code, err) = snmpget_fails(&target).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("(Connection refused)"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(1));
}

/// Linux refuses a TCP connect to the broadcast address with ENETUNREACH on any host,
/// so "unreachable" needs no routing changes to be seen.
#[tokio::test]
async fn issue10_tcp_unreachable_is_its_own_error_as_net_snmp_words_it() {
    let target = "tcp:255.255.255.255:161";
    let engine = Engine::new(EngineConfig::default()).await.unwrap();
    let s = session(&engine, target).await;
    let t0 = Instant::now();
    let e = s.get(&[sys_descr()]).await.unwrap_err();
    assert!(matches!(e, SnmpError::Unreachable { .. }), "{e:?}: {e}");
    assert!(t0.elapsed() < Duration::from_secs(1));
    let (code, err) = snmpget_fails(target).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("(Network is unreachable)")
            && e.to_string().contains("(Network is unreachable)"),
        "net-snmp: {err}; ours: {e}"
    );
}

/// A TCP peer that reads each request, then ends the connection: with a reset
/// (`SO_LINGER` 0) or an orderly close. Returns its address and a count of connections.
async fn hanging_up_peer(reset: bool) -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    let count = n.clone();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let mut buf = vec![0u8; 65536];
            let _ = c.read(&mut buf).await;
            if reset {
                // A zero linger turns the close into a reset; no data is pending, so the
                // close does not block.
                socket2::SockRef::from(&c)
                    .set_linger(Some(Duration::ZERO))
                    .unwrap();
            }
            drop(c);
        }
    });
    (format!("tcp:{addr}"), n)
}

#[tokio::test]
async fn issue10_tcp_reset_and_close_before_a_reply_are_their_own_errors() {
    for reset in [true, false] {
        let (target, conns) = hanging_up_peer(reset).await;
        let engine = Engine::new(EngineConfig::default()).await.unwrap();
        let s = session(&engine, &target).await;
        let t0 = Instant::now();
        let e = s.get(&[sys_descr()]).await.unwrap_err();
        let took = t0.elapsed();
        if reset {
            assert!(matches!(e, SnmpError::ConnectionReset { .. }), "{e:?}");
            assert!(e.to_string().contains("(Connection reset by peer)"), "{e}");
        } else {
            assert!(matches!(e, SnmpError::ConnectionClosed { .. }), "{e:?}");
            assert!(e.to_string().contains("closed by the agent"), "{e}");
        }
        // One request on one fresh connection; the agent's answer is final, as with
        // net-snmp ("Failure in sendto (Connection reset by peer)", "Session abort failure").
        assert!(took < Duration::from_secs(1), "{reset}: took {took:?}");
        assert_eq!(engine.stats().requests_sent, 1);
        assert_eq!(conns.load(Ordering::SeqCst), 1);
    }
}

/// A proxy in front of a real snmpd's TCP port that relays one request and its reply per
/// connection, then closes it, as an agent closing idle connections would. Returns its
/// target and a count of connections.
async fn one_shot_proxy(upstream: u16) -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let n = Arc::new(AtomicUsize::new(0));
    let count = n.clone();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut up = TcpStream::connect(("127.0.0.1", upstream)).await.unwrap();
                let mut buf = vec![0u8; 65536];
                let n = c.read(&mut buf).await.unwrap();
                up.write_all(&buf[..n]).await.unwrap();
                let n = up.read(&mut buf).await.unwrap();
                c.write_all(&buf[..n]).await.unwrap();
                // Orderly close once the reply is out.
            });
        }
    });
    (format!("tcp:{addr}"), n)
}

#[tokio::test]
async fn issue10_tcp_connection_closed_while_idle_is_reopened_without_a_retry() {
    let d = Snmpd::start().await;
    let (target, conns) = one_shot_proxy(d.port).await;
    let engine = Engine::new(EngineConfig::default()).await.unwrap();
    let s = session(&engine, &target).await;
    let theirs = netsnmp(
        "snmpget",
        &[
            "-v2c",
            "-c",
            "public",
            "-On",
            &d.tcp(),
            ".1.3.6.1.2.1.1.5.0",
        ],
    )
    .await;
    for _ in 0..3 {
        let vbs = s
            .get(&[".1.3.6.1.2.1.1.5.0".parse().unwrap()])
            .await
            .unwrap();
        assert_eq!(format!("{}\n", vbs[0]), theirs);
    }
    // Each later get found the cached connection closed, reopened it and got its reply:
    // no attempt spent, no retransmission, no timeout.
    let st = engine.stats();
    assert_eq!(
        (st.retransmits, st.timeouts, st.responses_accepted),
        (0, 0, 3),
        "{st:?}"
    );
    assert_eq!(conns.load(Ordering::SeqCst), 3);
}

/// Silence is the one thing retried, and each retry waits its timeout (the defect spent
/// every retry at once).
#[tokio::test]
async fn issue10_tcp_silence_is_retried_each_after_its_timeout() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = l.accept().await {
            held.push(c); // accepted, read by nobody, never answered
        }
    });
    let (engine, s) = v2c_session(
        &format!("tcp:{addr}"),
        "public",
        Duration::from_millis(300),
        2,
    )
    .await;
    let t0 = Instant::now();
    let e = s.get(&[sys_descr()]).await.unwrap_err();
    let took = t0.elapsed();
    assert!(matches!(e, SnmpError::Timeout { attempts: 3, .. }), "{e:?}");
    assert!(took >= Duration::from_millis(900), "took {took:?}");
    let st = engine.stats();
    assert_eq!(
        (st.requests_sent, st.retransmits, st.timeouts),
        (3, 2, 1),
        "{st:?}"
    );
}
