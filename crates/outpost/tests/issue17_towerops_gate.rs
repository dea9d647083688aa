//! Issue 17 ("one job at a time per target"): Towerops SNMP jobs for the same device IP
//! run one after the other, as the original gates them by bare IP; a job for another IP
//! does not wait. Seen from the targets: silent UDP sockets recording when each job's
//! first datagram arrives (every job times out after 300 ms).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use outpost_test_support::ports::silent_udp;

use common::wait_for;
use outpost_proto::towerops::{AgentJob, AgentJobList, JobType, QueryType, SnmpDevice, SnmpQuery};
use outpost_test_support::towerops::Server;

const TOKEN: &str = "tok-issue17-gate";

fn poll(id: &str, addr: SocketAddr) -> AgentJob {
    AgentJob {
        job_id: id.into(),
        job_type: JobType::Poll as i32,
        device_id: format!("dev-{id}"),
        snmp_device: Some(SnmpDevice {
            ip: addr.ip().to_string(),
            port: u32::from(addr.port()),
            version: "2c".into(),
            community: "public".into(),
            ..Default::default()
        }),
        queries: vec![SnmpQuery {
            query_type: QueryType::Get as i32,
            oids: vec!["1.3.6.1.2.1.1.1.0".into()],
        }],
        snmp_timeout_ms: 300,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_towerops_jobs_for_one_device_ip_run_one_at_a_time() {
    let server = Server::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let _a = server.joined_agent(server.agent_options(dir.path())).await;
    // Two ports of 127.0.0.1 (one device IP) and 127.0.0.2 (another).
    let (a, ra) = silent_udp("127.0.0.1").await;
    let (b, rb) = silent_udp("127.0.0.1").await;
    let (c, rc) = silent_udp("127.0.0.2").await;
    assert!(server.send_jobs(&AgentJobList {
        jobs: vec![poll("poll:a", a), poll("poll:b", b), poll("poll:c", c)],
    }));
    let within = |mut rx: tokio::sync::mpsc::UnboundedReceiver<Instant>| async move {
        tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("a job's first datagram")
            .unwrap()
    };
    let (ta, tb, tc) = (within(ra).await, within(rb).await, within(rc).await);
    let (first, second) = if ta <= tb { (ta, tb) } else { (tb, ta) };
    // The second job to 127.0.0.1 started only after the first one ended: three attempts
    // (Towerops' default 2 retries) of 300 ms each.
    assert!(
        second - first >= Duration::from_millis(850),
        "{:?} apart",
        second - first
    );
    // The job for 127.0.0.2 did not wait for 127.0.0.1's.
    assert!(tc < second, "{:?} after the first", tc - first);
    wait_for("three errors", Duration::from_secs(30), || async {
        server.errors().len() >= 3
    })
    .await;
}
