//! Hostile and broken agents: garbage, truncation, wrong request ids,
//! wrong source addresses, wrong community, forged v3 replies, looping
//! walks, tooBig. Each bad reply is dropped and counted in the engine's
//! stats, and never credited to a request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use outpost_snmp::engine::{Engine, EngineConfig, TargetConfig};
use outpost_snmp::message::{CommunityMessage, Message, ScopedPdu};
use outpost_snmp::pdu::{AnyPdu, Pdu, PduType};
use outpost_snmp::security::{self, EngineParams, SealParams, Security, SecurityLevel, UsmUser};
use outpost_snmp::size::DEFAULT_MSG_MAX_SIZE;
use outpost_snmp::{AuthProtocol, Oid, PrivProtocol, SnmpError, Value, VarBind};
use outpost_test_support::snmpd::v2c_session;
use secrecy::SecretSlice;
use tokio::net::UdpSocket;

/// What a fake agent answers to one request: datagrams to send, each from
/// the agent's own socket (`false`) or from a spoofing socket (`true`).
type Script = Box<dyn Fn(&Message, usize) -> Vec<(Vec<u8>, bool)> + Send + Sync>;

/// A scripted UDP agent; returns its address. It runs until the test ends.
async fn fake_agent(script: Script) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let spoof = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        let mut n_req = 0usize;
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let Ok(req) = Message::decode(&buf[..n]) else {
                continue;
            };
            for (bytes, spoofed) in script(&req, n_req) {
                let s = if spoofed { &spoof } else { &sock };
                let _ = s.send_to(&bytes, from).await;
            }
            n_req += 1;
        }
    });
    addr
}

fn community_response(req: &Message, community: &[u8], f: impl FnOnce(&mut Pdu)) -> Vec<u8> {
    let Message::Community(c) = req else {
        panic!("expected community request")
    };
    let AnyPdu::Pdu(p) = &c.pdu else {
        panic!("expected pdu")
    };
    let mut r = Pdu::new(PduType::Response, p.request_id, p.varbinds.clone());
    for vb in &mut r.varbinds {
        vb.value = Value::OctetString(b"the real answer".to_vec());
    }
    f(&mut r);
    Message::Community(CommunityMessage {
        version: c.version,
        community: SecretSlice::from(community.to_vec()),
        pdu: AnyPdu::Pdu(r),
    })
    .encode()
}

fn cfg(addr: SocketAddr, security: Security) -> TargetConfig {
    let mut c = TargetConfig::new(addr.to_string().parse().unwrap(), security);
    c.timeout = Duration::from_millis(500);
    c.retries = 0;
    c
}

fn oid(s: &str) -> Oid {
    s.parse().unwrap()
}

#[tokio::test]
async fn bad_replies_are_counted_and_never_credited() {
    let agent = fake_agent(Box::new(|req, _| {
        let good = community_response(req, b"public", |_| {});
        let wrong_id_msg = community_response(req, b"public", |p| {
            p.request_id = p.request_id.wrapping_add(1)
        });
        vec![
            (b"\x30\x03garbage".to_vec(), false),
            (good[..good.len() / 2].to_vec(), false),
            (vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff], false),
            (vec![0x55; 60_000], false),
            (wrong_id_msg, false),
            (good.clone(), true),
            (community_response(req, b"not-public", |_| {}), false),
            (
                community_response(req, b"public", |p| p.pdu_type = PduType::Get),
                false,
            ),
            (
                community_response(req, b"public", |p| {
                    p.varbinds[0].value = Value::Integer(666)
                }),
                true,
            ),
            (good, false),
        ]
    }))
    .await;
    let engine = Engine::new(EngineConfig::default()).await.unwrap();
    let s = engine
        .session(cfg(agent, Security::v2c("public")))
        .await
        .unwrap();
    let got = s.get(&[oid(".1.3.6.1.2.1.1.1.0")]).await.unwrap();
    assert_eq!(
        got[0].value,
        Value::OctetString(b"the real answer".to_vec())
    );
    let st = engine.stats();
    assert_eq!(st.responses_accepted, 1);
    assert_eq!(st.malformed, 4, "{st:?}");
    assert_eq!(st.unknown_request_id, 1, "{st:?}");
    assert_eq!(st.wrong_source, 2, "{st:?}");
    assert_eq!(st.rejected, 2, "{st:?}");
    // Loopback keeps order, and the reader counts a datagram before it hands
    // the next one over, so all nine bad ones are accounted for by now.
    assert_eq!(st.datagrams_received, 10, "{st:?}");
    assert_eq!(
        st.datagrams_received,
        st.responses_accepted + st.dropped(),
        "{st:?}"
    );
}

#[tokio::test]
async fn reply_for_another_target_is_not_credited_to_it() {
    // Agent A answers every request with a copy that claims to be for the
    // other pending request id (id + 1), which belongs to target B.
    let b = fake_agent(Box::new(|_, _| Vec::new())).await;
    let a = fake_agent(Box::new(|req, _| {
        vec![(
            community_response(req, b"public", |p| {
                p.request_id = p.request_id.wrapping_add(1)
            }),
            false,
        )]
    }))
    .await;
    let engine = Engine::new(EngineConfig::default()).await.unwrap();
    let sa = engine
        .session(cfg(a, Security::v2c("public")))
        .await
        .unwrap();
    let sb = engine
        .session(cfg(b, Security::v2c("public")))
        .await
        .unwrap();
    let o = [oid(".1.3.6.1.2.1.1.1.0")];
    let (ra, rb) = tokio::join!(sa.get(&o), sb.get(&o));
    assert!(matches!(ra, Err(SnmpError::Timeout { .. })), "{ra:?}");
    assert!(matches!(rb, Err(SnmpError::Timeout { .. })), "{rb:?}");
    let st = engine.stats();
    assert_eq!(st.responses_accepted, 0);
    assert_eq!(st.wrong_source + st.unknown_request_id, 1, "{st:?}");
}

#[tokio::test]
async fn forged_v3_response_is_rejected() {
    let engine_id = b"\x80\x00\x1f\x88\x80fake-agent".to_vec();
    let user = Arc::new(
        UsmUser::new(
            "probeuser",
            Some((AuthProtocol::Sha256, "authpass123".to_string().into())),
            Some((PrivProtocol::Aes128, "privpass123".to_string().into())),
        )
        .unwrap(),
    );
    let keys = user.localize(&engine_id).unwrap();
    let wrong = UsmUser::new(
        "probeuser",
        Some((AuthProtocol::Sha256, "forgedpass1".to_string().into())),
        Some((PrivProtocol::Aes128, "privpass123".to_string().into())),
    )
    .unwrap()
    .localize(&engine_id)
    .unwrap();
    let eid = engine_id.clone();
    let agent = fake_agent(Box::new(move |req, _| {
        let Message::V3(m) = req else {
            panic!("v3 expected")
        };
        let ep = EngineParams {
            engine_id: eid.clone(),
            boots: 1,
            time: 100,
        };
        if m.usm.engine_id.is_empty() {
            // Discovery: an unauthenticated report carrying our engine ID.
            let report = Pdu::new(
                PduType::Report,
                0,
                vec![VarBind::new(
                    oid(".1.3.6.1.6.3.15.1.1.4.0"),
                    Value::Counter32(1),
                )],
            );
            let scoped = ScopedPdu {
                context_engine_id: eid.clone(),
                context_name: vec![],
                pdu: AnyPdu::Pdu(report),
            };
            let none = outpost_snmp::usm::LocalizedKeys {
                auth: None,
                privacy: None,
            };
            return vec![(
                security::seal(&SealParams {
                    msg_id: m.msg_id,
                    max_size: DEFAULT_MSG_MAX_SIZE,
                    level: SecurityLevel::NoAuthNoPriv,
                    reportable: false,
                    engine: &ep,
                    user_name: b"",
                    scoped: &scoped,
                    keys: &none,
                    salt: 0,
                })
                .unwrap(),
                false,
            )];
        }
        let raw = Message::V3(m.clone()).encode();
        let (_, scoped) = security::open(&raw, Some(&keys)).unwrap_or_else(|_| {
            // Our own encode lost the MAC; re-open is only for the request id.
            panic!("agent could not open request")
        });
        let AnyPdu::Pdu(p) = scoped.pdu else { panic!() };
        let mk = |v: &[u8], k: &outpost_snmp::usm::LocalizedKeys| {
            let r = Pdu::new(
                PduType::Response,
                p.request_id,
                vec![VarBind::new(
                    oid(".1.3.6.1.2.1.1.5.0"),
                    Value::OctetString(v.to_vec()),
                )],
            );
            let sc = ScopedPdu {
                context_engine_id: eid.clone(),
                context_name: vec![],
                pdu: AnyPdu::Pdu(r),
            };
            security::seal(&SealParams {
                msg_id: m.msg_id,
                max_size: DEFAULT_MSG_MAX_SIZE,
                level: SecurityLevel::AuthPriv,
                reportable: false,
                engine: &ep,
                user_name: b"probeuser",
                scoped: &sc,
                keys: k,
                salt: 42,
            })
            .unwrap()
        };
        let mut forged_unauth = mk(b"unauthenticated", &keys);
        // Clear the auth/priv flags: a spoofer without keys.
        if let Ok(Message::V3(mut fm)) = Message::decode(&forged_unauth) {
            fm.flags = 0;
            fm.data = outpost_snmp::ScopedPduData::Plain(ScopedPdu {
                context_engine_id: eid.clone(),
                context_name: vec![],
                pdu: AnyPdu::Pdu(Pdu::new(PduType::Response, p.request_id, vec![])),
            });
            forged_unauth = Message::V3(fm).encode();
        }
        vec![
            (mk(b"forged", &wrong), false),
            (forged_unauth, false),
            (mk(b"authentic", &keys), false),
        ]
    }))
    .await;
    let engine = Engine::new(EngineConfig::default()).await.unwrap();
    let s = engine
        .session(cfg(agent, Security::Usm(user)))
        .await
        .unwrap();
    let got = s.get(&[oid(".1.3.6.1.2.1.1.5.0")]).await.unwrap();
    assert_eq!(got[0].value, Value::OctetString(b"authentic".to_vec()));
    let st = engine.stats();
    assert_eq!(st.rejected, 2, "{st:?}");
    assert_eq!(st.responses_accepted, 2, "discovery + get: {st:?}");
}

#[tokio::test]
async fn non_increasing_walk_is_an_error_not_a_loop() {
    let agent = fake_agent(Box::new(|req, _| {
        vec![(
            community_response(req, b"public", |p| {
                p.varbinds = vec![VarBind::new(oid(".1.3.6.1.2.1.1.1.0"), Value::Integer(1))];
            }),
            false,
        )]
    }))
    .await;
    let engine = Engine::new(EngineConfig::default()).await.unwrap();
    let s = engine
        .session(cfg(agent, Security::v2c("public")))
        .await
        .unwrap();
    let mut seen = 0;
    let r = s
        .walk_each(
            &oid(".1.3.6.1.2.1.1"),
            outpost_snmp::WalkMode::Bulk(10),
            |_| seen += 1,
        )
        .await;
    assert!(
        matches!(r, Err(SnmpError::OidNotIncreasing { .. })),
        "{r:?}"
    );
    assert!(seen <= 2, "walk looped: {seen}");
}

#[tokio::test]
async fn too_big_splits_the_request() {
    // Answers tooBig whenever a request has more than 2 varbinds.
    let agent = fake_agent(Box::new(|req, _| {
        vec![(
            community_response(req, b"public", |p| {
                if p.varbinds.len() > 2 {
                    p.error_status = 1;
                    p.varbinds.clear();
                } else {
                    for vb in &mut p.varbinds {
                        vb.value = Value::ObjectId(vb.oid.clone());
                    }
                }
            }),
            false,
        )]
    }))
    .await;
    let engine = Engine::new(EngineConfig::default()).await.unwrap();
    let s = engine
        .session(cfg(agent, Security::v2c("public")))
        .await
        .unwrap();
    let oids: Vec<Oid> = (1..=7)
        .map(|i| oid(&format!(".1.3.6.1.2.1.1.{i}.0")))
        .collect();
    let got = s.get(&oids).await.unwrap();
    let back: Vec<Oid> = got.iter().map(|v| v.oid.clone()).collect();
    assert_eq!(back, oids);
    assert!(got
        .iter()
        .all(|v| v.value == Value::ObjectId(v.oid.clone())));
}

/// A dead target with many queued requests must not delay a live one,
/// even with a small global in-flight cap.
#[tokio::test]
async fn dead_target_does_not_stall_others() {
    let dead = fake_agent(Box::new(|_, _| Vec::new())).await;
    let live = fake_agent(Box::new(|req, _| {
        vec![(community_response(req, b"public", |_| {}), false)]
    }))
    .await;
    let engine = Engine::new(EngineConfig {
        max_in_flight: 4,
        ..EngineConfig::default()
    })
    .await
    .unwrap();
    let mut dc = cfg(dead, Security::v2c("public"));
    dc.timeout = Duration::from_secs(2);
    dc.max_in_flight = 2;
    let sd = engine.session(dc).await.unwrap();
    let sl = engine
        .session(cfg(live, Security::v2c("public")))
        .await
        .unwrap();
    let mut dead_reqs = Vec::new();
    for _ in 0..20 {
        let sd = sd.clone();
        dead_reqs.push(tokio::spawn(async move {
            sd.get(&[oid(".1.3.6.1.2.1.1.1.0")]).await
        }));
    }
    tokio::task::yield_now().await;
    let started = std::time::Instant::now();
    for _ in 0..20 {
        sl.get(&[oid(".1.3.6.1.2.1.1.1.0")]).await.unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "live target stalled: {:?}",
        started.elapsed()
    );
    for h in dead_reqs {
        h.abort();
    }
}

/// A TCP agent whose first connection announces a 2 GiB message and whose
/// second sends garbage: both are counted, the connection is dropped and
/// re-opened, and the third connection's real answer is accepted.
#[tokio::test]
async fn hostile_tcp_framing_is_counted_and_survived() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for round in 0.. {
            let Ok((mut c, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 65536];
            let Ok(n) = c.read(&mut buf).await else {
                continue;
            };
            let Ok(req) = Message::decode(&buf[..n]) else {
                continue;
            };
            let reply = match round {
                0 => vec![0x30, 0x84, 0x7f, 0xff, 0xff, 0xff],
                1 => b"\x30\x05garbage-and-more".to_vec(),
                _ => community_response(&req, b"public", |_| {}),
            };
            let _ = c.write_all(&reply).await;
            // Keep the connection open until the client drops it.
            let _ = c.read(&mut buf).await;
        }
    });
    let (engine, s) =
        v2c_session(&format!("tcp:{addr}"), "public", Duration::from_secs(2), 2).await;
    let got = s.get(&[oid(".1.3.6.1.2.1.1.1.0")]).await.unwrap();
    assert_eq!(
        got[0].value,
        Value::OctetString(b"the real answer".to_vec())
    );
    let st = engine.stats();
    assert_eq!(st.malformed, 2, "{st:?}");
    assert_eq!(st.responses_accepted, 1, "{st:?}");
}

/// An agent that rebooted (new boots/time) answers the first authenticated
/// request with an authenticated notInTimeWindow report; the engine adopts
/// the new clock and retries once, with the new boots in its header.
#[tokio::test]
async fn not_in_time_window_resynchronises_once() {
    let engine_id = b"\x80\x00\x1f\x88\x80rebooted".to_vec();
    let user = Arc::new(
        UsmUser::new(
            "probeuser",
            Some((AuthProtocol::Sha1, "authpass123".to_string().into())),
            None,
        )
        .unwrap(),
    );
    let keys = user.localize(&engine_id).unwrap();
    let eid = engine_id.clone();
    let agent = fake_agent(Box::new(move |req, n| {
        let Message::V3(m) = req else {
            panic!("v3 expected")
        };
        let old = EngineParams {
            engine_id: eid.clone(),
            boots: 1,
            time: 100,
        };
        let new = EngineParams {
            engine_id: eid.clone(),
            boots: 2,
            time: 5,
        };
        let none = outpost_snmp::usm::LocalizedKeys {
            auth: None,
            privacy: None,
        };
        let pdu_of = |t: PduType, id: i32, vbs: Vec<VarBind>| ScopedPdu {
            context_engine_id: eid.clone(),
            context_name: vec![],
            pdu: AnyPdu::Pdu(Pdu::new(t, id, vbs)),
        };
        // What the rebooted agent sends: authNoPriv, with its new clock.
        let authenticated = |r: &ScopedPdu| {
            security::seal(&SealParams {
                msg_id: m.msg_id,
                max_size: DEFAULT_MSG_MAX_SIZE,
                level: SecurityLevel::AuthNoPriv,
                reportable: false,
                engine: &new,
                user_name: b"probeuser",
                scoped: r,
                keys: &keys,
                salt: 0,
            })
            .unwrap()
        };
        match n {
            0 => {
                let r = pdu_of(
                    PduType::Report,
                    0,
                    vec![VarBind::new(
                        oid(".1.3.6.1.6.3.15.1.1.4.0"),
                        Value::Counter32(1),
                    )],
                );
                vec![(
                    security::seal(&SealParams {
                        msg_id: m.msg_id,
                        max_size: DEFAULT_MSG_MAX_SIZE,
                        level: SecurityLevel::NoAuthNoPriv,
                        reportable: false,
                        engine: &old,
                        user_name: b"",
                        scoped: &r,
                        keys: &none,
                        salt: 0,
                    })
                    .unwrap(),
                    false,
                )]
            }
            1 => {
                assert_eq!(m.usm.engine_boots, 1);
                let r = pdu_of(
                    PduType::Report,
                    0,
                    vec![VarBind::new(
                        oid(".1.3.6.1.6.3.15.1.1.2.0"),
                        Value::Counter32(1),
                    )],
                );
                vec![(authenticated(&r), false)]
            }
            _ => {
                // The retry must carry the new clock.
                assert_eq!(m.usm.engine_boots, 2);
                assert!(
                    (5..=7).contains(&m.usm.engine_time),
                    "time {}",
                    m.usm.engine_time
                );
                let raw = Message::V3(m.clone()).encode();
                let (_, scoped) = security::open(&raw, Some(&keys)).unwrap();
                let AnyPdu::Pdu(p) = scoped.pdu else { panic!() };
                let r = pdu_of(
                    PduType::Response,
                    p.request_id,
                    vec![VarBind::new(
                        oid(".1.3.6.1.2.1.1.5.0"),
                        Value::OctetString(b"back".to_vec()),
                    )],
                );
                vec![(authenticated(&r), false)]
            }
        }
    }))
    .await;
    let engine = Engine::new(EngineConfig::default()).await.unwrap();
    let s = engine
        .session(cfg(agent, Security::Usm(user)))
        .await
        .unwrap();
    let got = s.get(&[oid(".1.3.6.1.2.1.1.5.0")]).await.unwrap();
    assert_eq!(got[0].value, Value::OctetString(b"back".to_vec()));
    assert_eq!(engine.stats().requests_sent, 3);
}
