//! Declared apps (issue 15 §3): a subset of the Compose format, and what it takes to bring
//! the engine to it. Engine-free and wire-free: everything but the reconciler is pure and
//! tested on its own; the reconciler drives an engine through the small `AppEngine` trait.
//!
//! - `compose`: Compose YAML to a typed `AppSpec` (through `yaml`, `read`, `scalars` and
//!   `fields`), every error naming its line, column and document path; `validate`: names,
//!   dependencies, cycles, host ports; `emit`: an `AppSpec` back to YAML.
//! - `convert`: a service to its container's `RunSpec` (name `outpost-APP.SERVICE`, the
//!   `outpost.app`/`outpost.service`/`outpost.spec-hash` labels); `hash`: the spec hash.
//! - `order`: start order from `depends_on`; `plan`: the actions from desired apps and
//!   actual containers; `backoff`: crash-loop backoff and the `app.crash_loop` decision.
//! - `adopt`: containers another agent made, taken as a declared service's by an explicit
//!   rule (name and label), so a drop-in does not recreate them.
//! - `reconcile`: the event-driven loop that keeps an `AppEngine` at the declared apps;
//!   `on_engine`: that trait over the real engine (label-filtered list and `/events`);
//!   `cursor`: where each `/events` subscription resumes, so no event falls in a gap.

pub mod adopt;
pub mod backoff;
pub mod compose;
pub mod convert;
pub mod cursor;
pub mod emit;
pub mod error;
mod fields;
pub mod hash;
pub mod on_engine;
pub mod order;
pub mod plan;
mod read;
pub mod reconcile;
mod scalars;
pub mod validate;
mod yaml;

pub use adopt::{AdoptRule, Adoptions, ADOPTED_LABEL};
pub use backoff::{Backoff, BackoffConfig, Decision, Growth};
pub use compose::{parse, AppSpec, DependsOn, RestartBackoff, ServiceSpec};
pub use convert::{container_name, to_run_spec, ConvertError, APP_LABEL, SERVICE_LABEL};
pub use emit::to_yaml;
pub use error::{ComposeError, ComposeErrorKind, Pos};
pub use hash::{spec_hash, SPEC_HASH_LABEL};
pub use on_engine::OnEngine;
pub use plan::{plan, Action, ActualContainer, ContainerState, Health, PlanError};
pub use validate::validate;
pub use yaml::{MAX_BYTES, MAX_DEPTH, MAX_NODES};

/// Splits a command line into words as Compose does (quotes, no shell).
pub use scalars::split_words;
