//! Issue 20: two agents on a real three-node broker cluster (NATS with JetStream, its MQTT
//! listener on each node; sessions replicated over the cluster). The node each agent is
//! connected to is killed (SIGKILL) while results stream out, twice per agent, and restarted
//! after the agent has moved. Every result arrives, a redelivery is identical to the first
//! copy, and the agents end connected to live nodes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{collections::HashMap, time::Duration};

use common::{metric, mqtt_peer::Peer, nats::Cluster, wait_for, Agent, Options};

/// The node `a` is connected to, per its `/metrics`, once it is connected.
async fn node_of(a: &Agent, c: &Cluster) -> usize {
    let on = |m: &str| {
        (0..c.nodes.len()).find(|i| {
            metric(
                m,
                &format!(
                    "outpost_uplink_broker{{uplink=\"mqtt\",peer=\"127.0.0.1:{}\"}}",
                    c.nodes[*i].mqtt_port
                ),
            ) == 1.0
        })
    };
    wait_for("the agent on a node", Duration::from_secs(60), || async {
        let m = a.metrics().await;
        on(&m).is_some() && metric(&m, "outpost_uplink_connected{uplink=\"mqtt\"}") == 1.0
    })
    .await;
    on(&a.metrics().await).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue20_cluster_two_agents_ride_out_their_nodes_killed_twice_and_lose_no_result() {
    let mut cluster = Cluster::start(3);
    // One control-plane client per node, each with a persistent session: a result reaches
    // the test as long as one of them is up (only one node is down at a time).
    let mut peers = Vec::new();
    for i in 0..3 {
        peers.push(
            Peer::connect(
                cluster.nodes[i].mqtt_port,
                &format!("cp-{i}"),
                &["outpost/+/results"],
            )
            .await,
        );
    }
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let agents = [
        Agent::start(Options::new(dirs[0].path()).mqtt_uplink(&cluster.mqtt_urls(), "fleet-a")),
        Agent::start(Options::new(dirs[1].path()).mqtt_uplink(&cluster.mqtt_urls(), "fleet-b")),
    ];
    let mut ids: Vec<String> = Vec::new();
    let mut kills = 0;
    for _round in 0..2 {
        for a in &agents {
            // Results of both agents in flight while this one's node goes.
            ids.extend(agents[0].submit_echo_many(1250, 32).await);
            ids.extend(agents[1].submit_echo_many(1250, 32).await);
            let node = node_of(a, &cluster).await;
            let failovers = |m: &str| metric(m, "outpost_uplink_failovers_total{uplink=\"mqtt\"}");
            let before = failovers(&a.metrics().await);
            cluster.kill(node);
            kills += 1;
            wait_for(
                "the agent moved to a live node",
                Duration::from_secs(60),
                || async {
                    let m = a.metrics().await;
                    failovers(&m) > before
                        && metric(&m, "outpost_uplink_connected{uplink=\"mqtt\"}") == 1.0
                },
            )
            .await;
            assert_ne!(node_of(a, &cluster).await, node);
            cluster.restart(node);
        }
    }
    assert_eq!(kills, 4);
    assert_eq!(ids.len(), 10_000, "every submission was accepted");
    let union = || {
        let mut first: HashMap<String, (u64, serde_json::Value)> = HashMap::new();
        for p in &peers {
            for (id, seq, body) in p.results() {
                if let Some((s, b)) = first.get(&id) {
                    // From any node, to any client: the same result.
                    assert_eq!((*s, b), (seq, &body), "a redelivery of {id} differs");
                } else {
                    first.insert(id, (seq, body));
                }
            }
        }
        first
    };
    wait_for(
        "every result through one node or another",
        Duration::from_secs(120),
        || async {
            let got = union();
            ids.iter().all(|i| got.contains_key(i))
        },
    )
    .await;
    // Each client saw each result at most a delivery window's worth of times over: a
    // kill may cut one window of each agent, resent on the next node.
    for p in &peers {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (id, _, _) in p.results() {
            *seen.entry(id).or_default() += 1;
        }
        let dups: usize = seen.values().map(|n| n - 1).sum();
        assert!(dups <= kills * 2 * 512, "{dups} duplicates at one client");
    }
    for a in &agents {
        node_of(a, &cluster).await;
    }
}
