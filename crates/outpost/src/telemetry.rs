//! Logging set-up: tracing, to stderr, as text or JSON; the level can change while running
//! (`PUT /v1/config` with `log.level`).

use std::sync::OnceLock;

use tracing_subscriber::{layer::SubscriberExt, reload, util::SubscriberInitExt, Registry};

use crate::config::{LogFormat, LogLevel};

/// Full directives (span and field filters, regex) with the `env-filter` feature; a router
/// build without it takes `target=level` lists only (`warn,outpost::schedules=debug`), and
/// leaves out the regex engine that the full syntax needs.
#[cfg(feature = "env-filter")]
type Filter = tracing_subscriber::EnvFilter;
#[cfg(not(feature = "env-filter"))]
type Filter = tracing_subscriber::filter::Targets;

/// The filter of the installed subscriber, when it came from the configured level (not
/// from `RUST_LOG`, which an operator set on purpose and the config does not override).
static LEVEL: OnceLock<reload::Handle<Filter, Registry>> = OnceLock::new();

/// `RUST_LOG`, when set, wins: it takes full filter directives. Otherwise the configured
/// level (itself fed by `LOG_LEVEL` or `OUTPOST_LOG_LEVEL`) applies to every target.
pub fn init(level: LogLevel, format: LogFormat) {
    let from_env = std::env::var("RUST_LOG").ok().and_then(|d| parse(&d));
    let reloadable = from_env.is_none();
    let filter = from_env.unwrap_or_else(|| configured(level));
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let res = match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    // A second init (tests) keeps the first subscriber; nothing to report.
    if res.is_ok() && reloadable {
        let _ = LEVEL.set(handle);
    }
}

/// Applies a new level to the running subscriber. False when it cannot apply live
/// (`RUST_LOG` is set, or logging was not initialised by [`init`]).
pub fn set_level(level: LogLevel) -> bool {
    LEVEL
        .get()
        .is_some_and(|h| h.reload(configured(level)).is_ok())
}

/// The configured level for every target but bollard (the container engine's client),
/// which is held at info: at debug it prints every request body, and a container's create
/// body carries its environment, where secrets live (invariant 5).
fn configured(level: LogLevel) -> Filter {
    let bollard = match level {
        LogLevel::Debug | LogLevel::Trace => "info",
        l => l.as_str(),
    };
    parse(&format!("{},bollard={bollard}", level.as_str())).unwrap_or_default()
}

/// Filter directives, `None` when they do not parse.
fn parse(directives: &str) -> Option<Filter> {
    #[cfg(feature = "env-filter")]
    return Filter::try_new(directives).ok();
    #[cfg(not(feature = "env-filter"))]
    return directives.parse().ok();
}
