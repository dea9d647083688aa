//! Real-device recordings served by snmpsim: our bulkwalk of each device
//! must be byte-identical to `snmpbulkwalk -On` of the same simulated device.
//! The exception: values the recording generates with a variation module
//! (`type:numeric|...`) change between two walks, so for those OIDs only
//! the OID and the type label are compared.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::netsnmp;
use outpost_snmp::engine::{Engine, EngineConfig, TargetConfig};
use outpost_snmp::security::Security;
use outpost_snmp::{Oid, WalkMode};
use outpost_test_support::snmpsim::{community, Snmpsim};

/// Small recordings of different vendors and device kinds.
const RECORDINGS: &[&str] = &[
    "network/wifi/ubiquiti-m5.snmprec.bz2",
    "network/switch/cts-media-converter.snmprec.bz2",
    "network/appliance/tripplite-poweralert.snmprec",
    "UPS/apc-8641.snmprec",
    "network/switch/metel-poe-box.snmprec.bz2",
];

/// More recordings to walk, comma-separated paths under snmpsim-data's
/// `data/` (e.g. `network/switch/cisco-c3560.snmprec.bz2`); for longer
/// manual runs, since snmpsim serves only ~5k OIDs/s.
fn recordings() -> Vec<String> {
    let mut v: Vec<String> = RECORDINGS.iter().map(|s| s.to_string()).collect();
    if let Ok(extra) = std::env::var("OUTPOST_SNMPSIM_EXTRA") {
        v.extend(
            extra
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
    }
    v
}

#[tokio::test]
async fn walks_of_recorded_devices_match_net_snmp() {
    let recordings = recordings();
    let sim = Snmpsim::start(&recordings).await;
    let site = &sim.site;

    let engine = Engine::new(EngineConfig::default()).await.unwrap();
    let addr = sim.addr();
    let session = |c: &str, timeout: Duration, retries: u32| {
        let mut cfg = TargetConfig::new(addr.parse().unwrap(), Security::v2c(c));
        cfg.timeout = timeout;
        cfg.retries = retries;
        cfg
    };

    let root: Oid = ".1".parse().unwrap();
    for rec in &recordings {
        let c = community(rec);
        let s = engine
            .session(session(&c, Duration::from_secs(5), 2))
            .await
            .unwrap();
        let mut ours = String::new();
        s.walk_each(&root, WalkMode::Bulk(10), |vb| {
            ours.push_str(&vb.to_string());
            ours.push('\n');
        })
        .await
        .unwrap();
        let theirs = netsnmp(
            "snmpbulkwalk",
            &["-v2c", "-c", &c, "-On", "-Cr10", "-t", "5", &addr, ".1"],
        )
        .await;
        assert!(theirs.lines().count() > 50, "{rec}: walk too short");
        let dynamic = dynamic_oids(&site.join(rec));
        eprintln!("{rec}: {} varbinds", theirs.lines().count());
        let a = common::parse_walk(&ours);
        let b = common::parse_walk(&theirs);
        assert_eq!(a.len(), b.len(), "{rec}: different number of varbinds");
        let mut exact = 0;
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.oid, y.oid, "{rec}: OID sequences differ");
            if dynamic.contains(&x.oid) {
                assert_eq!(
                    x.type_label(),
                    y.type_label(),
                    "{rec}: type differs at {}",
                    x.oid
                );
            } else {
                assert_eq!(x.text, y.text, "{rec}: value differs at {}", x.oid);
                exact += 1;
            }
        }
        assert!(
            exact * 10 >= a.len() * 9,
            "{rec}: under 90% compared exactly"
        );
    }
}

/// OIDs whose recorded value is produced by a variation module.
fn dynamic_oids(recording: &Path) -> std::collections::HashSet<Oid> {
    let out = std::process::Command::new("bzcat")
        .arg("-f")
        .arg(recording)
        .output()
        .expect("bzcat (bzip2) is needed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, '|');
            let (oid, ty) = (f.next()?, f.next()?);
            ty.contains(':')
                .then(|| format!(".{oid}").parse().ok())
                .flatten()
        })
        .collect()
}
