//! The MQTT session machine driven by scripted link events and a fake request queue.
//! Delivery across a reconnect runs on a real store (a temporary SQLite file).

use std::sync::Arc;

use outpost_core::{CoreMetrics, Event, OutboxItem, OutboxRow, Store, StoreConfig};
use outpost_proto::Message;
use rumqttc::QoS;

use super::*;
use crate::uplink::{delivery::Delivery, events::Reporter, UplinkCode, UplinkMetrics};

/// rumqttc's request queue, scripted: `room` requests fit until the next "poll" (a test
/// sets `room` again), and it can be broken.
#[derive(Default)]
struct FakeQueue {
    room: usize,
    broken: bool,
    took: Vec<Req>,
}

#[derive(Debug, Clone, PartialEq)]
enum Req {
    Sub(String),
    Pub {
        topic: String,
        retain: bool,
        payload: Vec<u8>,
    },
    Ack(u16),
}

impl RequestQueue for FakeQueue {
    fn try_publish(
        &mut self,
        topic: &str,
        retain: bool,
        payload: Vec<u8>,
    ) -> Result<(), NotQueued> {
        if self.broken {
            return Err(NotQueued::Broken);
        }
        if self.room == 0 {
            return Err(NotQueued::Full(payload));
        }
        self.room -= 1;
        self.took.push(Req::Pub {
            topic: topic.into(),
            retain,
            payload,
        });
        Ok(())
    }
    fn try_ack(&mut self, job: &Inbound) -> bool {
        if self.room == 0 {
            return false;
        }
        self.room -= 1;
        let Inbound::V311(p) = job else {
            panic!("tests use 3.1.1 packets")
        };
        self.took.push(Req::Ack(p.pkid));
        true
    }
    fn try_subscribe(&mut self, filter: &str) -> bool {
        if self.room == 0 {
            return false;
        }
        self.room -= 1;
        self.took.push(Req::Sub(filter.into()));
        true
    }
}

impl FakeQueue {
    fn with_room(room: usize) -> Self {
        FakeQueue {
            room,
            ..Default::default()
        }
    }
    /// What was taken since the last call.
    fn take(&mut self) -> Vec<Req> {
        std::mem::take(&mut self.took)
    }
}

fn session(pool: Option<&str>, slots: usize) -> (MqttSession, Reporter) {
    let rep = Reporter::new("mqtt", UplinkMetrics::default());
    let s = MqttSession::new(
        Config {
            agent_id: "a1".into(),
            pool: pool.map(Into::into),
            storing_slots: slots,
        },
        rep.clone(),
    );
    (s, rep)
}

fn job(pkid: u16, payload: impl Into<Vec<u8>>) -> Inbound {
    let mut p = rumqttc::Publish::new("outpost/a1/jobs", QoS::AtLeastOnce, payload);
    p.pkid = pkid;
    Inbound::V311(p)
}

fn pkid(j: &Inbound) -> u16 {
    match j {
        Inbound::V311(p) => p.pkid,
        Inbound::V5(p) => p.pkid,
    }
}

fn row(seq: u64) -> Arc<OutboxRow> {
    Arc::new(OutboxRow {
        seq,
        created_at: 0,
        item: OutboxItem::Event(Event::new("t", serde_json::json!({ "i": seq }))),
    })
}

fn seq_of(r: &Req) -> Option<u64> {
    match r {
        Req::Pub { topic, payload, .. } if topic == "outpost/a1/events" => {
            let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
            v["seq"].as_u64()
        }
        _ => None,
    }
}

fn counter(rep: &Reporter, f: impl Fn(&UplinkMetrics) -> u64) -> u64 {
    f(rep.metrics())
}

fn sent(rep: &Reporter) -> u64 {
    counter(rep, |m| {
        m.sent.get_or_create(&UplinkMetrics::label("mqtt")).get()
    })
}

fn rejected(rep: &Reporter, code: &str) -> u64 {
    counter(rep, |m| {
        m.rejected
            .get_or_create(&UplinkCode {
                uplink: "mqtt".into(),
                code: code.into(),
            })
            .get()
    })
}

/// CONNACK, then the greeting flushed and the SUBACKs: the session is up.
fn connect(s: &mut MqttSession, q: &mut FakeQueue, subacks: usize) {
    assert!(matches!(
        s.on_event(Input::Link(LinkEvent::Connected)),
        Step::Continue
    ));
    s.flush(q).unwrap();
    for i in 0..subacks {
        let step = s.on_event(Input::Link(LinkEvent::Subscribed(Ok(()))));
        assert_eq!(
            matches!(step, Step::Up),
            i + 1 == subacks,
            "up only once every job subscription is acknowledged"
        );
    }
}

/// rumqttc reports each queued publish leaving, with its packet id, in queue order.
fn leave(s: &mut MqttSession, pkids: impl IntoIterator<Item = u16>) {
    for p in pkids {
        assert!(matches!(
            s.on_event(Input::Link(LinkEvent::Sent(p))),
            Step::Continue
        ));
    }
}

fn open_store(dir: &tempfile::TempDir) -> Store {
    Store::open(
        StoreConfig::new(dir.path().join("s.db")),
        CoreMetrics::default(),
    )
    .unwrap()
    .0
}

async fn append_events(store: &Store, n: usize) {
    for i in 0..n {
        store
            .append_event(Event::new("t", serde_json::json!({ "i": i })))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn issue12_mqtt_session_connect_subscribe_deliver_ack_then_reconnect_resends_from_the_cursor()
{
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let (mut s, rep) = session(Some("p1"), 4);
    // A new consumer starts at the newest row: open it first, then append.
    let mut delivery = Delivery::open(store.clone(), rep.clone(), 8, 16)
        .await
        .unwrap();
    append_events(&store, 3).await;
    let mut q = FakeQueue::with_room(100);

    assert!(!s.wants_rows(), "no rows before the broker accepted us");
    connect(&mut s, &mut q, 2);
    let greeting = q.take();
    assert_eq!(greeting[0], Req::Sub("outpost/a1/jobs".into()));
    assert_eq!(
        greeting[1],
        Req::Sub("$share/p1/outpost/pool/p1/jobs".into())
    );
    assert!(
        matches!(&greeting[2], Req::Pub { topic, retain: true, payload } if topic == "outpost/a1/status" && String::from_utf8_lossy(payload).contains("\"online\"")),
        "{greeting:?}"
    );

    // The window is read and published in seq order.
    assert!(s.wants_rows());
    let rows = delivery.next().await.unwrap();
    assert_eq!(rows.len(), 3);
    s.on_event(Input::Rows(rows));
    s.flush(&mut q).unwrap();
    let published: Vec<u64> = q.take().iter().filter_map(seq_of).collect();
    assert_eq!(published, [1, 2, 3]);
    assert_eq!(sent(&rep), 3);

    // Packet ids: 10 for the status, 11..13 for the rows. Only row 1's PUBACK arrives.
    leave(&mut s, 10..14);
    assert!(matches!(
        s.on_event(Input::Link(LinkEvent::Delivered(10, None))),
        Step::Continue
    ));
    let Step::Acked(seq) = s.on_event(Input::Link(LinkEvent::Delivered(11, None))) else {
        panic!("a PUBACK for an outbox row moves the cursor")
    };
    assert_eq!(seq, 1);
    delivery.ack_one(seq);
    assert!(s.productive());

    // The connection drops: a transient end.
    let Step::End(end) = s.on_event(Input::Lost(LinkError::Connection("reset".into()))) else {
        panic!("a lost connection ends the session")
    };
    assert_eq!(end.severity(), Severity::Transient);
    assert_eq!(delivery.commit().await.unwrap(), 1);

    // The next session resends what was not acknowledged, from the cursor.
    let (mut s, _) = session(Some("p1"), 4);
    delivery.restart();
    assert_eq!(delivery.cursor(), 1);
    connect(&mut s, &mut q, 2);
    q.take();
    s.on_event(Input::Rows(delivery.next().await.unwrap()));
    s.flush(&mut q).unwrap();
    let again: Vec<u64> = q.take().iter().filter_map(seq_of).collect();
    assert_eq!(again, [2, 3]);
}

#[test]
fn issue12_mqtt_session_full_request_queue_parks_rows_and_resumes_in_order() {
    let (mut s, rep) = session(None, 4);
    let mut q = FakeQueue::with_room(10);
    connect(&mut s, &mut q, 1);
    q.take();

    q.room = 2;
    s.on_event(Input::Rows((1..=5).map(row).collect()));
    s.flush(&mut q).unwrap();
    let first: Vec<u64> = q.take().iter().filter_map(seq_of).collect();
    assert_eq!(first, [1, 2]);
    assert_eq!(sent(&rep), 2, "only rows rumqttc took count as sent");
    assert!(
        !s.wants_rows(),
        "rows parked for room are not read again from the store"
    );

    // Nothing fits: nothing is lost, and nothing waits on the queue.
    s.flush(&mut q).unwrap();
    assert!(q.take().is_empty());

    // The next poll made room: the parked rows go, in order, and reading resumes.
    q.room = 10;
    s.flush(&mut q).unwrap();
    let rest: Vec<u64> = q.take().iter().filter_map(seq_of).collect();
    assert_eq!(rest, [3, 4, 5]);
    assert_eq!(sent(&rep), 5);
    assert!(s.wants_rows());
}

#[test]
fn issue12_mqtt_session_too_large_job_is_rejected_and_acknowledged_without_storing() {
    let (mut s, rep) = session(None, 4);
    let mut q = FakeQueue::with_room(10);
    connect(&mut s, &mut q, 1);
    q.take();

    let id = "0190f5b2-6a8e-7c3d-9f1a-2b3c4d5e6f70";
    let mut big = format!(r#"{{"type":"job","id":"{id}","kind":"echo","params":""#).into_bytes();
    big.resize(outpost_proto::envelope::MAX_MESSAGE_BYTES + 10, b'x');
    assert!(matches!(
        s.on_event(Input::Link(LinkEvent::Job(job(7, big)))),
        Step::Continue
    ));
    assert!(s.next_job().is_none(), "never handed to a storing task");
    assert!(s.productive());
    s.flush(&mut q).unwrap();
    let took = q.take();
    assert_eq!(took[0], Req::Ack(7), "acknowledged, so never redelivered");
    let Req::Pub { topic, payload, .. } = &took[1] else {
        panic!("{took:?}")
    };
    assert_eq!(topic, "outpost/a1/results");
    let reply = Message::decode(payload).unwrap();
    assert!(
        matches!(&reply, Message::Error { code, about: Some(a), .. } if code == "too_large" && a == id),
        "{reply:?}"
    );
    assert_eq!(rejected(&rep, "too_large"), 1);
}

#[test]
fn issue12_mqtt_session_end_severity_comes_from_the_kind() {
    let (mut s, _) = session(Some("p1"), 4);
    let mut q = FakeQueue::with_room(10);
    assert!(matches!(
        s.on_event(Input::Link(LinkEvent::Connected)),
        Step::Continue
    ));
    s.flush(&mut q).unwrap();
    let Step::End(end) = s.on_event(Input::Link(LinkEvent::Subscribed(Err(
        SubscriptionRefused::Reason("NotAuthorized".into()),
    )))) else {
        panic!("a refused job subscription ends the session")
    };
    assert_eq!(end.severity(), Severity::Refused);
    assert!(end
        .to_string()
        .contains("subscription refused: NotAuthorized"));
    assert!(end.summary().contains("ACLs"));

    let bad_login = End::Link(LinkError::Refused("BadUserNamePassword".into()));
    assert_eq!(bad_login.severity(), Severity::Refused);
    assert!(
        bad_login.to_string().contains("refused the connection"),
        "the text issue5_mqtt reads"
    );
    assert_eq!(
        End::Link(LinkError::Connection("reset".into())).severity(),
        Severity::Transient,
        "the same enum, another kind: a warning"
    );
    assert_eq!(End::Shutdown.severity(), Severity::Quiet);

    // A publish the broker refused (MQTT 5 PUBACK) names its seq and ends the session.
    let (mut s, _) = session(None, 4);
    connect(&mut s, &mut q, 1);
    q.take();
    s.on_event(Input::Rows(vec![row(42)]));
    s.flush(&mut q).unwrap();
    leave(&mut s, [1, 2]);
    let Step::End(end) = s.on_event(Input::Link(LinkEvent::Refused(2, "QuotaExceeded".into())))
    else {
        panic!("a refused publish ends the session")
    };
    assert_eq!(end.severity(), Severity::Refused);
    assert!(end.to_string().contains("seq 42"), "{end}");
}

#[test]
fn issue12_mqtt_session_broker_dropped_publish_is_acknowledged_and_counted() {
    let (mut s, rep) = session(None, 4);
    let mut q = FakeQueue::with_room(10);
    connect(&mut s, &mut q, 1);
    s.on_event(Input::Rows(vec![row(5)]));
    s.flush(&mut q).unwrap();
    leave(&mut s, [1, 2]);
    let step = s.on_event(Input::Link(LinkEvent::Delivered(
        2,
        Some("no_matching_subscribers"),
    )));
    assert!(matches!(step, Step::Acked(5)), "{step:?}");
    let dropped = rep
        .metrics()
        .broker_dropped
        .get_or_create(&UplinkCode {
            uplink: "mqtt".into(),
            code: "no_matching_subscribers".into(),
        })
        .get();
    assert_eq!(dropped, 1);
}

#[test]
fn issue12_mqtt_session_heartbeats_do_not_pile_up_behind_a_full_queue() {
    let (mut s, _) = session(None, 4);
    let mut q = FakeQueue::with_room(10);
    connect(&mut s, &mut q, 1);
    q.take();
    q.room = 0;
    for _ in 0..5 {
        s.on_event(Input::Heartbeat);
        s.flush(&mut q).unwrap();
    }
    q.room = 10;
    s.flush(&mut q).unwrap();
    let took = q.take();
    assert_eq!(took.len(), 1, "one pending status at most: {took:?}");
}

/// Regression (1018a6f): storing tasks awaited rumqttc's request queue to PUBACK their job,
/// and only the session loop drains that queue, so under load everything stalled. A
/// stored job now only queues its PUBACK in the session, which offers it without waiting.
#[test]
fn issue12_mqtt_stall_when_storing_tasks_awaited_the_request_queue_for_their_ack() {
    let (mut s, _) = session(None, 8);
    let mut q = FakeQueue::with_room(10);
    connect(&mut s, &mut q, 1);
    q.take();
    for p in 1..=3 {
        s.on_event(Input::Link(LinkEvent::Job(job(p, "{}"))));
    }
    let jobs: Vec<Inbound> = std::iter::from_fn(|| s.next_job()).collect();
    assert_eq!(jobs.len(), 3);

    // The queue is full: stored jobs report back at once, and the loop goes on.
    q.room = 0;
    for j in jobs {
        assert!(matches!(
            s.on_event(Input::Stored {
                job: j,
                reply: None
            }),
            Step::Continue
        ));
        s.flush(&mut q).unwrap();
    }
    assert!(q.take().is_empty());
    assert!(
        matches!(
            s.on_event(Input::Link(LinkEvent::Delivered(99, None))),
            Step::Continue
        ),
        "the session keeps taking events while its acks wait"
    );

    // Room again (the loop polled): the PUBACKs go, in the order the jobs were stored.
    q.room = 2;
    s.flush(&mut q).unwrap();
    assert_eq!(q.take(), [Req::Ack(1), Req::Ack(2)]);
    q.room = 10;
    s.flush(&mut q).unwrap();
    assert_eq!(q.take(), [Req::Ack(3)]);
}

/// Regression (197c8e6): the loop awaited a free storing slot when a job arrived, but slots
/// are freed by stored jobs coming back through that same loop: with pipelined jobs it
/// deadlocked. Jobs beyond the slots now wait in the session, and each returning job frees
/// a slot for the next.
#[test]
fn issue12_mqtt_stall_when_a_job_waited_for_a_storing_slot_inside_the_loop() {
    let (mut s, _) = session(None, 2);
    for p in 1..=3 {
        assert!(matches!(
            s.on_event(Input::Link(LinkEvent::Job(job(p, "{}")))),
            Step::Continue
        ));
    }
    let a = s.next_job().unwrap();
    let b = s.next_job().unwrap();
    assert!(s.next_job().is_none(), "both slots taken: the third waits");
    assert_eq!((pkid(&a), pkid(&b)), (1, 2));
    s.on_event(Input::Stored {
        job: a,
        reply: Some(Message::Heartbeat {}),
    });
    let c = s.next_job().expect("a returning job frees its slot");
    assert_eq!(pkid(&c), 3);
    assert!(s.next_job().is_none());
}

/// Regression (77ea72b): when rumqttc refused a publish for any reason but a full queue,
/// the session was handed back an empty payload and offered it again: an empty message
/// went out in the row's place. Now the session ends (the reconnect resends from the
/// store) and nothing empty is ever offered.
#[test]
fn issue12_mqtt_empty_payload_resent_after_rumqttc_refused_a_publish() {
    let (mut s, _) = session(None, 4);
    let mut q = FakeQueue::with_room(10);
    connect(&mut s, &mut q, 1);
    q.take();
    s.on_event(Input::Rows(vec![row(1), row(2)]));
    q.broken = true;
    let end = s.flush(&mut q).unwrap_err();
    assert!(matches!(end, End::QueueBroken), "{end}");
    assert_eq!(end.severity(), Severity::Transient);
    // The broken queue lets nothing in; were the session to go on, an empty payload would
    // be the first thing offered once it mended.
    q.broken = false;
    let _ = s.flush(&mut q);
    assert!(
        q.take()
            .iter()
            .all(|r| !matches!(r, Req::Pub { payload, .. } if payload.is_empty())),
        "no empty publish"
    );

    // Error replies take the same path.
    let (mut s, _) = session(None, 4);
    let mut q = FakeQueue::with_room(10);
    connect(&mut s, &mut q, 1);
    s.on_event(Input::Link(LinkEvent::Job(job(1, "{}"))));
    let j = s.next_job().unwrap();
    s.on_event(Input::Stored {
        job: j,
        reply: Some(Message::Error {
            code: "invalid".into(),
            message: "x".into(),
            about: None,
        }),
    });
    q.broken = true;
    assert!(matches!(s.flush(&mut q), Err(End::QueueBroken)));
}
