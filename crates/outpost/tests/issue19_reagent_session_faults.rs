//! Issue 19, session faults: a second agent with the same serial number (Reagent's
//! duplicate-serial guard refuses the newcomer; the agent already joined keeps its
//! procedures), the router restarted (every procedure registered again, the guard in force
//! again), and hostile frames from a router of the test's own that speaks `wamp.2.json`
//! (malformed messages answered or refused per the WAMP spec, never a crash; a good
//! INVOCATION served afterwards). The wrong secret is `issue19_reagent.rs`'s.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// tungstenite's handshake callback returns its (large) error response by value.
#![allow(clippy::result_large_err)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{wait_until, Agent, Options};
use futures_util::{SinkExt, StreamExt};
use outpost_test_support::crossbar::{Backend, Crossbar};
use outpost_test_support::reagent::{self, principals, Reply};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

const SERIAL: &str = "SER4";

fn flock(dir: &Path, url: &str) -> PathBuf {
    reagent::flock(dir, url, SERIAL, json!({"name": "edge-4"}))
}

/// Calls `name` until the device has registered it, then returns the outcome.
fn call(b: &mut Backend, name: &str) -> Reply {
    reagent::call_registered(
        b,
        SERIAL,
        name,
        json!([]),
        json!({}),
        Duration::from_secs(90),
    )
}

fn start(dir: &Path, url: &str) -> Agent {
    let f = flock(dir, url);
    Agent::start(
        Options::new(&dir.join("data"))
            .arg("--reagent-config")
            .arg(f.to_str().unwrap())
            // The reconnects between hostile sessions follow the uplinks' backoff; short here,
            // so seven refused sessions in a row cost seconds, not the default's minutes.
            .env("OUTPOST_UPLINK_BACKOFF_INITIAL_MS", "100")
            .env("OUTPOST_UPLINK_BACKOFF_MAX_MS", "400"),
    )
}

/// Procedures that answer without a container engine or a command.
const NO_ARGUMENTS: &[&str] = &[
    "wamp_connection_established",
    "device_handshake",
    "get_agent_metadata",
    "get_storage_data",
    "get_ipv4_addresses",
    "list_ethernet_devices",
];

#[test]
fn issue19_reagent_duplicate_serial_and_router_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut router = Crossbar::start(&principals());
    let mut backend = Backend::start(&router, &principals()[1], &[]);
    let first = start(&dir.path().join("a"), &router.url());
    for name in NO_ARGUMENTS {
        assert!(call(&mut backend, name).is_ok(), "{name}");
    }
    let session_of = |b: &Backend| {
        b.calls_to("reswarm.devices.update_device_status")
            .last()
            .map(|a| a[0]["wamp_session_id"].clone())
    };
    let first_session = session_of(&backend).unwrap();

    // A second agent with the same serial: the guard refuses it (Reagent's: the newcomer
    // gets procedure_already_exists), clearly, and it takes none of the first's
    // procedures on its way.
    let second = start(&dir.path().join("b"), &router.url());
    wait_until(
        "the second agent to be refused twice",
        Duration::from_secs(60),
        || {
            second
                .log_text()
                .matches("another agent is joined with serial number SER4")
                .count()
                >= 2
        },
    );
    for name in NO_ARGUMENTS {
        assert!(call(&mut backend, name).is_ok(), "{name}");
    }
    assert!(
        !first.log_text().contains("the router unregistered"),
        "the first agent lost a procedure"
    );
    assert!(!first.log_text().contains("another agent is joined"));
    // Only the first one heartbeats.
    let beats = backend.calls_to("reswarm.devices.update_device_status");
    assert!(beats
        .iter()
        .all(|a| a[0]["wamp_session_id"] == first_session));
    drop(second);

    // The router restarts: the first agent joins again, registers every procedure again
    // and the guard is in force again.
    let joins = backend.joins();
    router.restart();
    wait_until("the backend to rejoin", Duration::from_secs(90), || {
        backend.joins() > joins
    });
    for name in NO_ARGUMENTS {
        assert!(call(&mut backend, name).is_ok(), "{name} after the restart");
    }
    assert_ne!(session_of(&backend).unwrap(), first_session);
    let third = start(&dir.path().join("c"), &router.url());
    wait_until(
        "a third agent to be refused",
        Duration::from_secs(60),
        || {
            third
                .log_text()
                .contains("another agent is joined with serial number SER4")
        },
    );
    assert!(call(&mut backend, "device_handshake").is_ok());
    assert!(first.log_text().contains("reagent: session ended"));
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// The next text frame as JSON; `None` once the agent closed or went quiet for 30 s.
async fn next(ws: &mut Ws) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => return None,
            Ok(Some(Ok(_))) => continue,
        }
    }
}

async fn send(ws: &mut Ws, v: String) {
    let _ = ws.send(Message::text(v)).await;
}

/// One connection of the hostile router: the join, registrations and calls answered, then
/// `hostile` frames, then (when the agent is still there) a good INVOCATION of
/// `device_handshake`. Returns what the agent sent after the hostile frames.
async fn hostile_session(
    listener: &tokio::net::TcpListener,
    hostile: &[&str],
    serve: bool,
) -> Vec<Value> {
    let (tcp, _) = tokio::time::timeout(Duration::from_secs(90), listener.accept())
        .await
        .expect("the agent to connect")
        .unwrap();
    let mut ws = tokio_tungstenite::accept_hdr_async(tcp, |_: &Request, mut resp: Response| {
        resp.headers_mut()
            .insert("Sec-WebSocket-Protocol", "wamp.2.json".parse().unwrap());
        Ok(resp)
    })
    .await
    .unwrap();
    let mut registrations: std::collections::HashMap<String, u64> = Default::default();
    let hello = next(&mut ws).await.unwrap();
    assert_eq!(hello[0], 1);
    send(
        &mut ws,
        json!([4, "wampcra", {"challenge": "{\"nonce\": \"n\"}"}]).to_string(),
    )
    .await;
    let auth = next(&mut ws).await.unwrap();
    assert_eq!(auth[0], 5);
    send(
        &mut ws,
        json!([2, 77, {"roles": {"broker": {}, "dealer": {}}}]).to_string(),
    )
    .await;
    // Answer everything until device_handshake is registered.
    let mut n = 1000u64;
    while !registrations.contains_key("device_handshake") {
        let m = next(&mut ws).await.expect("the agent's registrations");
        n += 1;
        let reply = match m[0].as_u64().unwrap() {
            64 => {
                let name = m[3]
                    .as_str()
                    .unwrap()
                    .rsplit('.')
                    .next()
                    .unwrap()
                    .to_owned();
                registrations.insert(name, n);
                json!([65, m[1], n])
            }
            48 => json!([50, m[1], {}]),
            32 => json!([33, m[1], n]),
            _ => continue,
        };
        send(&mut ws, reply.to_string()).await;
    }
    for h in hostile {
        send(&mut ws, (*h).to_owned()).await;
    }
    let mut seen = Vec::new();
    if serve {
        let reg = registrations["device_handshake"];
        // The backend's own caller passes the privilege check (Reagent's rule).
        let details = json!({"caller_authid": "system"});
        send(&mut ws, json!([68, 5, reg, details]).to_string()).await;
    }
    // What the agent says until it answers the good INVOCATION or goes away.
    while let Some(m) = next(&mut ws).await {
        let done = (m[0] == 70 && m[1] == 5) || (m[0] == 8 && m[1] == 68 && m[2] == 5);
        match m[0].as_u64() {
            Some(48) => send(&mut ws, json!([50, m[1], {}]).to_string()).await,
            Some(64) => send(&mut ws, json!([65, m[1], 9000 + seen.len()]).to_string()).await,
            Some(32) => send(&mut ws, json!([33, m[1], 9000 + seen.len()]).to_string()).await,
            _ => {}
        }
        seen.push(m);
        if done {
            break;
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn issue19_reagent_hostile_frames_never_crash_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let mut agent = start(dir.path(), &url);

    // Answered or ignored, the session goes on: a RESULT for a request never made, an
    // INVOCATION for a registration never made, an EVENT for no subscription, an
    // UNREGISTERED nobody asked for, an ERROR for an unknown request.
    let seen = hostile_session(
        &listener,
        &[
            r#"[50, 987654, {}, ["late"]]"#,
            r#"[68, 11, 424242, {}, [1]]"#,
            r#"[36, 5555, 1, {}, ["x"]]"#,
            r#"[67, 0, {"registration": 31337, "reason": "wamp.close.killed"}]"#,
            r#"[8, 48, 987655, {}, "wamp.error.runtime_error"]"#,
        ],
        true,
    )
    .await;
    let no_such = seen
        .iter()
        .find(|m| m[0] == 8 && m[1] == 68 && m[2] == 11)
        .unwrap_or_else(|| panic!("an ERROR for the unknown registration: {seen:?}"));
    assert_eq!(no_such[4], "wamp.error.no_such_registration");
    let good = seen.last().unwrap();
    assert_eq!(good[0], 70, "{seen:?}");
    assert_eq!(good[3], json!([]), "{good}");
    assert_eq!(good[4]["id"], SERIAL, "{good}");

    // Malformed frames are a protocol violation (WAMP: ABORT, then the connection is
    // closed); the agent comes back and serves again.
    for bad in [
        r#"{"not": "an array"}"#,
        r#"[68, 12, 1, {}"#,
        r#"[68, "twelve", 1, {}]"#,
        r#"[999, 1, 2]"#,
        r#"[68, 9007199254740993, 1, {}]"#,
        r#"[]"#,
    ] {
        let seen = hostile_session(&listener, &[bad], false).await;
        let abort = seen
            .iter()
            .find(|m| m[0] == 3)
            .unwrap_or_else(|| panic!("{bad}: an ABORT: {seen:?}"));
        assert_eq!(abort[2], "wamp.error.protocol_violation", "{bad}");
    }
    let seen = hostile_session(&listener, &[], true).await;
    assert_eq!(seen.last().unwrap()[0], 70, "served after all: {seen:?}");
    // The agent's log is read on a thread of the harness: wait for it to catch up.
    tokio::task::block_in_place(|| {
        wait_until(
            "six protocol violations logged",
            Duration::from_secs(30),
            || {
                agent
                    .log_text()
                    .matches("session ended: protocol violation")
                    .count()
                    >= 6
            },
        )
    });
    let log = agent.log_text();
    assert!(!log.contains("panicked"), "{log}");
    agent.sigterm();
    let st = agent.wait_exit(Duration::from_secs(30));
    assert!(st.success(), "{st:?}");
}
