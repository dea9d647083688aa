//! `outpost metrics [--json] [--group G]...`: one host-metrics snapshot, the same one a
//! `metrics` job returns, printed for a person or as JSON.

use std::{fmt::Write as _, time::Duration};

use anyhow::Context;
use outpost_host::{
    job::{self, MetricGroup, MetricsParams, MetricsSnapshot},
    Host, HostConfig,
};

use crate::cli::MetricsArgs;

/// CPU usage is a delta: the first read primes it, the second, this much later, reports.
const CPU_WINDOW: Duration = Duration::from_millis(250);

pub fn run(args: MetricsArgs) -> anyhow::Result<()> {
    let mut params = MetricsParams::default();
    for g in &args.groups {
        let group: MetricGroup = serde_json::from_value(serde_json::Value::String(g.clone()))
            .map_err(|_| crate::config::ConfigError::Invalid {
                key: "--group".into(),
                origin: "command line".into(),
                message: format!(
                    "unknown group {g:?}; one of cpu, memory, load, disks, network, processes, temperatures, gpus"
                ),
            })?;
        params.groups.push(group);
    }
    // No cache: every call here is the one that matters.
    let host = Host::new(HostConfig {
        metrics_ttl: Duration::ZERO,
        disks_ttl: Duration::ZERO,
        processes_ttl: Duration::ZERO,
        ..HostConfig::default()
    });
    let wants_processes = params.wants(MetricGroup::Processes);
    host.metrics().context("reading host metrics")?;
    if wants_processes {
        host.processes().context("reading processes")?;
    }
    // A CLI without a runtime: parking this thread blocks nothing else.
    let until = std::time::Instant::now() + CPU_WINDOW;
    while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
        std::thread::park_timeout(left);
    }
    let snap = job::run(&host, &params).context("reading host metrics")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&snap)?);
    } else {
        print!("{}", human(&snap));
    }
    Ok(())
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn human(s: &MetricsSnapshot) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "host          {}", s.hostname);
    if let Some(c) = &s.cpu {
        let cores: Vec<String> = c
            .per_core_percent
            .iter()
            .map(|p| format!("{p:.1}%"))
            .collect();
        let _ = writeln!(
            o,
            "cpu           {:.1}% busy ({} cores: {})",
            c.total_percent,
            cores.len(),
            cores.join(" ")
        );
    }
    if let Some(m) = &s.memory {
        let _ = writeln!(
            o,
            "memory        {} used of {} ({} available); swap {} used of {}",
            bytes(m.used_bytes()),
            bytes(m.total_bytes),
            bytes(m.available_bytes),
            bytes(m.swap_used_bytes()),
            bytes(m.swap_total_bytes)
        );
    }
    if let Some(l) = &s.load {
        let up = l.uptime_seconds as u64;
        let _ = writeln!(
            o,
            "load          {:.2} {:.2} {:.2}; up {}d {}h {}m",
            l.load1,
            l.load5,
            l.load15,
            up / 86400,
            up % 86400 / 3600,
            up % 3600 / 60
        );
    }
    for d in s.disks.iter().flatten() {
        let _ = writeln!(
            o,
            "disk          {} {} on {}: {} available of {}{}",
            d.mount_point,
            d.fs_type,
            d.device,
            bytes(d.available_bytes),
            bytes(d.total_bytes),
            if d.read_only { " (read-only)" } else { "" }
        );
    }
    for n in s.network.iter().flatten() {
        let _ = writeln!(
            o,
            "network       {}: rx {} ({} errors), tx {} ({} errors)",
            n.name,
            bytes(n.rx_bytes),
            n.rx_errors,
            bytes(n.tx_bytes),
            n.tx_errors
        );
    }
    for t in s.temperatures.iter().flatten() {
        let _ = writeln!(
            o,
            "temperature   {} {}{}: {:.1} °C",
            t.chip,
            t.sensor,
            t.label
                .as_deref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default(),
            t.celsius
        );
    }
    for g in s.gpus.iter().flatten() {
        let _ = writeln!(
            o,
            "gpu           {}: {}% busy, {} used of {}",
            g.name,
            g.utilization_percent,
            bytes(g.memory_used_bytes),
            bytes(g.memory_total_bytes)
        );
    }
    if let Some(p) = &s.processes {
        let mut rows: Vec<_> = p.rows.iter().collect();
        rows.sort_by(|a, b| b.cpu_percent.total_cmp(&a.cpu_percent));
        let _ = writeln!(o, "processes     {} (top 10 by CPU)", rows.len());
        for r in rows.iter().take(10) {
            let _ = writeln!(
                o,
                "  {:>7} {:<16} {:>5.1}% {}",
                r.pid,
                r.name,
                r.cpu_percent,
                bytes(r.rss_bytes)
            );
        }
    }
    o
}
