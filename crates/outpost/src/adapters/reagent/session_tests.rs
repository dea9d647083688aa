//! The session machine driven with scripted router frames and instants (issue 19).

use std::time::{Duration, Instant};

use outpost_proto::wamp::{sign_challenge, Payload};
use secrecy::SecretString;
use serde_json::{json, Value};

use super::session::*;

fn identity() -> Identity {
    Identity {
        authid: "7-42".into(),
        serial: "SER1".into(),
        swarm_key: 7,
        device_key: 42,
    }
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

/// The heartbeats among what was sent (the guard unanswered, its deadline sends the
/// procedures' registrations too).
fn beats(actions: &[Action]) -> Vec<Value> {
    sent(actions)
        .into_iter()
        .filter(|m| m[3] == "reswarm.devices.update_device_status")
        .collect()
}

fn ends(actions: &[Action]) -> Option<&End> {
    actions.iter().find_map(|a| match a {
        Action::End(e) => Some(e),
        _ => None,
    })
}

/// A session joined at `t0` with session id 99 and its guard registered (registration
/// 500); returns what it sent after WELCOME, the guard's REGISTER first.
fn joined(t0: Instant) -> (Session, Vec<Value>) {
    let (mut s, mut msgs) = welcomed(t0);
    assert_eq!(msgs[0][3], "re.mgmt.SER1.wamp_connection_established");
    let guard = msgs[0][1].as_u64().unwrap();
    msgs.extend(sent(
        &s.on_input(Input::Text(&format!("[65,{guard},500]")), t0),
    ));
    (s, msgs)
}

/// A session joined at `t0` with session id 99, its guard not answered yet; returns what
/// WELCOME made it send.
fn welcomed(t0: Instant) -> (Session, Vec<Value>) {
    let (mut s, first) = Session::start(
        identity(),
        SecretString::from("s3cr3t"),
        vec!["device_handshake".into(), "execute_cmd".into()],
        t0,
    );
    let hello = &sent(&first)[0];
    assert_eq!(hello[0], 1);
    assert_eq!(hello[1], "realm1");
    assert_eq!(hello[2]["authid"], "7-42");
    assert_eq!(hello[2]["authmethods"], json!(["wampcra"]));
    let auth = sent(&s.on_input(
        Input::Text(r#"[4,"wampcra",{"challenge":"{\"nonce\":\"n\"}"}]"#),
        t0,
    ));
    assert_eq!(auth[0][0], 5);
    assert_eq!(auth[0][1], sign_challenge(b"s3cr3t", "{\"nonce\":\"n\"}"));
    let actions = s.on_input(Input::Text(r#"[2,99,{"authrole":"device"}]"#), t0);
    assert!(actions.contains(&Action::Joined { session: 99 }));
    (s, sent(&actions))
}

/// The request id of the sent message of type `code` whose URI (at `at`) is `uri`.
fn request_of(msgs: &[Value], code: u64, at: usize, uri: &str) -> u64 {
    msgs.iter()
        .find(|m| m[0] == code && m[at] == uri)
        .unwrap_or_else(|| panic!("no {code} to {uri} in {msgs:?}"))[1]
        .as_u64()
        .unwrap()
}

#[test]
fn issue19_session_join_sends_the_post_welcome_calls_in_order() {
    let t0 = Instant::now();
    let (s, msgs) = welcomed(t0);
    let uris: Vec<&str> = msgs.iter().map(|m| m[3].as_str().unwrap()).collect();
    assert_eq!(
        uris,
        [
            "re.mgmt.SER1.wamp_connection_established",
            "wamp.session.add_testament",
            "reswarm.devices.read_device_metadata",
            "reswarm.devices.update_device_architecture",
        ]
    );
    // The guard has no options.
    assert_eq!(msgs[0][2], json!({}));
    assert_eq!(
        msgs[1][4],
        json!(["reswarm.api.testament_device", [{"swarm_key": 7, "device_key": 42, "serial_number": "SER1", "wamp_session_id": 99}], {}])
    );
    // Request ids are distinct and count up from 1.
    let ids: Vec<u64> = msgs.iter().map(|m| m[1].as_u64().unwrap()).collect();
    assert_eq!(ids, (1..=4).collect::<Vec<_>>());
    // In flight: the deadline of the calls; each is 7 s.
    assert_eq!(s.next_wake(), Some(t0 + CALL_TIMEOUT));
    // The guard is ours: now the procedures, taken over with force_reregister, and the
    // first heartbeat.
    let mut s = s;
    let regs = sent(&s.on_input(Input::Text("[65,1,500]"), t0));
    let uris: Vec<&str> = regs.iter().map(|m| m[3].as_str().unwrap()).collect();
    assert_eq!(
        uris,
        [
            "re.mgmt.SER1.device_handshake",
            "re.mgmt.SER1.execute_cmd",
            "reswarm.devices.update_device_status"
        ]
    );
    assert!(regs[..2]
        .iter()
        .all(|m| m[0] == 64 && m[2] == json!({"force_reregister": true})));
    let hb = &regs[2][4][0];
    // The registrations are in flight: Reagent's CONFIGURING.
    assert_eq!(hb["status"], "CONFIGURING");
    assert_eq!(hb["wamp_session_id"], 99);
    assert_eq!(
        (hb["swarm_key"].clone(), hb["device_key"].clone()),
        (json!(7), json!(42))
    );
}

#[test]
fn issue19_session_a_duplicate_serial_takes_no_procedure() {
    let t0 = Instant::now();
    let (mut s, _) = welcomed(t0);
    let a = s.on_input(
        Input::Text(r#"[8,64,1,{},"wamp.error.procedure_already_exists"]"#),
        t0,
    );
    assert!(sent(&a).is_empty(), "no registration, no heartbeat: {a:?}");
    assert_eq!(ends(&a), Some(&End::DuplicateSerial("SER1".into())));
}

#[test]
fn issue19_session_pump_subscriptions_publications_and_registrations() {
    let t0 = Instant::now();
    let (mut s, msgs) = joined(t0);
    answer_all(&mut s, &msgs, t0);
    let (sub, a) = s.subscribe("wamp.subscription.on_create", t0).unwrap();
    assert!(matches!(&a, Action::Send(t) if t.starts_with("[32,")));
    let a = s.on_input(Input::Text(&format!("[33,{sub},77]")), t0);
    assert_eq!(
        a,
        vec![Action::Acked {
            request: sub,
            outcome: Ok(77)
        }]
    );
    let a = s.on_input(Input::Text(r#"[36,77,5,{},[1,{"id":9}]]"#), t0);
    assert!(
        matches!(
            &a[..],
            [Action::Event {
                subscription: 77,
                ..
            }]
        ),
        "{a:?}"
    );
    // An acknowledged publication, and one that fails.
    let (p, _) = s.publish("t.x", Payload::default(), true, t0).unwrap();
    assert_eq!(
        s.on_input(Input::Text(&format!("[17,{p},4]")), t0),
        vec![Action::Acked {
            request: p,
            outcome: Ok(4)
        }]
    );
    let (p, _) = s.publish("t.x", Payload::default(), true, t0).unwrap();
    let a = s.on_input(
        Input::Text(&format!(r#"[8,16,{p},{{}},"wamp.error.not_authorized"]"#)),
        t0,
    );
    assert!(
        matches!(&a[..], [Action::Acked { outcome: Err(e), .. }] if e.contains("not_authorized"))
    );
    // A registration of the pump's: its invocations come by name, until unregistered.
    let (r, _) = s.register("term_resize.c.1", t0).unwrap();
    s.on_input(Input::Text(&format!("[65,{r},600]")), t0);
    let a = s.on_input(Input::Text("[68,3,600,{},[{}]]"), t0);
    assert!(matches!(&a[..], [Action::Invoke { name, .. }] if name == "term_resize.c.1"));
    let (u, _) = s.unregister("term_resize.c.1", t0).unwrap();
    assert_eq!(
        s.on_input(Input::Text(&format!("[67,{u}]")), t0),
        vec![Action::Acked {
            request: u,
            outcome: Ok(0)
        }]
    );
    let a = sent(&s.on_input(Input::Text("[68,4,600,{}]"), t0));
    assert_eq!(a[0][4], "wamp.error.no_such_registration");
    // An unanswered subscription times out like a call.
    let (sub, _) = s.subscribe("x", t0).unwrap();
    let a = s.on_input(Input::Tick, t0 + CALL_TIMEOUT);
    assert!(
        a.iter()
            .any(|x| matches!(x, Action::Acked { request, outcome: Err(_) } if *request == sub)),
        "{a:?}"
    );
}

/// Answers every request in `msgs`, and the registrations they bring (the procedures
/// after the guard); returns what the session sent in turn, but those registrations.
fn answer_all(s: &mut Session, msgs: &[Value], t: Instant) -> Vec<Action> {
    let mut out = Vec::new();
    let mut todo: std::collections::VecDeque<Value> = msgs.iter().cloned().collect();
    while let Some(m) = todo.pop_front() {
        let id = m[1].as_u64().unwrap();
        let reply = if m[0] == 64 {
            format!("[65,{id},{}]", 1000 + id)
        } else {
            format!("[50,{id},{{}}]")
        };
        for a in s.on_input(Input::Text(&reply), t) {
            match &a {
                Action::Send(text) if text.starts_with("[64,") => {
                    todo.push_back(serde_json::from_str(text).unwrap())
                }
                _ => out.push(a),
            }
        }
    }
    out
}

#[test]
fn issue19_session_configuring_until_registered_then_connected_and_emergency() {
    let t0 = Instant::now();
    let (mut s, msgs) = joined(t0);
    assert_eq!(s.status(), "CONFIGURING");
    // The last registration answered: CONNECTED at once, with the figures last given.
    s.set_stats(json!({"cpu_count": 2}), false);
    let after = answer_all(&mut s, &msgs, t0);
    let beat = sent(&after);
    assert_eq!(beat.len(), 1, "{beat:?}");
    assert_eq!(beat[0][3], "reswarm.devices.update_device_status");
    assert_eq!(beat[0][4][0]["status"], "CONNECTED");
    assert_eq!(beat[0][4][0]["stats"], json!({"cpu_count": 2}));
    assert!(
        after.contains(&Action::Refresh),
        "the next figures are asked for"
    );
    // The disk guard trips: the next heartbeat says EMERGENCY.
    s.set_stats(json!({}), true);
    let t1 = t0 + HEARTBEAT;
    let beat = sent(&s.on_input(Input::Tick, t1));
    assert_eq!(beat[0][4][0]["status"], "EMERGENCY");
}

#[test]
fn issue19_session_heartbeat_period_is_configurable() {
    let t0 = Instant::now();
    let (s, _) = Session::start(identity(), SecretString::from("x"), vec![], t0);
    let mut s = s.with_heartbeat(Duration::from_millis(500));
    s.on_input(Input::Text(r#"[4,"wampcra",{"challenge":"c"}]"#), t0);
    let msgs = sent(&s.on_input(Input::Text(r#"[2,5,{}]"#), t0));
    answer_all(&mut s, &msgs, t0);
    assert_eq!(s.next_wake(), Some(t0 + Duration::from_millis(500)));
}

#[test]
fn issue19_session_idle_wakes_only_for_the_heartbeat() {
    let t0 = Instant::now();
    let (mut s, msgs) = joined(t0);
    let connected = sent(&answer_all(&mut s, &msgs, t0));
    let hb = connected[0][1].as_u64().unwrap();
    assert!(s
        .on_input(Input::Text(&format!("[50,{hb},{{}}]")), t0)
        .is_empty());
    assert_eq!(
        s.next_wake(),
        Some(t0 + HEARTBEAT),
        "idle: the heartbeat alone"
    );
    let beat = sent(&s.on_input(Input::Tick, t0 + HEARTBEAT));
    assert_eq!(beat.len(), 1);
    assert_eq!(beat[0][3], "reswarm.devices.update_device_status");
    assert_eq!(beat[0][4][0]["status"], "CONNECTED");
    // A tick early changes nothing.
    assert!(s
        .on_input(Input::Tick, t0 + HEARTBEAT + Duration::from_secs(1))
        .is_empty());
}

#[test]
fn issue19_session_two_failed_heartbeats_end_it() {
    let t0 = Instant::now();
    let (mut s, msgs) = joined(t0);
    let hb = request_of(&msgs, 48, 3, "reswarm.devices.update_device_status");
    // First failure: an ERROR reply. The session goes on, with a warning.
    let a = s.on_input(
        Input::Text(&format!(r#"[8,48,{hb},{{}},"wamp.error.runtime_error"]"#)),
        t0,
    );
    assert!(matches!(a[0], Action::Warn(_)), "{a:?}");
    assert!(ends(&a).is_none());
    // Second: no answer within the call timeout.
    let t1 = t0 + HEARTBEAT;
    let beat = beats(&s.on_input(Input::Tick, t1));
    assert_eq!(beat[0][3], "reswarm.devices.update_device_status");
    let a = s.on_input(Input::Tick, t1 + CALL_TIMEOUT);
    assert_eq!(ends(&a), Some(&End::HeartbeatFailed));
    assert_eq!(s.next_wake(), None);
}

#[test]
fn issue19_session_a_good_heartbeat_resets_the_count() {
    let t0 = Instant::now();
    let (mut s, msgs) = joined(t0);
    let hb = request_of(&msgs, 48, 3, "reswarm.devices.update_device_status");
    s.on_input(Input::Text(&format!(r#"[8,48,{hb},{{}},"x.y"]"#)), t0);
    let t1 = t0 + HEARTBEAT;
    let beat = beats(&s.on_input(Input::Tick, t1));
    let hb = beat[0][1].as_u64().unwrap();
    s.on_input(Input::Text(&format!("[50,{hb},{{}}]")), t1);
    let t2 = t1 + HEARTBEAT;
    let beat = beats(&s.on_input(Input::Tick, t2));
    let hb = beat[0][1].as_u64().unwrap();
    let a = s.on_input(Input::Text(&format!(r#"[8,48,{hb},{{}},"x.y"]"#)), t2);
    assert!(
        ends(&a).is_none(),
        "one failure after a success is not two in a row"
    );
}

#[test]
fn issue19_session_wrong_secret_is_a_clear_end() {
    let t0 = Instant::now();
    let (mut s, _) = Session::start(identity(), SecretString::from("x"), vec![], t0);
    s.on_input(Input::Text(r#"[4,"wampcra",{"challenge":"c"}]"#), t0);
    let a = s.on_input(
        Input::Text(
            r#"[3,{"message":"WAMP-CRA client signature is invalid"},"wamp.error.not_authorized"]"#,
        ),
        t0,
    );
    let e = ends(&a).unwrap();
    assert!(matches!(e, End::BadSecret(_)));
    assert!(e.to_string().contains(".flock `secret`"), "{e}");
}

#[test]
fn issue19_session_join_timeout_and_protocol_errors() {
    let t0 = Instant::now();
    let (mut s, _) = Session::start(identity(), SecretString::from("x"), vec![], t0);
    assert_eq!(s.next_wake(), Some(t0 + JOIN_TIMEOUT));
    assert_eq!(
        ends(&s.on_input(Input::Tick, t0 + JOIN_TIMEOUT)),
        Some(&End::JoinTimeout)
    );

    let (mut s, _) = Session::start(identity(), SecretString::from("x"), vec![], t0);
    let a = s.on_input(Input::Text("[68, 1, 2, {}]"), t0);
    assert_eq!(sent(&a)[0][2], "wamp.error.protocol_violation");
    assert!(matches!(ends(&a), Some(End::Protocol(m)) if m.contains("INVOCATION before WELCOME")));

    let (mut s, _) = joined(t0);
    let a = s.on_input(Input::Text("not json"), t0);
    assert_eq!(sent(&a)[0][0], 3, "ABORT");
    assert!(matches!(ends(&a), Some(End::Protocol(_))));
    // Ended: input is ignored.
    assert!(s.on_input(Input::Text("[2,1,{}]"), t0).is_empty());
}

#[test]
fn issue19_session_duplicate_serial_ends_it() {
    let t0 = Instant::now();
    let (mut s, msgs) = welcomed(t0);
    let guard = request_of(&msgs, 64, 3, "re.mgmt.SER1.wamp_connection_established");
    let a = s.on_input(
        Input::Text(&format!(
            r#"[8,64,{guard},{{}},"wamp.error.procedure_already_exists"]"#
        )),
        t0,
    );
    assert_eq!(ends(&a), Some(&End::DuplicateSerial("SER1".into())));
}

#[test]
fn issue19_session_routes_invocations_and_replies_like_reagent() {
    let t0 = Instant::now();
    let (mut s, msgs) = joined(t0);
    let exec = request_of(&msgs, 64, 3, "re.mgmt.SER1.execute_cmd");
    s.on_input(Input::Text(&format!("[65,{exec},501]")), t0);
    // The guard goes to the pump too (its privilege check), like every procedure.
    let a = s.on_input(Input::Text("[68,10,500,{}]"), t0);
    assert!(
        matches!(&a[..], [Action::Invoke { request: 10, name, .. }] if name == GUARD),
        "{a:?}"
    );
    // A registered procedure goes to the pump, with the caller's details.
    let a = s.on_input(
        Input::Text(r#"[68,11,501,{"caller_authid":"system"},[{"cmd":"ls"}]]"#),
        t0,
    );
    assert_eq!(
        a,
        vec![Action::Invoke {
            request: 11,
            name: "execute_cmd".into(),
            details: json!({"caller_authid": "system"})
                .as_object()
                .unwrap()
                .clone(),
            payload: Payload::args(vec![json!({"cmd": "ls"})]),
        }]
    );
    assert_eq!(
        serde_json::from_str::<Value>(&s.reply(11, Err("no arguments".into()))).unwrap(),
        json!([8, 68, 11, {}, "wamp.error.canceled", [{"error": "no arguments"}]])
    );
    assert_eq!(
        s.reply(11, Ok(Payload::args(vec![json!("out")]))),
        r#"[70,11,{},["out"]]"#
    );
    // An unknown registration is refused, not a crash.
    let a = sent(&s.on_input(Input::Text("[68,12,999,{}]"), t0));
    assert_eq!(a[0][4], "wamp.error.no_such_registration");
}

#[test]
fn issue19_session_pump_calls_complete_or_time_out() {
    let t0 = Instant::now();
    let (mut s, _) = joined(t0);
    let (r1, a) = s
        .call(
            "reswarm.devices.check_privilege",
            Payload::args(vec![json!({})]),
            t0,
        )
        .unwrap();
    let Action::Send(text) = a else { panic!() };
    assert!(text.starts_with(&format!("[48,{r1},")));
    let done = s.on_input(Input::Text(&format!("[50,{r1},{{}},[true]]")), t0);
    assert_eq!(
        done,
        vec![Action::CallDone {
            request: r1,
            outcome: Ok(Payload::args(vec![json!(true)]))
        }]
    );
    let (r2, _) = s.call("x.y", Payload::default(), t0).unwrap();
    let late = s.on_input(Input::Tick, t0 + CALL_TIMEOUT);
    assert!(late.iter().any(|a| matches!(a, Action::CallDone { request, outcome: Err((e, _)) } if *request == r2 && e == "outpost.timeout")));
    // Before WELCOME there is no call.
    let (mut fresh, _) = Session::start(identity(), SecretString::from("x"), vec![], t0);
    assert!(fresh.call("x.y", Payload::default(), t0).is_none());
}

#[test]
fn issue19_session_goodbye_is_answered() {
    let t0 = Instant::now();
    let (mut s, _) = joined(t0);
    let a = s.on_input(Input::Text(r#"[6,{},"wamp.close.system_shutdown"]"#), t0);
    assert_eq!(sent(&a)[0], json!([6, {}, "wamp.close.goodbye_and_out"]));
    assert_eq!(
        ends(&a),
        Some(&End::Goodbye("wamp.close.system_shutdown".into()))
    );
}
