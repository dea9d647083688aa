//! The connectivity monitor in the agent (issue 14): the probes on the real network, the
//! effects of its decisions, its API route and its `/metrics` figures. The logic (state,
//! score, ladder, guard rails) is `outpost-connectivity`'s; the component that starts it
//! is `components/connectivity.rs`.

pub mod api;
pub mod effects;
pub mod link;
pub mod metrics;
pub mod probes;
