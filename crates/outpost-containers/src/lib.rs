//! Outpost's container engine (issue 15): the Docker Engine API, which Podman serves too,
//! through bollard on a local socket.
//!
//! - `engine`: the lazily opened connection; every call has a deadline, and an engine that
//!   is absent, gone or slow is the one error `engine_unavailable` naming the socket.
//! - `create`: a [`RunSpec`] to the API's create body, the one place that translation lives.
//! - `containers`, `logs`, `stats`, `exec`, `images`: the calls, one concept per file.
//! - `disk`: the disk guard (free space on the engine's data root) and its prune.
//! - `metrics`: the running containers' figures for `/metrics` (cAdvisor's names).
//! - `apps`: declared apps (a subset of the Compose format) and what it takes to bring the
//!   engine to them. Wire-free and engine-free, so it is tested on its own.
//!
//! Nothing here knows a job's wire shape; the binary's executors translate.

pub mod apps;
pub mod containers;
pub mod create;
pub mod disk;
pub mod engine;
pub mod error;
pub mod exec;
pub mod images;
pub mod listing;
pub mod logs;
pub mod metrics;
pub mod pty;
pub mod run_spec;
pub mod stats;

pub use containers::{ContainerRow, ListFilter};
pub use engine::{Engine, EngineSettings};
pub use error::EngineError;
pub use run_spec::RunSpec;
