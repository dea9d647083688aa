//! Outpost's container engine (issue 15): the Docker Engine API, which Podman serves too,
//! through bollard on a local socket.
//!
//! - `engine`: the lazily opened connection; every call has a deadline, and an engine that
//!   is absent, gone or slow is the one error `engine_unavailable` naming the socket.
//! - `apps`: declared apps (a subset of the Compose format) and what it takes to bring the
//!   engine to them. Wire-free and engine-free, so it is tested on its own.
//!
//! Nothing here knows a job's wire shape; the binary's executors translate.

pub mod apps;
pub mod run_spec;

pub use run_spec::RunSpec;
