//! Issue 19: the Crossbar harness is a real WAMP router, and our `wamp.2.json` codec and
//! WAMP-CRA signature speak to it: a device principal joins with the right secret (HELLO,
//! CHALLENGE, AUTHENTICATE, WELCOME), is refused with a wrong one (ABORT naming the
//! signature), registers a procedure the Python backend then calls, and calls the backend's
//! `reswarm.devices.*`. A router restart drops the session and the backend rejoins.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use outpost_proto::wamp::{hello_details, CraChallenge, Dict, Message, Payload, SUBPROTOCOL};
use outpost_test_support::crossbar::{Backend, Crossbar, Principal};
use outpost_test_support::wait::wait_until;
use serde_json::json;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message as Ws};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const DEVICE: &str = "7-42";
const SECRET: &str = "device-secret";

fn principals() -> Vec<Principal> {
    vec![
        Principal::new(DEVICE, SECRET, "device"),
        Principal::new("system", "backend-secret", "backend"),
    ]
}

async fn send(ws: &mut Socket, m: &Message) {
    ws.send(Ws::text(m.encode())).await.unwrap();
}

async fn recv(ws: &mut Socket) -> Message {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a WAMP message within 30 s")
            .expect("the router closed the connection")
            .unwrap();
        if let Ws::Text(t) = frame {
            return Message::decode(t.as_bytes()).unwrap();
        }
    }
}

/// HELLO → CHALLENGE → AUTHENTICATE; returns the router's answer (WELCOME or ABORT).
async fn join(url: &str, secret: &str) -> (Socket, Message) {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", SUBPROTOCOL.parse().unwrap());
    let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(
        resp.headers()["Sec-WebSocket-Protocol"],
        SUBPROTOCOL,
        "the router speaks wamp.2.json"
    );
    send(
        &mut ws,
        &Message::Hello {
            realm: "realm1".into(),
            details: hello_details(DEVICE, &["wampcra"]),
        },
    )
    .await;
    let Message::Challenge { method, extra } = recv(&mut ws).await else {
        panic!("expected a CHALLENGE");
    };
    assert_eq!(method, "wampcra");
    let signature = CraChallenge::from_extra(&extra)
        .unwrap()
        .sign(secret.as_bytes());
    send(
        &mut ws,
        &Message::Authenticate {
            signature,
            extra: Dict::new(),
        },
    )
    .await;
    let answer = recv(&mut ws).await;
    (ws, answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue19_codec_joins_crossbar_and_serves_the_backend() {
    let router = Crossbar::start(&principals());
    let (_, refused) = join(&router.url(), "wrong-secret").await;
    let Message::Abort { reason, details } = refused else {
        panic!("a wrong secret must be refused, got {refused:?}");
    };
    assert_eq!(reason, "wamp.error.not_authorized");
    assert!(
        details["message"]
            .as_str()
            .unwrap_or_default()
            .contains("WAMP-CRA client signature is invalid"),
        "{details:?}"
    );

    let (mut ws, welcome) = join(&router.url(), SECRET).await;
    let Message::Welcome { session, details } = welcome else {
        panic!("expected WELCOME, got {welcome:?}");
    };
    assert!(session > 0);
    assert_eq!(details["authid"], DEVICE);
    assert_eq!(details["authrole"], "device");

    let backend_principal = principals()[1].clone();
    let mut backend =
        tokio::task::block_in_place(|| Backend::start(&router, &backend_principal, &[99]));

    // The device calls the backend (Reagent's heartbeat procedure).
    send(
        &mut ws,
        &Message::Call {
            request: 1,
            options: Dict::new(),
            procedure: "reswarm.devices.update_device_status".into(),
            payload: Payload::args(vec![
                json!({"swarm_key": 7, "device_key": 42, "status": "CONNECTED"}),
            ]),
        },
    )
    .await;
    let Message::Result {
        request: 1,
        payload,
        ..
    } = recv(&mut ws).await
    else {
        panic!("expected RESULT 1");
    };
    assert_eq!(payload.args[0]["reswarmBaseURL"], "https://studio.test");
    assert_eq!(
        backend.calls_to("reswarm.devices.update_device_status"),
        vec![json!([{"swarm_key": 7, "device_key": 42, "status": "CONNECTED"}])]
    );

    // The device registers; the backend calls it; its caller is disclosed.
    send(
        &mut ws,
        &Message::Register {
            request: 2,
            options: Dict::new(),
            procedure: "re.mgmt.SERIAL.ping".into(),
        },
    )
    .await;
    let Message::Registered { request: 2, .. } = recv(&mut ws).await else {
        panic!("expected REGISTERED 2");
    };
    let call = tokio::task::spawn_blocking(move || {
        let r = backend.call("re.mgmt.SERIAL.ping", json!([1, "two"]), json!({"k": true}));
        (backend, r)
    });
    let Message::Invocation {
        request,
        details,
        payload,
        ..
    } = recv(&mut ws).await
    else {
        panic!("expected INVOCATION");
    };
    assert_eq!(details["caller_authid"], "system");
    assert_eq!(payload.args, vec![json!(1), json!("two")]);
    assert_eq!(payload.kwargs["k"], true);
    send(
        &mut ws,
        &Message::Yield {
            request,
            options: Dict::new(),
            payload: Payload::args(vec![json!("pong")]),
        },
    )
    .await;
    let (mut backend, r) = call.await.unwrap();
    assert_eq!(r, Ok((json!(["pong"]), json!({}))));

    // An error reply reaches the backend as the URI and args we sent.
    let call = tokio::task::spawn_blocking(move || {
        let r = backend.call("re.mgmt.SERIAL.ping", json!([]), json!({}));
        (backend, r)
    });
    let Message::Invocation { request, .. } = recv(&mut ws).await else {
        panic!("expected INVOCATION");
    };
    send(
        &mut ws,
        &Message::Error {
            request_type: 68,
            request,
            details: Dict::new(),
            error: "wamp.error.canceled".into(),
            payload: Payload::args(vec![json!({"error": "no arguments"})]),
        },
    )
    .await;
    let (backend, r) = call.await.unwrap();
    assert_eq!(
        r,
        Err((
            "wamp.error.canceled".into(),
            json!([{"error": "no arguments"}]),
            json!({})
        ))
    );

    // The router restarts: our socket closes, the backend rejoins and re-registers.
    let mut router = router;
    let joins_before = backend.joins();
    tokio::task::block_in_place(|| router.restart());
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Ws::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the router restart closes the device's socket"
    );
    tokio::task::block_in_place(|| {
        wait_until("the backend to rejoin", Duration::from_secs(60), || {
            backend.joins() > joins_before
        })
    });
    let (_ws, again) = join(&router.url(), SECRET).await;
    assert!(matches!(again, Message::Welcome { .. }), "{again:?}");
}
