//! The Prometheus collector exposes node_exporter names with values from /proc.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use outpost_host::prom::HostCollector;
use outpost_host::Host;
use outpost_test_support::kernel::meminfo_kib;
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{series} missing"))
        .parse()
        .unwrap()
}

#[test]
fn scrape_has_node_exporter_series() {
    let host = Host::default();
    let mut registry = Registry::default();
    registry.register_collector(Box::new(HostCollector::new(host.clone())));
    let mut text = String::new();
    encode(&mut text, &registry).unwrap();

    let total_kb = meminfo_kib("MemTotal") as f64;
    assert_eq!(
        value(&text, "node_memory_MemTotal_bytes"),
        total_kb * 1024.0
    );
    assert!(value(&text, "node_memory_MemAvailable_bytes") > 0.0);
    assert!(text.contains("# TYPE node_cpu_seconds counter"));
    assert!(value(&text, r#"node_cpu_seconds_total{cpu="0",mode="idle"}"#) > 0.0);
    assert!(value(&text, "node_load1") >= 0.0);
    assert!(value(&text, "node_boot_time_seconds") > 1.0e9);
    assert_eq!(
        value(
            &text,
            r#"node_scrape_collector_success{collector="metrics"}"#
        ),
        1.0
    );

    let m = host.metrics().unwrap();
    for n in &m.networks {
        assert!(
            value(
                &text,
                &format!(r#"node_network_receive_bytes_total{{device="{}"}}"#, n.name)
            ) >= 0.0
        );
    }
    for d in host.disks().unwrap().iter() {
        let series = format!(
            r#"node_filesystem_size_bytes{{device="{}",fstype="{}",mountpoint="{}"}}"#,
            d.device, d.fs_type, d.mount_point
        );
        assert_eq!(value(&text, &series), d.total_bytes as f64);
    }
    assert!(text.trim_end().ends_with("# EOF"));
}
