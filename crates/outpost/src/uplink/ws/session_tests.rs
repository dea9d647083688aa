//! The Phoenix session machine driven by scripted frames: join, pushes both ways,
//! heartbeats, acks, refusals.

use std::sync::Arc;

use outpost_core::{Event, OutboxItem, OutboxRow};
use outpost_proto::{phoenix::Frame, Message};
use serde_json::json;

use super::*;
use crate::uplink::{UplinkCode, UplinkMetrics};

fn session() -> (WsSession, Reporter) {
    let rep = Reporter::new("ws", UplinkMetrics::default());
    (WsSession::new("a1", rep.clone()), rep)
}

fn frame(text: &str) -> Frame {
    Frame::decode(text.as_bytes()).unwrap()
}

fn rejected(rep: &Reporter, code: &str) -> u64 {
    rep.metrics()
        .rejected
        .get_or_create(&UplinkCode {
            uplink: "ws".into(),
            code: code.into(),
        })
        .get()
}

fn sent(step: Step) -> Vec<Frame> {
    match step {
        Step::Send(frames) => frames.iter().map(|f| frame(f)).collect(),
        other => panic!("expected frames to send, got {other:?}"),
    }
}

/// The join sent and accepted.
fn joined() -> (WsSession, Reporter) {
    let (mut s, rep) = session();
    let join = frame(&s.join(json!({"type": "hello", "token": "t"})));
    let reply = format!(
        r#"["{r}","{r}","agent:a1","phx_reply",{{"status":"ok","response":{{"type":"welcome"}}}}]"#,
        r = join.msg_ref.unwrap()
    );
    assert!(matches!(s.on_event(Input::Text(&reply)), Step::Joined));
    (s, rep)
}

#[test]
fn issue12_ws_session_joins_by_ref_then_pushes_rows_and_takes_acks() {
    let (mut s, rep) = session();
    let join = frame(&s.join(json!({"type": "hello", "token": "t"})));
    assert_eq!(join.topic, "agent:a1");
    assert_eq!(join.event, "phx_join");
    assert_eq!(join.join_ref, join.msg_ref);
    assert_eq!(join.payload["token"], "t");

    // A reply to another ref, and an unreadable frame, are not the join's answer.
    assert!(matches!(
        s.on_event(Input::Text(
            r#"["9","9","agent:a1","phx_reply",{"status":"error","response":{}}]"#
        )),
        Step::Continue
    ));
    assert!(matches!(s.on_event(Input::Text("nope")), Step::Continue));
    assert!(!s.productive(), "nothing before the join counts");
    let ok = r#"["1","1","agent:a1","phx_reply",{"status":"ok","response":{"type":"welcome"}}]"#;
    assert!(matches!(s.on_event(Input::Text(ok)), Step::Joined));

    // Rows go out as pushes on our topic, typed by the envelope, refs increasing.
    let rows: Vec<Arc<OutboxRow>> = (1..=2)
        .map(|seq| {
            Arc::new(OutboxRow {
                seq,
                created_at: 0,
                item: OutboxItem::Event(Event::new("t", json!({ "i": seq }))),
            })
        })
        .collect();
    let frames = sent(s.on_event(Input::Rows(&rows)));
    assert_eq!(frames.len(), 2);
    for (f, seq) in frames.iter().zip(1..) {
        assert_eq!(f.topic, "agent:a1");
        assert_eq!(f.event, "event");
        assert_eq!(f.join_ref.as_deref(), Some("1"));
        assert_eq!(f.payload["seq"], seq);
    }
    assert_ne!(frames[0].msg_ref, frames[1].msg_ref);
    assert_eq!(
        rep.metrics()
            .sent
            .get_or_create(&UplinkMetrics::label("ws"))
            .get(),
        2
    );

    // The server's `ack` is dispatched, and comes back as the cursor's move.
    let Step::Dispatch(payload) = s.on_event(Input::Text(
        r#"[null,"5","agent:a1","ack",{"type":"ack","seq":2}]"#,
    )) else {
        panic!("a push on our topic goes to the dispatcher")
    };
    assert_eq!(payload["seq"], 2);
    assert!(s.productive());
    assert!(matches!(
        s.on_event(Input::Handled(Handled::Ack(2))),
        Step::Ack(2)
    ));
    assert!(matches!(
        s.on_event(Input::Handled(Handled::Nothing)),
        Step::Continue
    ));

    // Heartbeats: Phoenix's own on the `phoenix` topic, and ours on the channel.
    let hb = sent(s.on_event(Input::Heartbeat));
    assert_eq!(
        (hb[0].topic.as_str(), hb[0].event.as_str()),
        ("phoenix", "heartbeat")
    );
    assert_eq!(
        (hb[1].topic.as_str(), hb[1].event.as_str()),
        ("agent:a1", "heartbeat")
    );
}

#[test]
fn issue12_ws_session_a_refused_join_ends_at_error_level_by_its_kind() {
    let (mut s, _) = session();
    s.join(json!({}));
    let refused = r#"["1","1","agent:a1","phx_reply",{"status":"error","response":{"reason":"unauthorized"}}]"#;
    let Step::End(end) = s.on_event(Input::Text(refused)) else {
        panic!("a refused join ends the session")
    };
    assert!(matches!(end, End::Join(JoinFailed::Refused(_))));
    assert_eq!(end.severity(), Severity::Refused);
    assert!(end.to_string().contains("unauthorized"), "{end}");
    assert!(end.summary().contains("refused the join"));

    // The same words in another kind of end are only a warning: the text decides nothing.
    let (mut s, _) = session();
    s.join(json!({}));
    let Step::End(end) = s.on_event(Input::Closed) else {
        panic!("a close during the join ends the session")
    };
    assert!(matches!(end, End::Join(JoinFailed::Closed)));
    assert_eq!(end.severity(), Severity::Transient);
    let channel = End::Channel("refused unauthorized".into());
    assert_eq!(channel.severity(), Severity::Transient);
    assert_eq!(End::Shutdown.severity(), Severity::Quiet);
}

#[test]
fn issue12_ws_session_bad_input_is_answered_and_counted_never_run() {
    let (mut s, rep) = joined();

    // Another topic's push: refused, not run.
    let f = sent(s.on_event(Input::Text(
        r#"[null,"2","agent:other","job",{"type":"job","id":"x","kind":"echo"}]"#,
    )));
    assert_eq!(f[0].event, "error");
    assert_eq!(f[0].payload["code"], "unexpected");
    assert_eq!(rejected(&rep, "unexpected"), 1);

    // Too large: refused by size, naming the job when its id can be read.
    let id = "0190f5b2-6a8e-7c3d-9f1a-2b3c4d5e6f70";
    let mut big = format!(r#"[null,"3","agent:a1","job",{{"type":"job","id":"{id}","params":""#);
    big.push_str(&"x".repeat(outpost_proto::envelope::MAX_MESSAGE_BYTES));
    big.push_str(r#""}]"#);
    let f = sent(s.on_event(Input::Text(&big)));
    assert_eq!(f[0].payload["code"], "too_large");
    assert_eq!(f[0].payload["about"], id);
    assert_eq!(rejected(&rep, "too_large"), 1);

    // Not a frame at all.
    let f = sent(s.on_event(Input::Text("{}")));
    assert_eq!(f[0].event, "error");
    assert_eq!(f[0].payload["code"], "invalid");
    assert_eq!(rejected(&rep, "invalid"), 1);

    // A dispatcher's refusal goes back as a push, counted by its code.
    let f = sent(s.on_event(Input::Handled(Handled::Reply(Message::Error {
        code: "invalid".into(),
        message: "job id must be a UUID".into(),
        about: Some("x".into()),
    }))));
    assert_eq!(f[0].payload["code"], "invalid");
    assert_eq!(rejected(&rep, "invalid"), 2, "counted by code");

    // Phoenix's own traffic is no job.
    assert!(matches!(
        s.on_event(Input::Text(
            r#"[null,"4","phoenix","phx_reply",{"status":"ok","response":{}}]"#
        )),
        Step::Continue
    ));
    // The server closing our channel ends the session.
    let Step::End(end) = s.on_event(Input::Text(r#"["1","5","agent:a1","phx_close",{}]"#)) else {
        panic!("phx_close ends the session")
    };
    assert!(matches!(end, End::Channel(ref e) if e == "phx_close"));
}
