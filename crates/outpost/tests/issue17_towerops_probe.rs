//! Issue 17 (CREDENTIAL_PROBE): the in-suite Towerops server sends probes with candidate
//! credentials for a real snmpd; the `credential_probe_result` names the first candidate
//! that answers (its sys fields as net-snmp reads them), or -1 with the last error;
//! attempts are spaced by at least 250 ms; `stop_on_first_success` decides whether the
//! rest are still tried (seen in the engine's request count).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{metric, wait_for, Agent};
use outpost_proto::towerops::{
    AgentJob, AgentJobList, CredentialProbe, CredentialProbeResult, JobType, SnmpDevice,
};
use outpost_test_support::netsnmp::netsnmp;
use outpost_test_support::snmpd::{Snmpd, AUTH_PASS};
use outpost_test_support::towerops::Server;

const TOKEN: &str = "tok-issue17-probe";

fn v2c(snmpd: &Snmpd, community: &str) -> SnmpDevice {
    SnmpDevice {
        ip: "127.0.0.1".into(),
        port: u32::from(snmpd.port),
        version: "2c".into(),
        community: community.into(),
        ..Default::default()
    }
}

fn probe(id: &str, candidates: Vec<SnmpDevice>, retries: u32, stop: bool) -> AgentJob {
    AgentJob {
        job_id: id.into(),
        job_type: JobType::CredentialProbe as i32,
        device_id: "dev-probe".into(),
        credential_probe: Some(CredentialProbe {
            candidates,
            stop_on_first_success: stop,
            attempt_timeout_ms: 200,
            attempt_retries: retries,
            inter_attempt_delay_ms: 0,
        }),
        ..Default::default()
    }
}

async fn result(server: &Server, id: &str) -> CredentialProbeResult {
    let find = || {
        server
            .decoded::<CredentialProbeResult>("credential_probe_result")
            .into_iter()
            .find(|r| r.probe_id == id)
    };
    wait_for(
        &format!("the result of {id}"),
        Duration::from_secs(30),
        || async { find().is_some() },
    )
    .await;
    find().unwrap()
}

async fn requests_sent(a: &Agent) -> f64 {
    metric(&a.metrics().await, "outpost_snmp_requests_sent_total")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_towerops_credential_probe_finds_the_candidate_paced_and_stops_as_asked() {
    let snmpd = Snmpd::start().await;
    let server = Server::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let a = server.joined_agent(server.agent_options(dir.path())).await;
    let read = |oid: &'static str| {
        let target = snmpd.udp();
        async move {
            let out = netsnmp("snmpget", &["-v2c", "-c", "public", "-Ovq", &target, oid]).await;
            out.trim().trim_matches('"').to_owned()
        }
    };
    let (descr, name) = (
        read("1.3.6.1.2.1.1.1.0").await,
        read("1.3.6.1.2.1.1.5.0").await,
    );

    // A wrong community, a v3 user with a wrong pass phrase, then the right community:
    // two attempts each for the wrong ones, so five attempts and four gaps of 250 ms.
    let wrong_v3 = SnmpDevice {
        ip: "127.0.0.1".into(),
        port: u32::from(snmpd.port),
        version: "3".into(),
        v3_username: "sha512".into(),
        v3_security_level: "authNoPriv".into(),
        v3_auth_protocol: "SHA-512".into(),
        v3_auth_password: format!("{AUTH_PASS}-not"),
        ..Default::default()
    };
    let cands = vec![v2c(&snmpd, "nope"), wrong_v3, v2c(&snmpd, "public")];
    assert!(server.send_jobs(&AgentJobList {
        jobs: vec![probe("probe:a", cands, 1, true)],
    }));
    let r = result(&server, "probe:a").await;
    assert_eq!(r.matched_index, 2, "{r:?}");
    assert_eq!(r.sys_descr, descr);
    assert_eq!(r.sys_name, name);
    assert_eq!(r.sys_object_id.trim_start_matches('.'), r.sys_object_id);
    assert!(!r.sys_object_id.is_empty());
    assert_eq!(r.error_message, "");
    assert!(r.duration_ms >= 1000, "four gaps of 250 ms: {r:?}");
    assert!(r.timestamp > 1_700_000_000);

    // No candidate answers: -1, the last error, three attempts and two gaps.
    assert!(server.send_jobs(&AgentJobList {
        jobs: vec![probe("probe:none", vec![v2c(&snmpd, "nope")], 2, true)],
    }));
    let r = result(&server, "probe:none").await;
    assert_eq!(r.matched_index, -1, "{r:?}");
    assert!(r.error_message.starts_with("candidate 0: "), "{r:?}");
    assert!(
        r.error_message.contains("timed out") || r.error_message.contains("timeout"),
        "{r:?}"
    );
    assert!(r.duration_ms >= 500, "{r:?}");

    // The right one first, a wrong one after: with stop_on_first_success the wrong one is
    // never tried (three GETs); without, it is (one more request), and the match stands.
    let before = requests_sent(&a).await;
    assert!(server.send_jobs(&AgentJobList {
        jobs: vec![probe(
            "probe:stop",
            vec![v2c(&snmpd, "public"), v2c(&snmpd, "nope")],
            0,
            true
        )],
    }));
    assert_eq!(result(&server, "probe:stop").await.matched_index, 0);
    let stopped = requests_sent(&a).await - before;
    let before = requests_sent(&a).await;
    assert!(server.send_jobs(&AgentJobList {
        jobs: vec![probe(
            "probe:all",
            vec![v2c(&snmpd, "public"), v2c(&snmpd, "nope")],
            0,
            false
        )],
    }));
    let r = result(&server, "probe:all").await;
    assert_eq!(r.matched_index, 0);
    assert!(r.duration_ms >= 250, "{r:?}");
    let all = requests_sent(&a).await - before;
    assert_eq!((stopped, all), (3.0, 4.0));
}
