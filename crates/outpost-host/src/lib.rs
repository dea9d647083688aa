//! Host metrics for Outpost: CPU, memory, load, filesystems, interfaces,
//! processes, temperatures and GPUs, read from /proc and /sys only when
//! someone asks, and served as socktop frames ([`socktop`]), Prometheus
//! metrics ([`prom`]), a `metrics` job ([`job`]) and a stats push ([`push`]).
//!
//! Deliberately absent: any background task or timer in [`Host`]. Idle
//! means idle; the caches only answer callers.
#![forbid(unsafe_code)]

mod cache;
pub mod cpu;
pub mod disks;
mod error;
pub mod gpu;
mod host;
pub mod job;
pub mod load;
pub mod memory;
pub mod net;
pub mod processes;
pub mod prom;
pub mod push;
pub mod socktop;
pub mod temps;

pub use error::HostError;
pub use host::{CacheGroup, Host, HostConfig, HostMetrics};
