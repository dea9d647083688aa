//! A real three-node NATS cluster on loopback (`nats-server` with JetStream and its MQTT
//! listener): the clustered broker the fleet tests run the MQTT uplink on. JetStream keeps
//! the MQTT sessions, replicated over the cluster, so a persistent session is resumed on
//! whichever node the client reconnects to. Nodes can be killed and restarted one at a time;
//! two of three keep the cluster's quorum.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::peer::{self, Process};
use crate::ports::free_tcp_port;

pub struct Node {
    // First: killed before the directory goes.
    process: Option<Process>,
    pub name: String,
    pub client_port: u16,
    pub route_port: u16,
    pub mqtt_port: u16,
    pub http_port: u16,
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `n` nodes and waits until every one reports JetStream healthy.
    pub fn start(n: usize) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let nodes = (1..=n)
            .map(|i| Node {
                process: None,
                name: format!("n{i}"),
                client_port: free_tcp_port(),
                route_port: free_tcp_port(),
                mqtt_port: free_tcp_port(),
                http_port: free_tcp_port(),
            })
            .collect();
        let mut c = Cluster { nodes, dir };
        for i in 0..n {
            c.launch(i);
        }
        for i in 0..n {
            c.wait_healthy(i);
        }
        c
    }

    /// `mqtt://127.0.0.1:PORT` of node `i`.
    pub fn mqtt_url(&self, i: usize) -> String {
        format!("mqtt://127.0.0.1:{}", self.nodes[i].mqtt_port)
    }

    /// Every node's MQTT URL, comma-separated (an `uplink.mqtt.url` list).
    pub fn mqtt_urls(&self) -> String {
        (0..self.nodes.len())
            .map(|i| self.mqtt_url(i))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// SIGKILL: the node is gone at once, as when its machine fails.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].process.take();
    }

    /// Starts a killed node again (same ports, same store) and waits until it is healthy.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.launch(i);
        self.wait_healthy(i);
    }

    fn store(&self, i: usize) -> PathBuf {
        self.dir.path().join(&self.nodes[i].name)
    }

    fn launch(&mut self, i: usize) {
        let routes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("nats-route://127.0.0.1:{}", n.route_port))
            .collect();
        let n = &self.nodes[i];
        let conf = format!(
            "server_name: {name}\nlisten: 127.0.0.1:{client}\nhttp: 127.0.0.1:{http}\n\
             jetstream {{ store_dir: \"{store}\", max_memory_store: 64MB, max_file_store: 1GB }}\n\
             cluster {{ name: outpost-test, listen: 127.0.0.1:{route}, routes: [{routes}] }}\n\
             mqtt {{ listen: 127.0.0.1:{mqtt} }}\n",
            name = n.name,
            client = n.client_port,
            http = n.http_port,
            store = self.store(i).display(),
            route = n.route_port,
            routes = routes.join(", "),
            mqtt = n.mqtt_port,
        );
        let path = self.dir.path().join(format!("{}.conf", n.name));
        std::fs::write(&path, conf).unwrap();
        let mut cmd = Command::new(peer::binary("nats-server", "scripts/deps/45-cluster.sh"));
        cmd.arg("-c").arg(&path);
        let name = format!("nats-{}", n.name);
        let process = Process::spawn(&name, cmd, self.dir.path());
        self.nodes[i].process = Some(process);
    }

    /// `/healthz` answers ok once the node's JetStream is current with the cluster; its
    /// MQTT listener then takes sessions. A node restarted after SIGKILL first replays its
    /// store and catches up on the streams (the MQTT sessions' messages), which on a loaded
    /// machine took over a minute: the deadline is generous, and a node that never gets
    /// there fails the test with its own log.
    ///
    /// After [`LENIENT_AFTER`], the node also counts as healthy when its server-level
    /// JetStream is current with the meta leader (`/healthz?js-server-only=true`) while one
    /// of its consumers is not: NATS 2.9 sometimes leaves a consumer of a disconnected MQTT
    /// session "not current" for minutes after a restart (nats-server#5679), which says
    /// nothing about whether the node serves. A result lost to it would still fail the test.
    fn wait_healthy(&mut self, i: usize) {
        let port = self.nodes[i].http_port;
        let name = self.nodes[i].name.clone();
        let started = std::time::Instant::now();
        let end = started + Duration::from_secs(180);
        loop {
            if let Some(p) = self.nodes[i].process.as_mut() {
                p.assert_running();
            }
            if healthz(port, "/healthz") {
                return;
            }
            if started.elapsed() > LENIENT_AFTER && healthz(port, "/healthz?js-server-only=true") {
                eprintln!(
                    "nats: node {name} taken as healthy with its server-level JetStream current \
                     and some stream or consumer not (nats-server#5679)"
                );
                return;
            }
            if std::time::Instant::now() > end {
                let log = self.nodes[i]
                    .process
                    .as_ref()
                    .map(|p| p.stderr())
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                panic!(
                    "NATS node {name} not healthy after 180 s; its log, newest first:\n{}",
                    tail.join("\n")
                );
            }
            std::thread::park_timeout(Duration::from_millis(100));
        }
    }
}

/// How long a restarted node gets to become fully healthy before a consumer that has not
/// caught up is tolerated (see `wait_healthy`).
const LENIENT_AFTER: Duration = Duration::from_secs(60);

fn healthz(port: u16, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.") && reply.contains(" 200 ") && reply.contains("\"ok\"")
}
