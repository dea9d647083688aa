//! Host metrics for Outpost: CPU, memory, load, filesystems, interfaces,
//! processes, temperatures and GPUs, read from /proc and /sys only when
//! someone asks, and served as socktop frames ([`socktop`]), Prometheus
//! metrics ([`prom`]), a `metrics` job ([`job`]) and a stats push ([`push`]).
//!
//! Deliberately absent: any background task or timer in [`Host`]. Idle
//! means idle; the caches only answer callers.
//!
//! How the `outpost` binary uses it:
//!
//! ```
//! use outpost_host::{Host, HostConfig};
//! use std::time::Duration;
//!
//! // One handle for the whole process; clones share the caches.
//! let host = Host::new(HostConfig {
//!     metrics_ttl: Duration::from_millis(250),
//!     disks_ttl: Duration::from_secs(1),
//!     processes_ttl: Duration::from_millis(1500),
//!     ..HostConfig::default()
//! });
//!
//! // GET /ws: answer each frame (from axum's Message) with one frame.
//! use outpost_host::socktop::{answer, Frame, Reply};
//! match answer(&host, Frame::Text("get_metrics")) {
//!     Reply::Text(json) => assert!(json.contains("cpu_total")),
//!     Reply::Binary(gzipped) => assert!(!gzipped.is_empty()),
//! }
//!
//! // /metrics: node_exporter names, collected on scrape through the caches.
//! let mut registry = prometheus_client::registry::Registry::default();
//! registry.register_collector(Box::new(outpost_host::prom::HostCollector::new(host.clone())));
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, &registry)?;
//! assert!(text.contains("node_memory_MemAvailable_bytes"));
//!
//! // The `metrics` job and `outpost metrics --json`.
//! use outpost_host::job::{self, MetricGroup, MetricsParams};
//! let params: MetricsParams = serde_json::from_str(r#"{"groups":["cpu","memory"]}"#)?;
//! let snapshot = job::run(&host, &params)?;
//! assert!(snapshot.memory.is_some() && snapshot.disks.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The stats push is a task the binary spawns and stops:
//!
//! ```no_run
//! # async fn wire(host: outpost_host::Host) {
//! use outpost_host::push::{self, StatsConfig};
//! let mut config = StatsConfig::new("https://stats.example/ingest", "/var/lib/outpost/stats");
//! config.backup_url = Some("https://backup.example/ingest".into());
//! config.interval = std::time::Duration::from_secs(60);
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let task = tokio::spawn(push::run(config, host, async move {
//!     let _ = stopped.await;
//! }));
//! // ... on shutdown:
//! let _ = stop.send(());
//! let _ = task.await;
//! # }
//! ```
#![forbid(unsafe_code)]

mod cache;
pub mod cpu;
pub mod disks;
mod error;
pub mod gpu;
mod host;
pub mod job;
pub mod journal;
pub mod links;
pub mod load;
pub mod memory;
pub mod net;
pub mod process_detail;
pub mod processes;
mod procfs;
pub mod prom;
pub mod push;
mod push_http;
pub mod socktop;
pub mod temps;

pub use error::HostError;
pub use host::{CacheGroup, Host, HostConfig, HostMetrics};
