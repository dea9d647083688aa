//! The connectivity monitor's logic: is the uplink up, and what may be done about it.
//!
//! - [`probe`]: what a probe reports (up or down, a detail, a latency, and the remote target
//!   it speaks for) and the [`Probe`] trait the agent implements for the default route, DNS,
//!   TCP and HTTP(S). Tests implement it with scripted results: no network here.
//! - [`assess`]: per-probe hysteresis (`fall` failures to go down, `rise` successes to come
//!   back), the [`Health`] (online / degraded / offline) and the score.
//! - [`ladder`]: the recovery ladder, its steps and growing delays.
//! - [`guard`] and [`stamp`]: the guard rails every step passes before it runs, and the
//!   reboot stamp that keeps `min_reboot_interval` across reboots.
//! - [`monitor`]: the one loop (one timer, nothing in between) tying them together, with the
//!   side effects behind the [`Effects`] trait.
//!
//! Time is tokio's (`tokio::time::Instant`), so tests run with paused time; the wall clock
//! and the uptime come from [`Clocks`], injectable.

pub mod assess;
pub mod clock;
pub mod guard;
pub mod ladder;
pub mod monitor;
pub mod probe;
pub mod settings;
pub mod stamp;
pub mod status;

pub use assess::{Assessor, Health, Hysteresis};
pub use clock::{Clocks, SystemClocks};
pub use guard::{SkipReason, Verdict};
pub use ladder::Ladder;
pub use monitor::{ActionRecord, Decision, Effects, Monitor, StateChange, StepOutcome};
pub use probe::{Outcome, Probe, ProbeFuture, ProbeKind};
pub use settings::{RecoverySettings, Settings, SettingsError};
pub use stamp::{RebootStamp, StampError, StampLoad};
pub use status::{ProbeView, Status};
