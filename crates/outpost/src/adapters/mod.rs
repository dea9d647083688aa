//! Drop-in APIs of the agents Outpost replaces, each a component off by default, each
//! keeping the old wire and mapping it onto Outpost's own paths (jobs through the
//! dispatcher, commands through the exec allowlist).

#[cfg(feature = "reagent")]
pub mod reagent;
#[cfg(feature = "rusty")]
pub mod rusty;
#[cfg(feature = "socketman")]
pub mod socketman;
pub mod towerops;
