//! Issue 17: the Towerops v1 frame codec against arbitrary input (never a panic, typed
//! errors), and round trips: a frame we encode decodes to itself, and a message pushed as
//! `{"binary": ...}` decodes to the same message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use outpost_proto::towerops::{
    decode_binary, encode_binary, frame::MAX_BINARY_BASE64, AgentError, AgentJob, AgentJobList,
    Check, CheckConfig, CheckList, ConfigBackupJob, ConfigBackupResult, Frame, HttpCheckConfig,
    PayloadError, SnmpDevice, SnmpQuery, SnmpResult, SnmpTrap, TcpCheckConfig,
};
use proptest::prelude::*;
use serde_json::{json, Value};

fn text() -> impl Strategy<Value = String> {
    "[ -~é☃\"\\\\]{0,12}"
}

fn job() -> impl Strategy<Value = AgentJob> {
    (
        text(),
        any::<i32>(),
        text(),
        proptest::option::of((text(), text(), text(), any::<u32>())),
        prop::collection::vec((0..2i32, prop::collection::vec(text(), 0..3)), 0..3),
        any::<(u32, u32, u32, u32, u32, u32)>(),
        -1..4i32,
    )
        .prop_map(
            |(job_id, job_type, device_id, dev, queries, n, phase)| AgentJob {
                job_id,
                job_type,
                device_id,
                snmp_device: dev.map(|(ip, community, v3_username, port)| SnmpDevice {
                    ip,
                    community,
                    v3_username,
                    port,
                    ..Default::default()
                }),
                queries: queries
                    .into_iter()
                    .map(|(query_type, oids)| SnmpQuery { query_type, oids })
                    .collect(),
                interval_seconds: n.0,
                ping_timeout_ms: n.1,
                snmp_timeout_ms: n.2,
                snmp_retries: n.3,
                deadline_ms: n.4,
                max_result_bytes: n.5,
                discovery_phase: phase,
                ..Default::default()
            },
        )
}

fn result() -> impl Strategy<Value = SnmpResult> {
    (
        text(),
        prop::collection::btree_map(text(), text(), 0..6),
        any::<(i64, u32, bool, bool)>(),
        prop::collection::vec(text(), 0..3),
    )
        .prop_map(
            |(job_id, oid_values, (timestamp, sequence, partial, fin), roots)| SnmpResult {
                job_id,
                job_type: 1,
                oid_values,
                timestamp,
                sequence,
                partial,
                r#final: fin,
                completed_roots: roots.clone(),
                truncated_roots: roots,
                ..Default::default()
            },
        )
}

fn check() -> impl Strategy<Value = Check> {
    (text(), any::<(u32, u32)>(), 0..3u8, text()).prop_map(|(id, (i, t), kind, s)| Check {
        id,
        check_type: ["http", "tcp", "dns"][kind as usize].into(),
        interval_seconds: i,
        timeout_ms: t,
        config: match kind {
            0 => Some(CheckConfig::Http(HttpCheckConfig {
                url: s.clone(),
                headers: [(s, "v".to_owned())].into_iter().collect(),
                ..Default::default()
            })),
            1 => Some(CheckConfig::Tcp(TcpCheckConfig {
                host: s,
                port: i,
                ..Default::default()
            })),
            _ => None,
        },
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn backup_job() -> impl Strategy<Value = AgentJob> {
    (
        (text(), text(), any::<i32>()),
        (text(), any::<u32>(), text(), text()),
        (any::<bool>(), text(), any::<u64>(), any::<u32>()),
    )
        .prop_map(
            |(
                (job_id, device_id, mode),
                (host, ssh_port, username, password),
                (include_secrets, fp, max, timeout_ms),
            )| AgentJob {
                job_id,
                job_type: outpost_proto::towerops::backup::CONFIG_BACKUP_JOB_TYPE,
                device_id,
                config_backup: Some(ConfigBackupJob {
                    vendor: "mikrotik".into(),
                    mode,
                    host,
                    ssh_port,
                    username,
                    password,
                    include_secrets,
                    expected_host_key_fingerprint: fp,
                    max_config_bytes: max,
                    timeout_ms,
                }),
                ..Default::default()
            },
        )
}

fn backup_result() -> impl Strategy<Value = ConfigBackupResult> {
    (
        (text(), text(), any::<i32>(), text(), text()),
        (
            any::<u32>(),
            any::<i64>(),
            prop::collection::vec(any::<u8>(), 0..64),
            any::<u64>(),
        ),
        (
            text(),
            text(),
            text(),
            any::<bool>(),
            prop::collection::vec(text(), 0..4),
        ),
    )
        .prop_map(
            |(
                (device_id, job_id, error_code, error_detail, fp),
                (duration_ms, timestamp, config_gzip, config_bytes),
                (os_version, model, identity, includes_secrets, user_policies),
            )| ConfigBackupResult {
                device_id,
                job_id,
                error_code,
                error_detail,
                host_key_fingerprint: fp,
                duration_ms,
                timestamp,
                config_gzip,
                config_bytes,
                os_version,
                model,
                identity,
                includes_secrets,
                user_policies,
            },
        )
}

proptest! {
    #[test]
    fn issue17_config_backup_job_and_result_round_trip(jobs in prop::collection::vec(backup_job(), 0..3), res in backup_result()) {
        let list = AgentJobList { jobs };
        let text = encode_binary("agent:agent-1-0", "backup_job", &list, None);
        prop_assert_eq!(Frame::decode(text.as_bytes()).unwrap().binary::<AgentJobList>(), Ok(list));
        let text = encode_binary("t", "config_backup_result", &res, None);
        prop_assert_eq!(Frame::decode(text.as_bytes()).unwrap().binary::<ConfigBackupResult>(), Ok(res));
    }

    #[test]
    fn issue17_towerops_decoder_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = Frame::decode(&bytes);
    }

    #[test]
    fn issue17_towerops_decoder_never_panics_on_json(v in json_value(), topic in json_value(), r in json_value()) {
        let text = json!({"topic": topic, "event": "jobs", "payload": v, "ref": r}).to_string();
        if let Ok(f) = Frame::decode(text.as_bytes()) {
            let _ = f.binary::<AgentJobList>();
            let _ = f.binary::<CheckList>();
            let _ = f.reply();
        }
    }

    #[test]
    fn issue17_towerops_payload_never_panics_on_protobuf_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let payload = json!({ "binary": b64 });
        // Arbitrary bytes: a message or a Protobuf error, never a base64 error.
        for r in [decode_binary::<AgentJobList>(&payload).err(), decode_binary::<CheckList>(&payload).err()] {
            prop_assert!(!matches!(r, Some(PayloadError::Base64(_)) | Some(PayloadError::NotBinary)));
        }
    }

    #[test]
    fn issue17_towerops_frame_round_trip(topic in text(), event in text(), payload in json_value(), r in proptest::option::of(text())) {
        let f = Frame { topic, event, payload, msg_ref: r };
        prop_assert_eq!(Frame::decode(f.encode().as_bytes()), Ok(f));
    }

    #[test]
    fn issue17_towerops_job_list_round_trip(jobs in prop::collection::vec(job(), 0..4), r in proptest::option::of(text())) {
        let list = AgentJobList { jobs };
        let text = encode_binary("agent:agent-1-0", "jobs", &list, r.as_deref());
        let f = Frame::decode(text.as_bytes()).unwrap();
        prop_assert_eq!(&f.msg_ref, &r);
        prop_assert_eq!(f.binary::<AgentJobList>(), Ok(list));
    }

    #[test]
    fn issue17_towerops_result_and_check_round_trip(res in result(), checks in prop::collection::vec(check(), 0..4), msg in text()) {
        let text = encode_binary("t", "result", &res, None);
        prop_assert_eq!(Frame::decode(text.as_bytes()).unwrap().binary::<SnmpResult>(), Ok(res));
        let list = CheckList { checks };
        let text = encode_binary("t", "check_jobs", &list, None);
        prop_assert_eq!(Frame::decode(text.as_bytes()).unwrap().binary::<CheckList>(), Ok(list));
        let err = AgentError { message: msg.clone(), timestamp: 1, ..Default::default() };
        let text = encode_binary("t", "error", &err, None);
        prop_assert_eq!(Frame::decode(text.as_bytes()).unwrap().binary::<AgentError>(), Ok(err));
        let trap = SnmpTrap { source_ip: msg, version: 3, varbinds: [("1.3.6".to_owned(), "x".to_owned())].into_iter().collect(), ..Default::default() };
        let text = encode_binary("t", "trap", &trap, None);
        prop_assert_eq!(Frame::decode(text.as_bytes()).unwrap().binary::<SnmpTrap>(), Ok(trap));
    }
}

#[test]
fn issue17_towerops_binary_limit_is_ten_mib_decoded() {
    // Exactly 10 MiB of protobuf bytes fit; the limit is on the base64 length.
    assert_eq!(MAX_BINARY_BASE64, (10usize << 20).div_ceil(3) * 4);
    let over = "A".repeat(MAX_BINARY_BASE64 + 1);
    assert_eq!(
        decode_binary::<AgentJobList>(&json!({ "binary": over })),
        Err(PayloadError::TooLarge(MAX_BINARY_BASE64 + 1))
    );
}
