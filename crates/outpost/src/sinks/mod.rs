//! Sinks: optional destinations of results and events, each reading the outbox from a
//! consumer cursor of its own, so a destination that is down loses nothing.

pub mod opensearch;
