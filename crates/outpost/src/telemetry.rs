//! Logging set-up: tracing, as text or JSON, to stderr, the local syslog socket or
//! journald (`log.target`); the level can change while running (`PUT /v1/config` with
//! `log.level`). Syslog lines are RFC 3164 as syslog(3) writes them to /dev/log (facility
//! user, the event's severity, `ident[pid]: `); journald gets its native datagram
//! protocol. A line the socket does not take goes to stderr, so nothing is lost silently.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::{layer::SubscriberExt, reload, util::SubscriberInitExt, Registry};

use crate::config::{LogFormat, LogLevel, LogTarget};

/// journald's native socket.
pub const JOURNALD_SOCKET: &str = "/run/systemd/journal/socket";

/// Where lines go and under which name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub target: LogTarget,
    /// syslog's ident / journald's SYSLOG_IDENTIFIER.
    pub ident: String,
    /// The syslog socket (`log.syslog_socket`).
    pub syslog_socket: PathBuf,
}

impl Output {
    /// Standard error.
    pub fn stderr() -> Output {
        Output {
            target: LogTarget::Stderr,
            ident: "outpost".into(),
            syslog_socket: PathBuf::from("/dev/log"),
        }
    }

    /// From the config: `log.target` if set; else syslog under ident `socketman` in
    /// SocketMan mode unless `debug_env` (SocketMan's `DEBUG`), else stderr.
    pub fn choose(
        target: Option<LogTarget>,
        socketman: bool,
        debug_env: bool,
        syslog_socket: &Path,
    ) -> Output {
        let target = target.unwrap_or(if socketman && !debug_env {
            LogTarget::Syslog
        } else {
            LogTarget::Stderr
        });
        Output {
            target,
            ident: if socketman { "socketman" } else { "outpost" }.into(),
            syslog_socket: syslog_socket.to_owned(),
        }
    }
}

/// A socket writer: each event is formatted into one [`Line`], sent when it drops.
#[derive(Debug)]
struct Sink {
    socket: UnixDatagram,
    path: PathBuf,
    journald: bool,
    ident: String,
    pid: u32,
}

/// One event being written.
struct Line<'a> {
    sink: &'a Sink,
    level: tracing::Level,
    buf: Vec<u8>,
}

impl Write for Line<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line<'_> {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buf);
        let text = text.trim_end().replace('\n', " ");
        if text.is_empty() {
            return;
        }
        let packet = if self.sink.journald {
            journald_packet(&self.sink.ident, self.level, &text)
        } else {
            syslog_packet(
                &self.sink.ident,
                self.sink.pid,
                self.level,
                &text,
                now_secs(),
            )
        };
        if self.sink.socket.send_to(&packet, &self.sink.path).is_err() {
            let _ = writeln!(std::io::stderr(), "{text}");
        }
    }
}

/// The fmt layer's writer: one [`Line`] per event.
struct SinkWriter(Arc<Sink>);

impl<'a> MakeWriter<'a> for SinkWriter {
    type Writer = Line<'a>;
    fn make_writer(&'a self) -> Line<'a> {
        Line {
            sink: &self.0,
            level: tracing::Level::INFO,
            buf: Vec::new(),
        }
    }
    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Line<'a> {
        Line {
            sink: &self.0,
            level: *meta.level(),
            buf: Vec::new(),
        }
    }
}

/// syslog(3)'s severities for tracing's levels.
fn severity(level: tracing::Level) -> u8 {
    match level {
        tracing::Level::ERROR => 3,
        tracing::Level::WARN => 4,
        tracing::Level::INFO => 6,
        _ => 7,
    }
}

/// Facility user (1), as SocketMan's `openlog(..., LOG_USER)`.
const FACILITY_USER: u8 = 1;

/// `<PRI>Mmm dd hh:mm:ss ident[pid]: text` (the time in UTC).
pub fn syslog_packet(
    ident: &str,
    pid: u32,
    level: tracing::Level,
    text: &str,
    now: i64,
) -> Vec<u8> {
    let pri = FACILITY_USER * 8 + severity(level);
    format!("<{pri}>{} {ident}[{pid}]: {text}", rfc3164_time(now)).into_bytes()
}

/// journald's native protocol: `KEY=value` lines.
pub fn journald_packet(ident: &str, level: tracing::Level, text: &str) -> Vec<u8> {
    format!(
        "MESSAGE={text}\nPRIORITY={}\nSYSLOG_IDENTIFIER={ident}\nSYSLOG_FACILITY={FACILITY_USER}\n",
        severity(level)
    )
    .into_bytes()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `Mmm dd hh:mm:ss` (day space-padded) for unix time `t`, UTC.
fn rfc3164_time(t: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    format!(
        "{} {day:>2} {:02}:{:02}:{:02}",
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

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
    init_to(level, format, &Output::stderr());
}

/// [`init`] to `out`. A socket that cannot be opened leaves logging on stderr (said there).
pub fn init_to(level: LogLevel, format: LogFormat, out: &Output) {
    let sink = match out.target {
        LogTarget::Stderr => None,
        LogTarget::Syslog | LogTarget::Journald => match UnixDatagram::unbound() {
            Ok(socket) => Some(Arc::new(Sink {
                socket,
                path: if out.target == LogTarget::Journald {
                    PathBuf::from(JOURNALD_SOCKET)
                } else {
                    out.syslog_socket.clone()
                },
                journald: out.target == LogTarget::Journald,
                ident: out.ident.clone(),
                pid: std::process::id(),
            })),
            Err(e) => {
                eprintln!(
                    "outpost: no socket for {:?} logging ({e}); logging to stderr",
                    out.target
                );
                None
            }
        },
    };
    let from_env = std::env::var("RUST_LOG").ok().and_then(|d| parse(&d));
    let reloadable = from_env.is_none();
    let filter = from_env.unwrap_or_else(|| configured(level));
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let res = match (sink, format) {
        // The socket's reader stamps the time; the line carries the rest.
        (Some(sink), LogFormat::Json) => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .without_time()
                    .with_writer(SinkWriter(sink)),
            )
            .try_init(),
        (Some(sink), LogFormat::Text) => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .without_time()
                    .with_writer(SinkWriter(sink)),
            )
            .try_init(),
        (None, format) => match format {
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
        },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue18_syslog_and_journald_packets() {
        // 2026-11-26 23:50:07 UTC
        let p = syslog_packet(
            "socketman",
            42,
            tracing::Level::WARN,
            "hello",
            1_795_737_007,
        );
        assert_eq!(
            String::from_utf8(p).unwrap(),
            "<12>Nov 26 23:50:07 socketman[42]: hello"
        );
        assert_eq!(rfc3164_time(0), "Jan  1 00:00:00");
        assert_eq!(rfc3164_time(951_782_400), "Feb 29 00:00:00");
        let j = journald_packet("outpost", tracing::Level::ERROR, "x");
        assert_eq!(
            String::from_utf8(j).unwrap(),
            "MESSAGE=x\nPRIORITY=3\nSYSLOG_IDENTIFIER=outpost\nSYSLOG_FACILITY=1\n"
        );
        let o = Output::choose(None, true, false, Path::new("/dev/log"));
        assert_eq!(
            (o.target, o.ident.as_str()),
            (LogTarget::Syslog, "socketman")
        );
        assert_eq!(
            Output::choose(None, true, true, Path::new("/l")).target,
            LogTarget::Stderr
        );
        assert_eq!(
            Output::choose(None, false, false, Path::new("/l")).target,
            LogTarget::Stderr
        );
        assert_eq!(
            Output::choose(Some(LogTarget::Journald), true, true, Path::new("/l")).target,
            LogTarget::Journald
        );
    }
}
