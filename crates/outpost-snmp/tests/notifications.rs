//! The decoder the trap receiver (issue 4) reuses, fed by net-snmp's own
//! senders: v1 traps, a v2c trap, a v2c inform that we acknowledge (the
//! sender exits 0 only if our Response is right), and a v3 authPriv trap
//! and inform.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use outpost_snmp::message::{flags, Message, ScopedPdu, ScopedPduData};
use outpost_snmp::pdu::{AnyPdu, PduType};
use outpost_snmp::security::{self, EngineParams, SealParams, SecurityLevel, UsmUser};
use outpost_snmp::size::DEFAULT_MSG_MAX_SIZE;
use outpost_snmp::{AuthProtocol, Oid, Value};
use outpost_test_support::netsnmp::spawn;
use outpost_test_support::snmp_values::{trap_user, TRAP_USER_ARGS};
use secrecy::ExposeSecret;
use tokio::net::UdpSocket;

async fn receive(sock: &UdpSocket) -> (Vec<u8>, std::net::SocketAddr) {
    let mut buf = vec![0u8; 65536];
    let (n, from) =
        tokio::time::timeout(std::time::Duration::from_secs(10), sock.recv_from(&mut buf))
            .await
            .expect("no notification within 10 s")
            .unwrap();
    buf.truncate(n);
    (buf, from)
}

fn oid(s: &str) -> Oid {
    s.parse().unwrap()
}

#[tokio::test]
async fn v1_enterprise_and_generic_traps() {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let to = sock.local_addr().unwrap().to_string();
    let mut p = spawn(
        "snmptrap",
        &[
            "-v1",
            "-c",
            "public",
            &to,
            ".1.3.6.1.4.1.8072.2.3",
            "127.0.0.1",
            "6",
            "17",
            "",
            ".1.3.6.1.4.1.8072.2.3.2.1",
            "i",
            "123456",
        ],
    );
    let (raw, _) = receive(&sock).await;
    assert!(p.wait().await.unwrap().success());
    let Message::Community(m) = Message::decode(&raw).unwrap() else {
        panic!("not v1")
    };
    assert_eq!(m.community.expose_secret(), b"public");
    let AnyPdu::TrapV1(t) = m.pdu else {
        panic!("not a v1 trap")
    };
    assert_eq!(t.enterprise, oid(".1.3.6.1.4.1.8072.2.3"));
    assert_eq!(t.agent_addr, [127, 0, 0, 1]);
    assert_eq!((t.generic_trap, t.specific_trap), (6, 17));
    assert_eq!(
        t.varbinds[0].to_string(),
        ".1.3.6.1.4.1.8072.2.3.2.1 = INTEGER: 123456"
    );
    // RFC 3584: enterprise.0.specific.
    assert_eq!(t.snmp_trap_oid(), oid(".1.3.6.1.4.1.8072.2.3.0.17"));
    let v2 = t.to_v2_varbinds();
    assert_eq!(
        v2[1].value,
        Value::ObjectId(oid(".1.3.6.1.4.1.8072.2.3.0.17"))
    );

    let mut p = spawn(
        "snmptrap",
        &[
            "-v1",
            "-c",
            "public",
            &to,
            ".1.3.6.1.4.1.8072.2.3",
            "127.0.0.1",
            "2",
            "0",
            "",
        ],
    );
    let (raw, _) = receive(&sock).await;
    assert!(p.wait().await.unwrap().success());
    let Message::Community(m) = Message::decode(&raw).unwrap() else {
        panic!()
    };
    let AnyPdu::TrapV1(t) = m.pdu else { panic!() };
    // linkDown
    assert_eq!(t.snmp_trap_oid(), oid(".1.3.6.1.6.3.1.1.5.3"));
}

#[tokio::test]
async fn v2c_trap_and_acknowledged_inform() {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let to = sock.local_addr().unwrap().to_string();
    let mut p = spawn(
        "snmptrap",
        &[
            "-v2c",
            "-c",
            "public",
            &to,
            "",
            ".1.3.6.1.6.3.1.1.5.3",
            ".1.3.6.1.2.1.2.2.1.1.2",
            "i",
            "2",
        ],
    );
    let (raw, _) = receive(&sock).await;
    assert!(p.wait().await.unwrap().success());
    let Message::Community(m) = Message::decode(&raw).unwrap() else {
        panic!()
    };
    let AnyPdu::Pdu(pdu) = &m.pdu else { panic!() };
    assert_eq!(pdu.pdu_type, PduType::TrapV2);
    assert_eq!(
        pdu.varbinds[1].to_string(),
        ".1.3.6.1.6.3.1.1.4.1.0 = OID: .1.3.6.1.6.3.1.1.5.3"
    );
    assert_eq!(
        pdu.varbinds[2].to_string(),
        ".1.3.6.1.2.1.2.2.1.1.2 = INTEGER: 2"
    );
    assert!(m.inform_response().is_none(), "a trap is not acknowledged");

    let p = spawn(
        "snmpinform",
        &[
            "-v2c",
            "-c",
            "public",
            "-t",
            "2",
            "-r",
            "0",
            &to,
            "",
            ".1.3.6.1.6.3.1.1.5.4",
            ".1.3.6.1.2.1.2.2.1.1.2",
            "i",
            "2",
        ],
    );
    let (raw, from) = receive(&sock).await;
    let Message::Community(m) = Message::decode(&raw).unwrap() else {
        panic!()
    };
    let ack = m
        .inform_response()
        .expect("inform gets a response")
        .encode();
    sock.send_to(&ack, from).await.unwrap();
    let out = p.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "snmpinform did not accept our Response: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn v3_auth_priv_trap_and_inform() {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let to = sock.local_addr().unwrap().to_string();
    let user = trap_user();
    // A v3 trap: the sender is authoritative, with the engine ID given by -e.
    let sender_engine = b"\x80\x00\x00\x00\x01\x02\x03\x04".to_vec();
    let mut p = spawn(
        "snmptrap",
        &[
            &TRAP_USER_ARGS[..],
            &["-e", "0x8000000001020304", &to, "", ".1.3.6.1.6.3.1.1.5.1"],
        ]
        .concat(),
    );
    let (raw, _) = receive(&sock).await;
    assert!(p.wait().await.unwrap().success());
    let Message::V3(head) = Message::decode(&raw).unwrap() else {
        panic!("not v3")
    };
    assert_eq!(head.usm.engine_id, sender_engine);
    assert_eq!(head.usm.user_name, b"trapuser");
    let keys = user.localize(&head.usm.engine_id).unwrap();
    let (m, scoped) = security::open(&raw, Some(&keys)).unwrap();
    assert_eq!(
        m.flags & (flags::AUTH | flags::PRIV),
        flags::AUTH | flags::PRIV
    );
    let AnyPdu::Pdu(pdu) = scoped.pdu else {
        panic!()
    };
    assert_eq!(pdu.pdu_type, PduType::TrapV2);
    assert_eq!(
        pdu.varbinds[1].value,
        Value::ObjectId(oid(".1.3.6.1.6.3.1.1.5.1"))
    );
    // The wrong password is detected, not decoded into garbage.
    let wrong = UsmUser::new(
        "trapuser",
        Some((AuthProtocol::Sha1, "wrongpass99".to_string().into())),
        None,
    )
    .unwrap()
    .localize(&sender_engine)
    .unwrap();
    assert!(security::open(&raw, Some(&wrong)).is_err());

    // A v3 inform: the receiver is authoritative. snmpinform first probes
    // our engine ID; we answer with a Report, then acknowledge the inform.
    let our_engine = EngineParams {
        engine_id: b"\x80\x00\x1f\x88\x80outpost".to_vec(),
        boots: 1,
        time: 10,
    };
    let our_keys = user.localize(&our_engine.engine_id).unwrap();
    let p = spawn(
        "snmpinform",
        &[
            &TRAP_USER_ARGS[..],
            &["-t", "3", "-r", "1", &to, "", ".1.3.6.1.6.3.1.1.5.2"],
        ]
        .concat(),
    );
    let none = outpost_snmp::usm::LocalizedKeys {
        auth: None,
        privacy: None,
    };
    let mut acknowledged = false;
    for _ in 0..4 {
        let (raw, from) = receive(&sock).await;
        let Message::V3(head) = Message::decode(&raw).unwrap() else {
            panic!()
        };
        if head.usm.engine_id.is_empty() || head.flags & flags::AUTH == 0 {
            let ScopedPduData::Plain(s) = &head.data else {
                panic!("probe should be clear")
            };
            let AnyPdu::Pdu(probe) = &s.pdu else { panic!() };
            let report = outpost_snmp::Pdu::new(
                PduType::Report,
                probe.request_id,
                vec![outpost_snmp::VarBind::new(
                    oid(".1.3.6.1.6.3.15.1.1.4.0"),
                    Value::Counter32(1),
                )],
            );
            let sc = ScopedPdu {
                context_engine_id: our_engine.engine_id.clone(),
                context_name: vec![],
                pdu: AnyPdu::Pdu(report),
            };
            let bytes = security::seal(&SealParams {
                msg_id: head.msg_id,
                max_size: DEFAULT_MSG_MAX_SIZE,
                level: SecurityLevel::NoAuthNoPriv,
                reportable: false,
                engine: &our_engine,
                user_name: b"",
                scoped: &sc,
                keys: &none,
                salt: 0,
            })
            .unwrap();
            sock.send_to(&bytes, from).await.unwrap();
            continue;
        }
        let (m, scoped) = security::open(&raw, Some(&our_keys)).unwrap();
        let AnyPdu::Pdu(inform) = &scoped.pdu else {
            panic!()
        };
        assert_eq!(inform.pdu_type, PduType::Inform);
        assert_eq!(
            inform.varbinds[1].value,
            Value::ObjectId(oid(".1.3.6.1.6.3.1.1.5.2"))
        );
        let sc = ScopedPdu {
            context_engine_id: scoped.context_engine_id.clone(),
            context_name: scoped.context_name.clone(),
            pdu: AnyPdu::Pdu(inform.inform_response()),
        };
        let bytes = security::seal(&SealParams {
            msg_id: m.msg_id,
            max_size: DEFAULT_MSG_MAX_SIZE,
            level: SecurityLevel::AuthPriv,
            reportable: false,
            engine: &our_engine,
            user_name: b"trapuser",
            scoped: &sc,
            keys: &our_keys,
            salt: 99,
        })
        .unwrap();
        sock.send_to(&bytes, from).await.unwrap();
        acknowledged = true;
        break;
    }
    assert!(acknowledged);
    let out = p.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "snmpinform v3 rejected our Response: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
