//! The Towerops session machine driven by scripted frames and instants: the join and its
//! strict reply check, both heartbeats, the server's events, the ends of a session.

use std::time::{Duration, Instant};

use outpost_proto::towerops::{
    decode_binary, encode_binary, AgentError, AgentHeartbeat, AgentJob, AgentJobList, Check,
    CheckList, Frame, JobType, UpdateRequest,
};
use serde_json::{json, Value};

use super::*;

const TOPIC: &str = "agent:agent-1700000000000000000-0";

fn hb() -> AgentHeartbeat {
    AgentHeartbeat {
        version: "0.1.0".into(),
        hostname: "h".into(),
        uptime_seconds: 5,
        ip_address: "127.0.0.1".into(),
        arch: "x86_64".into(),
        container: false,
        local_ips: vec!["10.0.0.2".into()],
        interface_subnets: vec!["10.0.0.0/24".into()],
        schedules_jobs: true,
    }
}

fn at(t0: Instant, secs: f64) -> Now {
    Now {
        mono: t0 + Duration::from_secs_f64(secs),
        unix: 1_700_000_000 + secs as i64,
    }
}

fn session(t0: Instant) -> Session {
    Session::new(
        TOPIC.into(),
        SecretString::from("tok-s3cret"),
        t0,
        Box::new(hb),
    )
}

fn reply(topic: &str, msg_ref: &str, status: &str, response: Value) -> String {
    json!({"topic": topic, "event": "phx_reply", "ref": msg_ref,
           "payload": {"status": status, "response": response}})
    .to_string()
}

fn joined(t0: Instant) -> Session {
    let mut s = session(t0);
    let out = s.on_input(
        at(t0, 0.5),
        Input::Text(&reply(TOPIC, "1", "ok", json!({}))),
    );
    assert_eq!(out.first(), Some(&Action::Joined));
    s
}

fn sent(actions: &[Action]) -> Vec<Value> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(t) => Some(serde_json::from_str(t).unwrap()),
            _ => None,
        })
        .collect()
}

fn push(event: &str, msg: &impl WireMessage) -> String {
    encode_binary(TOPIC, event, msg, None)
}

#[test]
fn issue17_towerops_session_join_frame() {
    let t0 = Instant::now();
    let s = session(t0);
    let v: Value = serde_json::from_str(&s.join_frame()).unwrap();
    assert_eq!(
        v,
        json!({"topic": TOPIC, "event": "phx_join", "payload": {"token": "tok-s3cret"}, "ref": "1"})
    );
    assert_eq!(topic(17, 3), "agent:agent-17-3");
    assert_ne!(super::super::fresh_topic(), super::super::fresh_topic());
    // The token stays out of Debug output.
    assert!(!format!("{s:?}").contains("s3cret"));
}

#[test]
fn issue17_towerops_session_join_ok_sends_heartbeat_at_once() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let out = s.on_input(
        at(t0, 1.0),
        Input::Text(&reply(TOPIC, "1", "ok", json!({}))),
    );
    assert_eq!(out[0], Action::Joined);
    let frames = sent(&out);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["topic"], TOPIC);
    assert_eq!(frames[0]["event"], "heartbeat");
    assert_eq!(frames[0]["ref"], Value::Null);
    assert_eq!(
        decode_binary::<AgentHeartbeat>(&frames[0]["payload"]),
        Ok(hb())
    );
    assert!(s.joined());
}

#[test]
fn issue17_towerops_session_join_rejected_with_reason() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let out = s.on_input(
        at(t0, 1.0),
        Input::Text(&reply(
            TOPIC,
            "1",
            "error",
            json!({"reason": "unauthorized"}),
        )),
    );
    assert_eq!(
        out,
        vec![Action::End(End::JoinRejected {
            status: "error".into(),
            reason: "unauthorized".into()
        })]
    );
    assert_eq!(
        End::JoinRejected {
            status: "error".into(),
            reason: "unauthorized".into()
        }
        .to_string(),
        "join rejected: error (unauthorized)"
    );
    // Ended: nothing more happens.
    assert!(s
        .on_input(
            at(t0, 2.0),
            Input::Text(&reply(TOPIC, "1", "ok", json!({})))
        )
        .is_empty());
    assert!(!s.joined());
}

#[test]
fn issue17_towerops_session_join_first_frame_must_be_the_reply() {
    let t0 = Instant::now();
    let cases = [
        reply(TOPIC, "2", "ok", json!({})),               // wrong ref
        reply("agent:agent-other", "1", "ok", json!({})), // wrong topic
        push("jobs", &AgentJobList::default()),           // not a reply
        json!({"topic": TOPIC, "event": "phx_reply", "payload": {"status": "ok"}, "ref": null})
            .to_string(), // no ref
        "not json".to_owned(),
    ];
    for text in cases {
        let mut s = session(t0);
        let out = s.on_input(at(t0, 1.0), Input::Text(&text));
        assert!(
            matches!(out.as_slice(), [Action::End(End::JoinUnexpected(_))]),
            "{text}: {out:?}"
        );
        assert!(!s.joined());
    }
}

#[test]
fn issue17_towerops_session_join_timeout() {
    let t0 = Instant::now();
    let mut s = session(t0);
    assert_eq!(s.next_wake(), t0 + JOIN_TIMEOUT);
    assert!(s.on_input(at(t0, 9.9), Input::Tick).is_empty());
    assert_eq!(
        s.on_input(at(t0, 10.0), Input::Tick),
        vec![Action::End(End::JoinTimeout)]
    );
    let mut s = session(t0);
    assert_eq!(
        s.on_input(at(t0, 1.0), Input::Closed),
        vec![Action::End(End::Closed)]
    );
}

#[test]
fn issue17_towerops_session_heartbeats() {
    let t0 = Instant::now();
    let mut s = joined(t0);
    // Joined at 0.5 s: the Phoenix heartbeat is due at 25.5 s.
    assert_eq!(s.next_wake(), at(t0, 25.5).mono);
    assert!(s.on_input(at(t0, 25.0), Input::Tick).is_empty());
    let f = sent(&s.on_input(at(t0, 25.5), Input::Tick));
    assert_eq!(
        f,
        vec![json!({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "2"})]
    );
    // The server answers it: traffic, and an ack of ref 2.
    let out = s.on_input(
        at(t0, 26.0),
        Input::Text(&reply("phoenix", "2", "ok", json!({}))),
    );
    assert_eq!(out, vec![Action::Acked("2".into())]);
    let f = sent(&s.on_input(at(t0, 50.5), Input::Tick));
    assert_eq!(f[0]["ref"], "3");
    // The application heartbeat every 60 s, ref null.
    let f = sent(&s.on_input(at(t0, 60.5), Input::Tick));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["event"], "heartbeat");
    assert_eq!(f[0]["topic"], TOPIC);
    assert_eq!(f[0]["ref"], Value::Null);
    assert_eq!(decode_binary::<AgentHeartbeat>(&f[0]["payload"]), Ok(hb()));
    assert_eq!(s.next_wake(), at(t0, 75.5).mono);
    // A push takes the next ref from the same counter.
    let (r, _) = s.push("result", &AgentError::default());
    assert_eq!(r, "4");
}

#[test]
fn issue17_towerops_session_silent_server_is_dead() {
    let t0 = Instant::now();
    let mut s = joined(t0);
    // Heard at 60 s: alive until 150 s.
    s.on_input(
        at(t0, 60.0),
        Input::Text(&reply("phoenix", "2", "ok", json!({}))),
    );
    let out = s.on_input(at(t0, 149.0), Input::Tick);
    assert!(!out.iter().any(|a| matches!(a, Action::End(_))), "{out:?}");
    assert_eq!(
        s.on_input(at(t0, 150.0), Input::Tick),
        vec![Action::End(End::Silent)]
    );
}

#[test]
fn issue17_towerops_session_ends_on_restart_error_close() {
    let t0 = Instant::now();
    for (event, end) in [
        ("restart", End::Restart),
        ("phx_error", End::Channel("phx_error".into())),
        ("phx_close", End::Channel("phx_close".into())),
    ] {
        let mut s = joined(t0);
        let text = json!({"topic": TOPIC, "event": event, "payload": {}, "ref": null}).to_string();
        assert_eq!(
            s.on_input(at(t0, 1.0), Input::Text(&text)),
            vec![Action::End(end.clone())]
        );
        assert_eq!(end.immediate(), event == "restart");
        assert!(s.on_input(at(t0, 100.0), Input::Tick).is_empty());
    }
    let mut s = joined(t0);
    assert_eq!(
        s.on_input(at(t0, 1.0), Input::Closed),
        vec![Action::End(End::Closed)]
    );
}

#[test]
fn issue17_towerops_session_other_topics_ignored() {
    let t0 = Instant::now();
    let mut s = joined(t0);
    let list = AgentJobList {
        jobs: vec![AgentJob {
            job_id: "poll:1".into(),
            ..Default::default()
        }],
    };
    let other = encode_binary("agent:agent-someone-else", "jobs", &list, None);
    assert!(s.on_input(at(t0, 1.0), Input::Text(&other)).is_empty());
    let restart = json!({"topic": "agent:x", "event": "restart", "payload": {}, "ref": null});
    assert!(s
        .on_input(at(t0, 1.0), Input::Text(&restart.to_string()))
        .is_empty());
    // Unknown events on our topic too.
    let unknown = json!({"topic": TOPIC, "event": "cancel", "payload": {}, "ref": null});
    assert!(s
        .on_input(at(t0, 1.0), Input::Text(&unknown.to_string()))
        .is_empty());
    assert!(s.joined());
}

#[test]
fn issue17_towerops_session_job_lanes_checks_update() {
    let t0 = Instant::now();
    let mut s = joined(t0);
    let list = AgentJobList {
        jobs: vec![AgentJob {
            job_id: "poll:7".into(),
            job_type: JobType::Poll as i32,
            interval_seconds: 60,
            ..Default::default()
        }],
    };
    for (event, lane) in [
        ("jobs", Lane::Jobs),
        ("discovery_job", Lane::Discovery),
        ("backup_job", Lane::Backup),
    ] {
        assert_eq!(
            s.on_input(at(t0, 1.0), Input::Text(&push(event, &list))),
            vec![Action::Jobs {
                lane,
                list: list.clone()
            }]
        );
    }
    let checks = CheckList {
        checks: vec![Check {
            id: "c1".into(),
            check_type: "tcp".into(),
            ..Default::default()
        }],
    };
    assert_eq!(
        s.on_input(at(t0, 1.0), Input::Text(&push("check_jobs", &checks))),
        vec![Action::Checks(checks)]
    );
    let update = json!({"topic": TOPIC, "event": "update", "ref": null,
                        "payload": {"url": "https://x/agent", "checksum": "ab"}});
    assert_eq!(
        s.on_input(at(t0, 1.0), Input::Text(&update.to_string())),
        vec![Action::Update(UpdateRequest {
            url: "https://x/agent".into(),
            checksum: "ab".into()
        })]
    );
    let half =
        json!({"topic": TOPIC, "event": "update", "ref": null, "payload": {"url": "https://x"}});
    assert!(s
        .on_input(at(t0, 1.0), Input::Text(&half.to_string()))
        .is_empty());
}

#[test]
fn issue17_towerops_session_malformed_payload_answered_with_error() {
    let t0 = Instant::now();
    let mut s = joined(t0);
    for (event, payload) in [
        ("jobs", json!({"binary": "!!not base64"})),
        ("discovery_job", json!({"binary": "/w=="})),
        ("check_jobs", json!({"nothing": 1})),
        ("backup_job", json!({ "binary": "A".repeat(14_000_000) })),
    ] {
        let text = json!({"topic": TOPIC, "event": event, "payload": payload, "ref": null});
        let out = s.on_input(at(t0, 2.0), Input::Text(&text.to_string()));
        let f = sent(&out);
        assert_eq!(f.len(), 1, "{event}: {out:?}");
        assert_eq!(f[0]["topic"], TOPIC);
        assert_eq!(f[0]["event"], "error");
        let err: AgentError = decode_binary(&f[0]["payload"]).unwrap();
        assert_eq!(
            err.message,
            format!("Rejected malformed or oversized {event} payload")
        );
        assert_eq!(err.timestamp, 1_700_000_002);
    }
    // The session is still up: the next good frame is dispatched.
    let out = s.on_input(
        at(t0, 3.0),
        Input::Text(&push("jobs", &AgentJobList::default())),
    );
    assert_eq!(
        out,
        vec![Action::Jobs {
            lane: Lane::Jobs,
            list: AgentJobList::default()
        }]
    );
    // Not JSON at all: ignored, still up.
    assert!(s.on_input(at(t0, 3.0), Input::Text("{oops")).is_empty());
    assert!(s.joined());
}

#[test]
fn issue17_towerops_session_push_refused_and_oversized_frame() {
    let t0 = Instant::now();
    let mut s = joined(t0);
    let (r, frame) = s.push("result", &AgentError::default());
    let f = Frame::decode(frame.as_bytes()).unwrap();
    assert_eq!(f.msg_ref.as_deref(), Some(r.as_str()));
    let out = s.on_input(
        at(t0, 1.0),
        Input::Text(&reply(
            TOPIC,
            &r,
            "error",
            json!({"reason": "Message too large"}),
        )),
    );
    assert_eq!(
        out,
        vec![Action::Refused {
            msg_ref: r,
            reason: "Message too large".into()
        }]
    );
    let big = " ".repeat(outpost_proto::towerops::frame::MAX_FRAME_BYTES + 1);
    assert!(matches!(
        s.on_input(at(t0, 2.0), Input::Text(&big)).as_slice(),
        [Action::End(End::Oversized(_))]
    ));
}
