//! SocketMan's stats loop (../shared/compat/socketman.md §5, §6): every `monitor` seconds
//! one line ([`super::collect`]) appended to the on-disk cache; at most every `sleep`
//! seconds (and on the first pass, as SocketMan) the whole cache gzipped and POSTed as
//! the multipart field `data` to `stats_url?access_token=…&mac=…`, then to
//! `backup_stats_url` on any answer but 2xx and 401. With `no-cache` each line is POSTed
//! as JSON instead. The upload is the stats push's (`outpost_host::push`): the cache is
//! bounded (SocketMan's 5,000,000 bytes; the oldest lines go first), deleted only after
//! a 2xx, and TLS is always verified (against the web roots and `cacrt`).
//!
//! Differences on purpose: SocketMan read only the first 32 KiB of the cache, deleted it
//! after a 4xx or 5xx, never verified TLS, and labelled the multipart body
//! `Content-Encoding: gzip` although only the file inside it is gzipped (a server that
//! believed the label could not read the body); a `stats_url` in clear to a host other
//! than loopback is refused. A 401 ends the loop with [`Outcome::Reprovision`].
//!
//! A 2xx answer may carry `{"cmd": "..."}` (SocketMan's `process_response` popened it as
//! root): it is read up to [`REPLY_LIMIT`] bytes and run as boot's `cmd` is, through the
//! allowlist as an audited `exec` job with source `socketman-stats:<url key>`; shell text
//! is refused (and audited) unless `socketman.allow_shell`. A reply that is not JSON, or
//! longer than the limit, is logged and ignored.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use outpost_core::Dispatcher;
use outpost_host::push::{FlushOptions, FlushReport, PushError, Pusher, ReplyBody, StatsConfig};
use tokio_util::sync::CancellationToken;

use super::collect::{self, Paths, SysInfo};
use super::config::Settings;
use super::jobs;
use super::nl80211_read::WifiReader;
use super::score::{self, Targets};

/// SocketMan's cache limit.
pub const MAX_CACHE_BYTES: u64 = 5_000_000;
/// SocketMan's upload: one multipart file field named `data`; 401 is not retried on the
/// backup (it means: provision again).
pub const UPLOAD: FlushOptions = FlushOptions {
    multipart_field: Some("data"),
    final_statuses: &[401],
    reply_limit: REPLY_LIMIT,
};

/// The most of a stats reply that is read: a `{"cmd": ...}` is a line of text; more than
/// this is not a command, and is not held.
pub const REPLY_LIMIT: usize = 16 * 1024;

/// The source of commands from stats replies: not `socketman:`, so no DELIVERED is sent.
pub const SOURCE_PREFIX: &str = "socketman-stats:";

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("{key}: {source}")]
    Setup {
        key: &'static str,
        #[source]
        source: PushError,
    },
}

/// What ended the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The agent is stopping.
    Stopped,
    /// The collector answered 401: the device must provision again (SocketMan's
    /// `initialized = 0`).
    Reprovision,
}

/// What one upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Nothing to send.
    Empty,
    /// A URL took it (2xx); the cache is gone.
    Delivered,
    /// 401: kept, and provisioning starts again.
    Unauthorized,
    /// No URL took it; kept for the next try.
    Kept(FlushReport),
}

/// The stats loop's state.
pub struct Stats {
    pusher: Pusher,
    mac: String,
    monitor: Duration,
    sleep: Duration,
    no_cache: bool,
    scan: bool,
    /// `survey`: neighbours (`survey[]`) from the kernel's scan results.
    survey: bool,
    /// Reads `ssids[]`, `stations[]` and `survey[]` from nl80211 when `scan` is on.
    wifi: WifiReader,
    paths: Paths,
    targets: Targets,
    /// Where a reply's `cmd` goes; `None`: logged, not run (no dispatcher given).
    commands: Option<(jobs::Policy, Dispatcher)>,
    /// The connectivity monitor, whose latest results give `device.status`; `None`:
    /// measured here (`score.rs`).
    connectivity: Option<super::MonitorLink>,
}

/// `url` with `access_token` and `mac` appended, as SocketMan's `append_url_token`.
fn tokened(url: &str, token: Option<&str>, mac: &str) -> String {
    match super::rest::with_token(url, token, mac) {
        Ok(u) => u.to_string(),
        // Left as is: the push's own check names what is wrong with it.
        Err(_) => url.to_owned(),
    }
}

impl Stats {
    /// `None` without a `stats_url`: SocketMan then collected nothing worth keeping.
    pub fn new(s: &Settings, cache_dir: &Path, paths: Paths) -> Result<Option<Stats>, StatsError> {
        let Some(url) = &s.stats_url else {
            return Ok(None);
        };
        let mut cfg = StatsConfig::new(tokened(url, s.token.as_deref(), &s.mac), cache_dir);
        cfg.backup_url = s
            .backup_stats_url
            .as_deref()
            .map(|b| tokened(b, s.token.as_deref(), &s.mac));
        cfg.max_cache_bytes = MAX_CACHE_BYTES;
        // Bounded by bytes, as SocketMan's; a line is about 1 KB, so this never binds first.
        cfg.max_cache_lines = 1_000_000;
        cfg.timeout = Duration::from_secs(30);
        cfg.ca_file = s.cacrt.clone();
        let pusher =
            Pusher::new(cfg, outpost_host::Host::new(Default::default())).map_err(|source| {
                StatsError::Setup {
                    key: "stats_url",
                    source,
                }
            })?;
        Ok(Some(Stats {
            pusher,
            mac: s.mac.clone(),
            monitor: Duration::from_secs(s.monitor),
            sleep: Duration::from_secs(s.sleep),
            no_cache: s.no_cache,
            scan: s.scan,
            survey: s.survey,
            wifi: WifiReader::default(),
            paths,
            targets: Targets {
                health: (s.health_url.clone(), s.health_port),
                web: (score::WEB.0.to_owned(), score::WEB.1),
            },
            commands: None,
            connectivity: None,
        }))
    }

    /// `device.status` from the connectivity monitor instead of measured here.
    pub fn with_monitor(mut self, monitor: Option<super::MonitorLink>) -> Stats {
        self.connectivity = monitor;
        self
    }

    /// Overrides where the collector reads and where the score's checks go (tests).
    pub fn with_sources(mut self, paths: Paths, targets: Targets) -> Stats {
        self.paths = paths;
        self.targets = targets;
        self
    }

    /// Runs a `cmd` in a 2xx reply through `policy` on `dispatcher`.
    pub fn with_commands(mut self, policy: jobs::Policy, dispatcher: Dispatcher) -> Stats {
        self.commands = Some((policy, dispatcher));
        self
    }

    pub fn cache_path(&self) -> PathBuf {
        self.pusher.cache_path().to_owned()
    }

    /// One stats line as JSON, the score measured now.
    pub async fn collect(&self) -> String {
        let status = self.score().await;
        // With `scan` on, from the kernel; empty without nl80211 (no radio), as SocketMan
        // sent them on a device without Wi-Fi.
        let wifi = if self.scan {
            Some(self.wifi.read(self.survey).await)
        } else {
            None
        };
        let line = collect::line(&self.paths, &self.mac, SysInfo::now(), status, wifi, now());
        serde_json::to_string(&line).unwrap_or_default()
    }

    /// `device.status`: the monitor's, or measured here without one.
    async fn score(&self) -> u8 {
        #[cfg(feature = "connectivity")]
        if let Some(m) = &self.connectivity {
            return super::monitor::score(&m.status());
        }
        self.measure().await
    }

    /// SocketMan's own score, measured now (no monitor).
    async fn measure(&self) -> u8 {
        let route = std::fs::read_to_string(self.paths.proc.join("net/route"))
            .ok()
            .and_then(|r| collect::default_route(&r))
            .is_some();
        score::measure(route, &self.targets).await
    }

    /// Appends a line to the cache (bounded: the oldest lines go first).
    pub fn append(&self, line: &str) -> Result<(), PushError> {
        self.pusher.append(line)
    }

    /// Uploads the whole cache.
    pub async fn upload(&self) -> Result<Sent, PushError> {
        let report = self.pusher.flush_with(&UPLOAD).await?;
        self.answered(&report).await;
        Ok(judge(report))
    }

    /// `no-cache`: POSTs one line as JSON.
    pub async fn post(&self, line: &str) -> Sent {
        let report = self.pusher.post_json(line, &UPLOAD).await;
        self.answered(&report).await;
        judge(report)
    }

    /// Runs the `cmd` of a 2xx reply, if it has one.
    async fn answered(&self, report: &FlushReport) {
        let Some(reply) = &report.reply else { return };
        // Which URL took it: the primary, or the backup after it.
        let from = if report.answers.len() > 1 {
            "backup_stats_url"
        } else {
            "stats_url"
        };
        let cmd = match reply_command(reply) {
            Ok(Some(cmd)) => cmd,
            Ok(None) => return,
            Err(why) => {
                tracing::info!(from, why = %why, "socketman: stats reply ignored");
                return;
            }
        };
        match &self.commands {
            Some((policy, dispatcher)) => {
                jobs::submit_reply_cmd(policy, dispatcher, SOURCE_PREFIX, from, &cmd).await
            }
            None => tracing::warn!(
                from,
                "socketman: a stats reply's cmd not run: no dispatcher"
            ),
        }
    }

    /// One monitor pass: collect, then cache and (when due) upload, or post.
    async fn pass(&self, due: bool) -> Option<Sent> {
        let line = self.collect().await;
        if self.no_cache {
            return due.then_some(self.post(&line).await);
        }
        if let Err(e) = self.append(&line) {
            tracing::warn!(error = %e, "socketman: stats line not cached");
        }
        if !due {
            return None;
        }
        match self.upload().await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "socketman: stats cache not sent");
                None
            }
        }
    }

    /// Runs passes every `monitor` seconds until `stop` or a 401.
    pub async fn run(self, stop: CancellationToken) -> Outcome {
        let mut last_send: Option<Instant> = None;
        let mut tick = tokio::time::interval(self.monitor);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return Outcome::Stopped,
                _ = tick.tick() => {}
            }
            let due = last_send.is_none_or(|t| t.elapsed() >= self.sleep);
            let sent = tokio::select! {
                () = stop.cancelled() => return Outcome::Stopped,
                s = self.pass(due) => s,
            };
            if due {
                last_send = Some(Instant::now());
            }
            match sent {
                Some(Sent::Unauthorized) => {
                    tracing::warn!("socketman: the collector answered 401: provisioning again");
                    return Outcome::Reprovision;
                }
                Some(Sent::Kept(r)) => {
                    tracing::warn!(answers = ?r.answers, lines = r.lines, "socketman: no stats URL took the cache; kept for the next upload")
                }
                Some(Sent::Delivered) => tracing::debug!("socketman: stats delivered"),
                _ => {}
            }
        }
    }
}

/// The command in a stats reply: `Ok(None)` for a reply with nothing to run (empty, or
/// JSON without a string `cmd`), `Err` for one that is ignored (not JSON, too long, cut).
pub fn reply_command(reply: &ReplyBody) -> Result<Option<String>, String> {
    match reply {
        ReplyBody::Read(body) if body.iter().all(u8::is_ascii_whitespace) => Ok(None),
        ReplyBody::Read(body) => {
            if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() {
                return Err(format!("not JSON ({} bytes)", body.len()));
            }
            Ok(jobs::reply_cmd(body))
        }
        ReplyBody::TooLarge { limit } => Err(format!("longer than {limit} bytes")),
        ReplyBody::Failed(e) => Err(e.clone()),
    }
}

fn judge(r: FlushReport) -> Sent {
    if r.delivered {
        Sent::Delivered
    } else if r.lines == 0 {
        Sent::Empty
    } else if r.last_status() == Some(401) {
        Sent::Unauthorized
    } else {
        Sent::Kept(r)
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue18_stats_reply_command_from_json_only() {
        let read = |b: &[u8]| ReplyBody::Read(b.to_vec().into());
        assert_eq!(
            reply_command(&read(br#"{"cmd":"say hi"}"#)),
            Ok(Some("say hi".into()))
        );
        assert_eq!(reply_command(&read(b"")), Ok(None));
        assert_eq!(reply_command(&read(b" \n")), Ok(None));
        assert_eq!(reply_command(&read(br#"{"ok":true}"#)), Ok(None));
        assert_eq!(reply_command(&read(br#"{"cmd":7}"#)), Ok(None));
        assert!(reply_command(&read(b"OK")).is_err());
        assert!(reply_command(&read(b"{\"cmd\":\"say")).is_err());
        assert!(reply_command(&ReplyBody::TooLarge { limit: REPLY_LIMIT }).is_err());
        assert!(reply_command(&ReplyBody::Failed("reset".into())).is_err());
    }
}
