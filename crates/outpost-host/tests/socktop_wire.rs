//! socktop's clients decode our frames: JSON into structs mirroring
//! socktop_connector's types, the process list with prost.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use outpost_host::processes::{Process as HostProcess, ProcessList};
use outpost_host::socktop::{self, answer, Frame, Reply, COMPRESSION_THRESHOLD};
use outpost_host::Host;
use outpost_test_support::kernel::meminfo_kib;
use serde::Deserialize;

// socktop 1.60's types, written out here rather than imported so a renamed
// or retyped field on our side fails this test.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Metrics {
    sampled_at_ms: u64,
    cpu_total: f32,
    cpu_per_core: Vec<f32>,
    mem_total: u64,
    mem_used: u64,
    swap_total: u64,
    swap_used: u64,
    hostname: String,
    cpu_temp_c: Option<f32>,
    disks: Vec<DiskInfo>,
    networks: Vec<NetworkInfo>,
    top_processes: Vec<ProcessInfo>,
    gpus: Option<Vec<GpuMetrics>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct DiskInfo {
    name: String,
    total: u64,
    available: u64,
    temperature: Option<f32>,
    is_partition: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct NetworkInfo {
    name: String,
    received: u64,
    transmitted: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ProcessInfo {
    pid: u32,
    name: String,
    cpu_usage: f32,
    mem_bytes: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct GpuMetrics {
    name: String,
    utilization_gpu_pct: u32,
    mem_used_bytes: u64,
    mem_total_bytes: u64,
}

// socktop's processes.proto, derived independently of ours.
#[derive(Clone, PartialEq, prost::Message)]
struct PbProcesses {
    #[prost(uint64, tag = "1")]
    process_count: u64,
    #[prost(message, repeated, tag = "2")]
    rows: Vec<PbProcess>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PbProcess {
    #[prost(uint32, tag = "1")]
    pid: u32,
    #[prost(string, tag = "2")]
    name: String,
    #[prost(float, tag = "3")]
    cpu_usage: f32,
    #[prost(uint64, tag = "4")]
    mem_bytes: u64,
}

fn is_gzip(b: &[u8]) -> bool {
    b.starts_with(&[0x1f, 0x8b])
}

use outpost_test_support::gzip::gunzip;

/// How socktop_connector reads a JSON reply: text as is, binary gunzipped.
fn json_of(reply: Reply) -> String {
    match reply {
        Reply::Text(t) => {
            assert!(t.len() <= COMPRESSION_THRESHOLD, "long JSON sent as text");
            t.to_string()
        }
        Reply::Binary(b) => {
            assert!(is_gzip(&b), "binary JSON reply not gzipped");
            let json = String::from_utf8(gunzip(&b)).unwrap();
            assert!(json.len() > COMPRESSION_THRESHOLD, "short JSON gzipped");
            json
        }
    }
}

#[test]
fn get_metrics_decodes_as_socktop_metrics() {
    let host = Host::default();
    for frame in ["get_metrics", r#"{"type":"metrics"}"#] {
        let m: Metrics = serde_json::from_str(&json_of(answer(&host, Frame::Text(frame)))).unwrap();
        let total_kb = meminfo_kib("MemTotal");
        assert_eq!(m.mem_total, total_kb * 1024);
        assert!(m.mem_used <= m.mem_total);
        assert!(!m.cpu_per_core.is_empty());
        assert!(!m.hostname.is_empty());
        assert!(m.networks.iter().any(|n| n.name == "lo") || !m.networks.is_empty());
        assert!(m.sampled_at_ms > 1_600_000_000_000);
        assert!(m.top_processes.is_empty() && m.disks.is_empty());
    }
}

#[test]
fn get_disks_decodes_as_socktop_disk_list() {
    let host = Host::default();
    for frame in ["get_disks", r#"{"type":"disks"}"#] {
        let disks: Vec<DiskInfo> =
            serde_json::from_str(&json_of(answer(&host, Frame::Text(frame)))).unwrap();
        for d in &disks {
            assert!(d.available <= d.total, "{d:?}");
        }
        let real = host.disks().unwrap();
        let real = real.iter().filter(|d| d.fs_type != "tmpfs");
        assert_eq!(disks.is_empty(), real.count() == 0);
    }
}

fn decode_processes(reply: Reply) -> PbProcesses {
    let Reply::Binary(b) = reply else {
        panic!("processes must be a binary frame")
    };
    let raw = if is_gzip(&b) {
        let raw = gunzip(&b);
        assert!(raw.len() > COMPRESSION_THRESHOLD);
        raw
    } else {
        assert!(b.len() <= COMPRESSION_THRESHOLD);
        b.to_vec()
    };
    prost::Message::decode(raw.as_slice()).unwrap()
}

#[test]
fn get_processes_decodes_as_socktop_protobuf() {
    let host = Host::default();
    for frame in ["get_processes", r#"{"type":"processes"}"#] {
        let p = decode_processes(answer(&host, Frame::Text(frame)));
        assert_eq!(p.process_count as usize, p.rows.len());
        let me = p.rows.iter().find(|r| r.pid == std::process::id()).unwrap();
        assert!(me.mem_bytes > 0);
        assert!((0.0..=100.0).contains(&me.cpu_usage));
    }
}

#[test]
fn gzip_threshold_is_768_bytes() {
    // A JSON string of n bytes is n - 2 characters between quotes.
    let at = "x".repeat(COMPRESSION_THRESHOLD - 2);
    assert!(matches!(socktop::json_reply(&at), Reply::Text(t) if t.len() == 768));
    let over = "x".repeat(COMPRESSION_THRESHOLD - 1);
    let Reply::Binary(b) = socktop::json_reply(&over) else {
        panic!("769 bytes must be gzipped")
    };
    assert_eq!(gunzip(&b).len(), 769);

    let small = ProcessList {
        rows: vec![HostProcess {
            pid: 1,
            name: "init".into(),
            cpu_percent: 1.5,
            rss_bytes: 4096,
        }],
    };
    let Reply::Binary(b) = socktop::processes_reply(&small) else {
        panic!()
    };
    assert!(!is_gzip(&b));
    let p: PbProcesses = prost::Message::decode(&b[..]).unwrap();
    assert_eq!(p.rows[0].name, "init");
    assert_eq!(p.rows[0].cpu_usage, 1.5);

    let big = ProcessList {
        rows: (0..100)
            .map(|i| HostProcess {
                pid: i,
                name: format!("worker-{i}"),
                cpu_percent: 0.0,
                rss_bytes: 1 << 20,
            })
            .collect(),
    };
    let p = decode_processes(socktop::processes_reply(&big));
    assert_eq!(p.process_count, 100);
    assert_eq!(p.rows[99].name, "worker-99");
}

#[test]
fn unknown_frames_get_an_error_reply() {
    let host = Host::default();
    for frame in [
        Frame::Text("get_everything"),
        Frame::Text(""),
        Frame::Text(r#"{"type":"journal"}"#),
        Frame::Text("get_process_metrics:abc"),
        Frame::Text("{not json"),
        Frame::Binary(&[0xff, 0x00]),
    ] {
        let Reply::Text(t) = answer(&host, frame) else {
            panic!("error replies are text")
        };
        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{t}");
    }
}
