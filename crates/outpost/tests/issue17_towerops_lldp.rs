//! Issue 17 (LLDP_TOPOLOGY): the in-suite Towerops server sends LLDP_TOPOLOGY jobs for two
//! real switches' recordings from snmpsim-data (an HPE ProCurve 6120XG and an H3C S5560,
//! both carrying LLDP-MIB), served by snmpsim (their system and LLDP subtrees); the `lldp_topology_result` must hold each
//! neighbor the recording holds, named, with chassis and port ids formatted by subtype
//! (MAC as colon hex, locally assigned names as text) and management addresses from the
//! index of lldpRemManAddrTable. The number of neighbors is checked against net-snmp's own
//! walk of lldpRemChassisId on the same responder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::wait_for;
use outpost_proto::towerops::{
    AgentJob, AgentJobList, JobType, LldpNeighbor, LldpTopologyResult, SnmpDevice,
};
use outpost_test_support::netsnmp::netsnmp;
use outpost_test_support::snmpsim::{community, Snmpsim};
use outpost_test_support::towerops::Server;

const TOKEN: &str = "tok-issue17-lldp";
const HPE: &str = "network/switch/hpe-procurve-516733-b21.snmprec.bz2";
const H3C: &str = "network/switch/h3c-e528-1.snmprec.bz2";

fn neighbor(
    name: &str,
    local: &str,
    port: &str,
    port_id: &str,
    addrs: &[&str],
    chassis: &str,
) -> LldpNeighbor {
    LldpNeighbor {
        neighbor_name: name.into(),
        local_port: local.into(),
        remote_port: port.into(),
        remote_port_id: port_id.into(),
        management_addresses: addrs.iter().map(|s| s.to_string()).collect(),
        remote_chassis_id: chassis.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue17_towerops_lldp_topology_from_real_switch_recordings() {
    // Their system group and LLDP-MIB only (the whole recordings take snmpsim minutes to
    // index on a busy machine).
    let sim = Snmpsim::start_subset(
        &[HPE.to_owned(), H3C.to_owned()],
        &["1.3.6.1.2.1.1", "1.0.8802.1.1.2"],
    )
    .await;
    let server = Server::start(TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let _agent = server.joined_agent(server.agent_options(dir.path())).await;
    let job = |id: &str, rec: &str| AgentJob {
        job_id: id.into(),
        job_type: JobType::LldpTopology as i32,
        device_id: format!("dev-{id}"),
        snmp_device: Some(SnmpDevice {
            ip: "127.0.0.1".into(),
            port: u32::from(sim.port),
            version: "2c".into(),
            community: community(rec),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(server.send_jobs(&AgentJobList {
        jobs: vec![job("lldp:hpe", HPE), job("lldp:h3c", H3C)],
    }));
    wait_for("two LLDP results", Duration::from_secs(60), || async {
        server
            .decoded::<LldpTopologyResult>("lldp_topology_result")
            .len()
            >= 2
    })
    .await;
    let results = server.decoded::<LldpTopologyResult>("lldp_topology_result");
    let by = |id: &str| results.iter().find(|r| r.job_id == id).unwrap().clone();

    let hpe = by("lldp:hpe");
    assert_eq!(hpe.device_id, "dev-lldp:hpe");
    assert_eq!(hpe.local_system_name, "ProCurve 6120XG Blade Switch");
    assert!(hpe.timestamp > 1_700_000_000);
    let mac = "e8:39:35:1a:ca:99";
    assert_eq!(
        hpe.neighbors,
        vec![
            // No sysName: named by the chassis id, a MAC (subtype 4); the port id a MAC too.
            neighbor(mac, "8", "", mac, &[], mac),
            neighbor(
                "e8:39:35:1a:3c:65",
                "15",
                "",
                "e8:39:35:1a:3c:65",
                &[],
                "e8:39:35:1a:3c:65"
            ),
            neighbor(
                "e8:39:35:1a:ca:91",
                "16",
                "",
                "e8:39:35:1a:ca:91",
                &[],
                "e8:39:35:1a:ca:91"
            ),
            neighbor(
                "NWPU-CA-5548-01",
                "17",
                "Ethernet1/19",
                "Eth1/19",
                &["10.40.1.19"],
                "8c:60:4f:19:16:3a"
            ),
            // A locally assigned chassis id (subtype 7) is text, and names the row.
            neighbor(
                "NWPU-CA-5548-01(SSI183706KP)",
                "17",
                "",
                "Ethernet1/19",
                &["222.24.192.252"],
                "NWPU-CA-5548-01(SSI183706KP)"
            ),
        ]
    );

    let h3c = by("lldp:h3c");
    assert_eq!(h3c.local_system_name, "");
    assert_eq!(
        h3c.neighbors,
        vec![neighbor(
            "WRD-Huiju-2",
            // No lldpLocPortDesc in this recording: the port number.
            "port-24",
            "GigabitEthernet1/0/33 Interface",
            "GigabitEthernet1/0/33",
            &["10.1.123.2"],
            "38:91:d5:fb:74:2c"
        )]
    );

    // As many neighbors as net-snmp reads lldpRemChassisId rows.
    for (rec, got) in [(HPE, &hpe), (H3C, &h3c)] {
        let walk = netsnmp(
            "snmpwalk",
            &[
                "-v2c",
                "-c",
                &community(rec),
                "-On",
                &sim.addr(),
                "1.0.8802.1.1.2.1.4.1.1.5",
            ],
        )
        .await;
        let rows = walk
            .lines()
            .filter(|l| l.starts_with(".1.0.8802.1.1.2.1.4.1.1.5."))
            .count();
        assert_eq!(rows, got.neighbors.len(), "{rec}: {walk}");
    }
}
