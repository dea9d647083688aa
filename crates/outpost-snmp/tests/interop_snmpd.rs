//! Interop with a real net-snmp snmpd: our walks equal `snmpbulkwalk -On`
//! (see `common::assert_walks_match` for exactly what "equal" means on a
//! live host), and each failure mode gives its own error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use outpost_snmp::engine::{Engine, EngineConfig};
use outpost_snmp::security::Security;
use outpost_snmp::{Oid, SnmpError, Value, VarBind, WalkMode};

async fn our_walk(addr: &str, security: Security, mode: WalkMode) -> String {
    let engine = Engine::new(EngineConfig::default()).await.unwrap();
    let s = engine.session(target(addr, security)).await.unwrap();
    let mut out = String::new();
    let summary = s
        .walk_each(&".1".parse().unwrap(), mode, |vb| {
            out.push_str(&vb.to_string());
            out.push('\n');
        })
        .await
        .unwrap();
    if summary.end_of_mib {
        out.push_str("End of MIB\n");
    }
    out
}

/// Walks with both and compares. The host may change between the two walks
/// (another process adds an interface or a mount), so a mismatch is retried
/// twice with fresh walks; a real difference in our output fails all three.
async fn check_bulkwalk(addr: &str, security: Security, netsnmp_auth: &[String]) {
    let mut args: Vec<&str> = netsnmp_auth.iter().map(String::as_str).collect();
    args.extend(["-On", "-Cr10", addr, ".1"]);
    let mut last = String::new();
    for _ in 0..3 {
        let ours = our_walk(addr, security.clone(), WalkMode::Bulk(10)).await;
        let theirs = netsnmp("snmpbulkwalk", &args).await;
        match walks_match(&ours, &theirs) {
            Ok(()) => return,
            Err(e) => last = e,
        }
    }
    panic!("{last}");
}

fn v2c() -> Vec<String> {
    vec!["-v2c".into(), "-c".into(), "public".into()]
}

#[tokio::test]
async fn walk_v1_matches_snmpwalk() {
    let d = Snmpd::start().await;
    let mut last = String::new();
    for _ in 0..3 {
        let ours = our_walk(&d.udp(), Security::v1("public"), WalkMode::GetNext).await;
        let theirs = netsnmp("snmpwalk", &["-v1", "-c", "public", "-On", &d.udp(), ".1"]).await;
        match walks_match(&ours, &theirs) {
            Ok(()) => return,
            Err(e) => last = e,
        }
    }
    panic!("{last}");
}

#[tokio::test]
async fn walk_v2c_matches_snmpbulkwalk() {
    let d = Snmpd::start().await;
    check_bulkwalk(&d.udp(), Security::v2c("public"), &v2c()).await;
}

#[tokio::test]
async fn walk_v3_auth_no_priv_matches() {
    let d = Snmpd::start().await;
    check_bulkwalk(&d.udp(), v3_security("authonly"), &v3_args("authonly")).await;
}

#[tokio::test]
async fn walk_v3_sha_aes_matches() {
    let d = Snmpd::start().await;
    check_bulkwalk(&d.udp(), v3_security("probeuser"), &v3_args("probeuser")).await;
}

#[tokio::test]
async fn walk_v3_sha256_aes256_matches() {
    let d = Snmpd::start().await;
    check_bulkwalk(&d.udp(), v3_security("probe256"), &v3_args("probe256")).await;
}

#[tokio::test]
async fn walk_ipv6_matches() {
    let d = Snmpd::start().await;
    check_bulkwalk(&d.udp6(), Security::v2c("public"), &v2c()).await;
}

#[tokio::test]
async fn walk_tcp_matches() {
    let d = Snmpd::start().await;
    check_bulkwalk(&d.tcp(), Security::v2c("public"), &v2c()).await;
}

/// Every auth/priv pair against the agent, compared with net-snmp's snmpget.
/// Includes SHA-1 with AES-256, which needs net-snmp's key extension.
#[tokio::test]
async fn every_v3_protocol_pair_gets() {
    let d = Snmpd::start().await;
    let engine = Engine::new(EngineConfig::default()).await.unwrap();
    let oids: Vec<Oid> = [
        ".1.3.6.1.2.1.1.1.0",
        ".1.3.6.1.2.1.1.5.0",
        ".1.3.6.1.2.1.1.6.0",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    for (user, _, _) in USERS {
        let s = engine
            .session(target(&d.udp(), v3_security(user)))
            .await
            .unwrap();
        let ours: String = s
            .get(&oids)
            .await
            .unwrap()
            .iter()
            .map(|v| format!("{v}\n"))
            .collect();
        let mut args: Vec<String> = v3_args(user);
        args.extend(["-On".into(), d.udp()]);
        args.extend(oids.iter().map(|o| o.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(ours, netsnmp("snmpget", &args).await, "user {user}");
    }
}

#[tokio::test]
async fn set_then_get() {
    let d = Snmpd::start().await;
    let engine = Engine::new(EngineConfig::default()).await.unwrap();
    let s = engine
        .session(target(&d.udp(), Security::v2c("private")))
        .await
        .unwrap();
    let oid: Oid = ".1.3.6.1.2.1.1.4.0".parse().unwrap();
    let v = Value::OctetString(b"noc@example.net".to_vec());
    s.set(&[VarBind::new(oid.clone(), v.clone())])
        .await
        .unwrap();
    let got = s.get(&[oid]).await.unwrap();
    assert_eq!(got[0].value, v);
}

#[tokio::test]
async fn wrong_community_times_out_and_says_so() {
    let d = Snmpd::start().await;
    let engine = Engine::new(EngineConfig::default()).await.unwrap();
    let mut cfg = target(&d.udp(), Security::v2c("not-the-community"));
    cfg.timeout = Duration::from_millis(200);
    cfg.retries = 1;
    let s = engine.session(cfg).await.unwrap();
    let err = s
        .get(&[".1.3.6.1.2.1.1.5.0".parse().unwrap()])
        .await
        .unwrap_err();
    assert!(
        matches!(err, SnmpError::Timeout { attempts: 2, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("wrong community"), "{text}");
    assert!(
        !text.contains("not-the-community"),
        "community leaked: {text}"
    );
}

#[tokio::test]
async fn wrong_password_is_wrong_digest() {
    let d = Snmpd::start().await;
    let engine = Engine::new(EngineConfig::default()).await.unwrap();
    let user = outpost_snmp::UsmUser::new(
        "probeuser",
        Some((
            outpost_snmp::AuthProtocol::Sha1,
            "wrongpass99".to_string().into(),
        )),
        Some((
            outpost_snmp::PrivProtocol::Aes128,
            common::PRIV_PASS.to_string().into(),
        )),
    )
    .unwrap();
    let s = engine
        .session(target(&d.udp(), Security::Usm(std::sync::Arc::new(user))))
        .await
        .unwrap();
    let err = s
        .get(&[".1.3.6.1.2.1.1.5.0".parse().unwrap()])
        .await
        .unwrap_err();
    assert!(matches!(err, SnmpError::WrongDigest), "{err:?}");
    assert!(!err.to_string().contains("wrongpass99"));
}

#[tokio::test]
async fn unknown_user_is_reported() {
    let d = Snmpd::start().await;
    let engine = Engine::new(EngineConfig::default()).await.unwrap();
    let user = outpost_snmp::UsmUser::new(
        "nosuchuser",
        Some((
            outpost_snmp::AuthProtocol::Sha1,
            common::AUTH_PASS.to_string().into(),
        )),
        None,
    )
    .unwrap();
    let s = engine
        .session(target(&d.udp(), Security::Usm(std::sync::Arc::new(user))))
        .await
        .unwrap();
    let err = s
        .get(&[".1.3.6.1.2.1.1.5.0".parse().unwrap()])
        .await
        .unwrap_err();
    assert!(matches!(err, SnmpError::UnknownUser), "{err:?}");
}

#[tokio::test]
async fn silent_target_times_out() {
    // A bound socket that never answers: a dead device.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let engine = Engine::new(EngineConfig::default()).await.unwrap();
    let mut cfg = target(&addr, common::v3_security("probeuser"));
    cfg.timeout = Duration::from_millis(100);
    cfg.retries = 2;
    let s = engine.session(cfg).await.unwrap();
    let started = std::time::Instant::now();
    let err = s
        .get(&[".1.3.6.1.2.1.1.5.0".parse().unwrap()])
        .await
        .unwrap_err();
    assert!(
        matches!(err, SnmpError::Timeout { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(engine.stats().timeouts, 1);
}

/// The comparison itself must catch a real difference, or the walk tests
/// above prove nothing.
#[test]
fn comparison_catches_differences() {
    let mut base = String::new();
    for i in 1..=200 {
        base.push_str(&format!(".1.3.6.1.2.1.99.{i}.0 = STRING: \"v{i}\"\n"));
    }
    base.push_str(
        ".1.3.6.1.2.1.99.300.0 = Counter32: 5\n.1.3.6.1.2.1.99.301.0 = Hex-STRING: 00 01 \n02 \n",
    );
    assert!(walks_match(&base, &base).is_ok());
    let counter_moved = base.replace("Counter32: 5", "Counter32: 9");
    assert!(
        walks_match(&counter_moved, &base).is_ok(),
        "counters may move"
    );
    for broken in [
        base.replace("\"v17\"", "\"v17 \""),
        base.replace("Counter32: 5", "Gauge32: 5"),
        base.replace("00 01 \n02 ", "00 01 02 "),
        base.replace(".1.3.6.1.2.1.99.42.0 = STRING: \"v42\"\n", ""),
    ] {
        assert!(walks_match(&broken, &base).is_err());
    }
}

/// Discovery happens once per target: the second poll is one round trip.
#[tokio::test]
async fn v3_discovery_is_cached_per_target() {
    let d = Snmpd::start().await;
    let engine = Engine::new(EngineConfig::default()).await.unwrap();
    let s = engine
        .session(target(&d.udp(), v3_security("probe256")))
        .await
        .unwrap();
    let oid: Oid = ".1.3.6.1.2.1.1.5.0".parse().unwrap();
    s.get(std::slice::from_ref(&oid)).await.unwrap();
    assert_eq!(engine.stats().requests_sent, 2, "discovery + GET");
    s.get(std::slice::from_ref(&oid)).await.unwrap();
    s.get(std::slice::from_ref(&oid)).await.unwrap();
    assert_eq!(engine.stats().requests_sent, 4, "no further discovery");
}
