//! The test's side of the MQTT uplink: a control plane that publishes jobs and records every
//! message the agents send, across broker restarts (persistent session, QoS 1).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use outpost_proto::Message;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use crate::control_plane::{self, ErrorReply};

/// (topic, raw payload) of every publish received, in order.
pub type Log = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

pub struct Peer {
    pub client: AsyncClient,
    /// (topic, raw payload) of every publish received, in order.
    pub received: Log,
    /// SUBACKs seen; subscriptions are live once this reaches the number made.
    pub subacks: Arc<Mutex<usize>>,
    task: tokio::task::JoinHandle<()>,
}

impl Peer {
    pub async fn connect(port: u16, id: &str, filters: &[&str]) -> Peer {
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_clean_session(false);
        o.set_keep_alive(Duration::from_secs(5));
        o.set_max_packet_size(32 << 20, 32 << 20);
        o.set_inflight(1000);
        let (client, mut el) = AsyncClient::new(o, 20_000);
        let received: Log = Arc::default();
        let subacks: Arc<Mutex<usize>> = Arc::default();
        let (r, s) = (Arc::clone(&received), Arc::clone(&subacks));
        let (resub, topics) = (
            client.clone(),
            filters.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
        );
        let task = tokio::spawn(async move {
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => r
                        .lock()
                        .unwrap()
                        .push((p.topic.clone(), p.payload.to_vec())),
                    // A broker that lost our session: subscribe again, as real clients do.
                    Ok(Event::Incoming(Packet::ConnAck(c))) if !c.session_present => {
                        for t in &topics {
                            let _ = resub.try_subscribe(t.as_str(), QoS::AtLeastOnce);
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => *s.lock().unwrap() += 1,
                    Ok(_) => {}
                    // The broker is restarting: rumqttc reconnects on the next poll.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        for f in filters {
            client.subscribe(*f, QoS::AtLeastOnce).await.unwrap();
        }
        let p = Peer {
            client,
            received,
            subacks,
            task,
        };
        crate::wait::wait_for("peer subscriptions", Duration::from_secs(10), || async {
            *p.subacks.lock().unwrap() >= filters.len()
        })
        .await;
        p
    }

    pub async fn publish(&self, topic: &str, payload: Vec<u8>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }

    pub async fn job(&self, topic: &str, kind: &str, params: serde_json::Value) -> String {
        let id = uuid::Uuid::now_v7().to_string();
        let m = Message::Job {
            id: id.clone(),
            kind: kind.into(),
            params,
            timeout_ms: None,
        };
        self.publish(topic, m.encode()).await;
        id
    }

    /// Every decodable message received, with its topic.
    pub fn messages(&self) -> Vec<(String, Message)> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(t, b)| Some((t.clone(), Message::decode(b).ok()?)))
            .collect()
    }

    /// Every `error` received, in order.
    pub fn errors(&self) -> Vec<ErrorReply> {
        control_plane::errors(self.messages().into_iter().map(|(_, m)| m))
    }

    /// Result messages as (job id, seq, raw body).
    pub fn results(&self) -> Vec<(String, u64, serde_json::Value)> {
        self.messages()
            .into_iter()
            .filter_map(|(_, m)| match m {
                Message::Result { seq, result } => {
                    Some((result["id"].as_str()?.to_owned(), seq, result))
                }
                _ => None,
            })
            .collect()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every id in `ids` is among `results` (from one peer, or from several brokers' peers
/// together); duplicates carry the same seq and body as the first copy, and there are at
/// most `max_dups` of them.
pub fn check_delivery(
    results: impl IntoIterator<Item = (String, u64, serde_json::Value)>,
    ids: &[String],
    max_dups: usize,
) {
    let mut first: std::collections::HashMap<String, (u64, serde_json::Value)> =
        std::collections::HashMap::new();
    let mut dups = 0;
    for (id, seq, body) in results {
        match first.get(&id) {
            None => {
                first.insert(id, (seq, body));
            }
            Some((s, b)) => {
                dups += 1;
                assert_eq!(
                    (*s, b),
                    (seq, &body),
                    "a redelivery of {id} must be identical"
                );
            }
        }
    }
    let missing: Vec<_> = ids.iter().filter(|i| !first.contains_key(*i)).collect();
    assert!(
        missing.is_empty(),
        "{} results never arrived, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(3)]
    );
    assert!(
        dups <= max_dups,
        "{dups} duplicates, more than the unacknowledged windows allow ({max_dups})"
    );
    eprintln!("delivered {} results, {dups} duplicates", ids.len());
}
