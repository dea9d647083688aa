//! Logging set-up: tracing, to stderr, as text or JSON.

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogLevel};

/// `RUST_LOG`, when set, wins: it takes full filter directives. Otherwise the configured
/// level (itself fed by `LOG_LEVEL` or `OUTPOST_LOG_LEVEL`) applies to every target.
pub fn init(level: LogLevel, format: LogFormat) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|d| EnvFilter::try_new(d).ok())
        .unwrap_or_else(|| EnvFilter::new(level.as_str()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let res = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
    // A second init (tests) keeps the first subscriber; nothing to report.
    let _ = res;
}
