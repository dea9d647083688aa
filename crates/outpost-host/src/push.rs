//! Stats push: every `interval`, append one JSON line (a `metrics` job
//! snapshot) to a bounded file cache, then POST the whole cache gzipped to
//! `stats.url`, falling back to `stats.backup_url`. The cache is deleted only
//! after a 2xx, so a failed or cut-off POST loses nothing but time; when the
//! cache is full the oldest lines are dropped and counted.
//!
//! One task owns the cache file: appends and POSTs are sequential, so no
//! line can arrive between reading a batch and deleting it.

use crate::job::{self, MetricsParams};
pub use crate::push_http::ReplyBody;
use crate::push_http::{PostClient, SetupError};
use crate::Host;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The `stats.*` config keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsConfig {
    /// `stats.url`: where batches go. https, or http to a loopback address
    /// only (tests, a local relay): stats never cross a network in clear.
    pub url: String,
    /// `stats.backup_url`: tried when `url` does not answer 2xx.
    pub backup_url: Option<String>,
    /// `stats.interval`: time between snapshots (and POST attempts).
    pub interval: Duration,
    /// `stats.cache_dir`: holds `stats.jsonl`, which survives restarts.
    pub cache_dir: PathBuf,
    /// `stats.max_cache_bytes`: the cache file never grows past this.
    pub max_cache_bytes: u64,
    /// `stats.max_cache_lines`: nor holds more snapshots than this.
    pub max_cache_lines: usize,
    /// `stats.timeout`: deadline of one POST, connect included.
    pub timeout: Duration,
    /// `stats.ca_file`: PEM certificates to trust besides the built-in web
    /// roots, for a collector behind a private CA. Verification stays on.
    pub ca_file: Option<PathBuf>,
    /// Which groups each snapshot holds.
    pub params: MetricsParams,
}

impl StatsConfig {
    /// A config with the defaults for everything but where to send and cache.
    pub fn new(url: impl Into<String>, cache_dir: impl Into<PathBuf>) -> Self {
        StatsConfig {
            url: url.into(),
            backup_url: None,
            interval: Duration::from_secs(60),
            cache_dir: cache_dir.into(),
            max_cache_bytes: 4 << 20,
            max_cache_lines: 1440,
            timeout: Duration::from_secs(30),
            ca_file: None,
            params: MetricsParams::default(),
        }
    }
}

/// Why the stats push could not start or a step failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// A URL is malformed or would send stats in clear over a network.
    #[error("stats URL {url}: {reason}")]
    Url {
        /// The offending URL, scheme and host only: paths and queries may
        /// carry tokens, which never reach a log.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The cache file could not be read or written.
    #[error("stats cache {path}: {source}")]
    Cache {
        /// The cache file or directory.
        path: PathBuf,
        /// What the filesystem said.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP client could not be built (TLS setup).
    #[error("building HTTP client: {0}")]
    Client(#[source] rustls::Error),
    /// `stats.ca_file` could not be read or holds no PEM certificate.
    #[error("stats CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Collecting the snapshot failed.
    #[error("collecting snapshot: {0}")]
    Collect(#[from] crate::HostError),
    /// Neither URL took the batch; the cache is kept.
    #[error("no stats URL accepted the batch: {0}")]
    NotDelivered(String),
}

/// Counters the binary can export on /metrics.
#[derive(Debug, Default)]
pub struct PushCounters {
    /// Snapshots appended to the cache.
    pub lines_cached: AtomicU64,
    /// Lines dropped because the cache was full (oldest first) or unreadable.
    pub lines_dropped: AtomicU64,
    /// Batches a URL answered 2xx to.
    pub batches_sent: AtomicU64,
    /// POST attempts that failed, per URL tried.
    pub posts_failed: AtomicU64,
}

/// The push's state: the cache file, the client and the counters.
#[derive(Debug)]
pub struct Pusher {
    /// Validated config.
    config: StatsConfig,
    /// Primary then backup, parsed once.
    urls: Vec<url::Url>,
    /// Where snapshots come from.
    host: Host,
    /// TLS-verifying client (rustls, webpki roots), no redirects.
    client: PostClient,
    /// `cache_dir/stats.jsonl`.
    path: PathBuf,
    /// Shared with whoever exports them.
    counters: Arc<PushCounters>,
}

fn check_url(raw: &str) -> Result<url::Url, PushError> {
    let url = url::Url::parse(raw).map_err(|_| PushError::Url {
        url: "(unparsable)".to_string(),
        reason: "not a URL",
    })?;
    let bad = |reason| PushError::Url {
        url: redact(&url),
        reason,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if loopback {
                Ok(url)
            } else {
                Err(bad("plain http is allowed to loopback only; use https"))
            }
        }
        _ => Err(bad("scheme must be https")),
    }
}

impl Pusher {
    /// Validates the config and builds the client. Creates `cache_dir`.
    pub fn new(config: StatsConfig, host: Host) -> Result<Pusher, PushError> {
        let mut urls = vec![check_url(&config.url)?];
        if let Some(b) = &config.backup_url {
            urls.push(check_url(b)?);
        }
        std::fs::create_dir_all(&config.cache_dir).map_err(|source| PushError::Cache {
            path: config.cache_dir.clone(),
            source,
        })?;
        let client =
            PostClient::new(config.timeout, config.ca_file.as_deref()).map_err(|e| match e {
                SetupError::CaFile(path, reason) => PushError::CaFile { path, reason },
                SetupError::Tls(e) => PushError::Client(e),
            })?;
        Ok(Pusher {
            path: config.cache_dir.join("stats.jsonl"),
            urls,
            config,
            host,
            client,
            counters: Arc::new(PushCounters::default()),
        })
    }

    /// The counters, to export on /metrics.
    pub fn counters(&self) -> Arc<PushCounters> {
        Arc::clone(&self.counters)
    }

    /// The cache file.
    pub fn cache_path(&self) -> &Path {
        &self.path
    }

    fn cache_err(&self, source: std::io::Error) -> PushError {
        PushError::Cache {
            path: self.path.clone(),
            source,
        }
    }

    /// Lines in the cache. A missing file is an empty cache; lines that are
    /// not JSON (a write cut by a crash) are dropped and counted.
    fn read_cache(&self) -> Result<Vec<String>, PushError> {
        let text = match std::fs::read(&self.path) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.cache_err(e)),
        };
        let mut lines = Vec::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            if serde_json::from_str::<serde::de::IgnoredAny>(line).is_ok() {
                lines.push(line.to_string());
            } else {
                self.counters.lines_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(lines)
    }

    /// Appends one line, dropping the oldest lines to stay within bounds.
    pub fn append(&self, line: &str) -> Result<(), PushError> {
        let mut lines = self.read_cache()?;
        lines.push(line.to_string());
        let size = |ls: &[String]| ls.iter().map(|l| l.len() as u64 + 1).sum::<u64>();
        let mut dropped = 0u64;
        while !lines.is_empty()
            && (lines.len() > self.config.max_cache_lines
                || size(&lines) > self.config.max_cache_bytes)
        {
            lines.remove(0);
            dropped += 1;
        }
        self.counters
            .lines_dropped
            .fetch_add(dropped, Ordering::Relaxed);
        self.counters.lines_cached.fetch_add(1, Ordering::Relaxed);
        // Write a new file and rename it over the old one, so a crash leaves
        // either the old cache or the new one, never half of each.
        let tmp = self.path.with_extension("jsonl.tmp");
        let mut body = String::with_capacity(size(&lines) as usize);
        for l in &lines {
            body.push_str(l);
            body.push('\n');
        }
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(body.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| self.cache_err(e))
    }

    /// POSTs the whole cache, gzipped NDJSON, to the first URL that answers
    /// 2xx, then deletes it. Returns how many lines were delivered.
    pub async fn flush(&self) -> Result<usize, PushError> {
        let lines = self.read_cache()?;
        if lines.is_empty() {
            return Ok(0);
        }
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        for l in &lines {
            enc.write_all(l.as_bytes())
                .and_then(|()| enc.write_all(b"\n"))
                .map_err(|e| self.cache_err(e))?;
        }
        let body = bytes::Bytes::from(enc.finish().map_err(|e| self.cache_err(e))?);
        let mut failures = Vec::new();
        for url in &self.urls {
            let sent = self
                .client
                .post(
                    url,
                    &[
                        ("content-type", "application/x-ndjson"),
                        ("content-encoding", "gzip"),
                    ],
                    body.clone(),
                )
                .await;
            match sent {
                Ok(status) if status.is_success() => {
                    std::fs::remove_file(&self.path).map_err(|e| self.cache_err(e))?;
                    self.counters.batches_sent.fetch_add(1, Ordering::Relaxed);
                    return Ok(lines.len());
                }
                Ok(status) => failures.push(format!("{}: HTTP {status}", redact(url))),
                // The client's errors never name the URL; redact keeps only the host part.
                Err(e) => failures.push(format!("{}: {e}", redact(url))),
            }
            self.counters.posts_failed.fetch_add(1, Ordering::Relaxed);
        }
        Err(PushError::NotDelivered(failures.join("; ")))
    }

    /// Like [`Pusher::flush`], framed and routed as `opts` says, and reporting what each
    /// URL answered (a caller that acts on a status, as SocketMan's upload acts on 401,
    /// needs it). The cache is deleted only after a 2xx, as by `flush`. `Err` only when
    /// the cache cannot be read, compressed or deleted; a batch no URL took is
    /// `Ok` with `delivered: false`.
    pub async fn flush_with(&self, opts: &FlushOptions) -> Result<FlushReport, PushError> {
        let lines = self.read_cache()?;
        if lines.is_empty() {
            return Ok(FlushReport::default());
        }
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        for l in &lines {
            enc.write_all(l.as_bytes())
                .and_then(|()| enc.write_all(b"\n"))
                .map_err(|e| self.cache_err(e))?;
        }
        let gz = enc.finish().map_err(|e| self.cache_err(e))?;
        let (body, headers) = match opts.multipart_field {
            Some(field) => multipart(field, &gz),
            None => (
                gz,
                vec![
                    ("content-type", "application/x-ndjson"),
                    ("content-encoding", "gzip"),
                ],
            ),
        };
        let mut report = self.send_batch(body.into(), &headers, opts).await;
        if report.delivered {
            std::fs::remove_file(&self.path).map_err(|e| self.cache_err(e))?;
        }
        report.lines = lines.len();
        Ok(report)
    }

    /// POSTs one JSON document as `application/json`, past the cache (SocketMan's
    /// `no-cache`), routed as `opts` says.
    pub async fn post_json(&self, json: &str, opts: &FlushOptions) -> FlushReport {
        let headers = [
            ("content-type", "application/json"),
            ("accept", "application/json"),
        ];
        let mut report = self
            .send_batch(bytes::Bytes::from(json.to_owned()), &headers, opts)
            .await;
        report.lines = 1;
        report
    }

    /// Tries each URL in turn until one answers 2xx or a status in `opts.final_statuses`.
    async fn send_batch(
        &self,
        body: bytes::Bytes,
        headers: &[(&'static str, &'static str)],
        opts: &FlushOptions,
    ) -> FlushReport {
        let mut report = FlushReport::default();
        for url in &self.urls {
            let sent = self
                .client
                .post_reading(url, headers, body.clone(), opts.reply_limit)
                .await;
            let (status, error) = match &sent {
                Ok((s, _)) => (Some(s.as_u16()), None),
                Err(e) => (None, Some(e.clone())),
            };
            report.answers.push(Answer {
                url: redact(url),
                status,
                error,
            });
            match sent {
                Ok((s, reply)) if s.is_success() => {
                    self.counters.batches_sent.fetch_add(1, Ordering::Relaxed);
                    report.delivered = true;
                    report.reply = reply;
                    return report;
                }
                Ok((s, _)) if opts.final_statuses.contains(&s.as_u16()) => {
                    self.counters.posts_failed.fetch_add(1, Ordering::Relaxed);
                    return report;
                }
                _ => {
                    self.counters.posts_failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        report
    }

    /// One period: snapshot, append, flush.
    pub async fn tick(&self) -> Result<usize, PushError> {
        let snapshot = job::run(&self.host, &self.config.params)?;
        match serde_json::to_string(&snapshot) {
            Ok(line) => self.append(&line)?,
            Err(e) => tracing::warn!(error = %e, "stats snapshot did not serialize"),
        }
        self.flush().await
    }
}

/// How [`Pusher::flush_with`] frames a batch and when it stops trying URLs.
#[derive(Debug, Clone, Default)]
pub struct FlushOptions {
    /// Send the gzip file as the one part of a `multipart/form-data` body, under this
    /// field name (as a file, `stats.jsonl.gz`), instead of as the body itself.
    pub multipart_field: Option<&'static str>,
    /// Answers after which no later URL is tried (SocketMan: 401 means "provision
    /// again", not "try the backup").
    pub final_statuses: &'static [u16],
    /// Read the body of the 2xx answer, up to this many bytes (0: not read). SocketMan's
    /// collector may answer with a command to run (`{"cmd": ...}`).
    pub reply_limit: usize,
}

/// What [`Pusher::flush_with`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Lines in the batch (0: the cache was empty, nothing was sent).
    pub lines: usize,
    /// One per URL tried, in order.
    pub answers: Vec<Answer>,
    /// A URL answered 2xx (and the cache was deleted).
    pub delivered: bool,
    /// The 2xx answer's body, when `FlushOptions::reply_limit` asked for it.
    pub reply: Option<ReplyBody>,
}

impl FlushReport {
    /// The last HTTP status answered, if any URL answered.
    pub fn last_status(&self) -> Option<u16> {
        self.answers.iter().rev().find_map(|a| a.status)
    }
}

/// One URL's answer to a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Scheme, host and port only (no token).
    pub url: String,
    /// The HTTP status, when the URL answered.
    pub status: Option<u16>,
    /// What went wrong, when it did not.
    pub error: Option<String>,
}

/// Two fixed boundaries (headers are static): the second is used in the unlikely case that
/// the gzip bytes hold the first.
const BOUNDARIES: [(&str, &str); 2] = [
    (
        "outpost-stats-5c0f9e2a7d41b38e",
        "multipart/form-data; boundary=outpost-stats-5c0f9e2a7d41b38e",
    ),
    (
        "outpost-stats-a83d7b16e0c94f25",
        "multipart/form-data; boundary=outpost-stats-a83d7b16e0c94f25",
    ),
];

/// A `multipart/form-data` body with one file part `field` holding `gz`.
fn multipart(field: &str, gz: &[u8]) -> (Vec<u8>, Vec<(&'static str, &'static str)>) {
    let holds = |b: &str| {
        let needle = format!("--{b}");
        gz.windows(needle.len()).any(|w| w == needle.as_bytes())
    };
    let (boundary, content_type) = BOUNDARIES
        .iter()
        .copied()
        .find(|(b, _)| !holds(b))
        .unwrap_or(BOUNDARIES[1]);
    let mut body = Vec::with_capacity(gz.len() + 256);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\ncontent-disposition: form-data; name=\"{field}\"; \
             filename=\"stats.jsonl.gz\"\r\ncontent-type: application/gzip\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(gz);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (body, vec![("content-type", content_type)])
}

/// URLs may carry credentials or tokens in their path or query; logs and
/// errors get scheme, host and port only.
fn redact(url: &url::Url) -> String {
    format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    )
}

/// Runs the stats push until `shutdown` completes. Spawn it from the binary:
/// `tokio::spawn(push::run(config, host, token.cancelled_owned()))`.
pub async fn run(
    config: StatsConfig,
    host: Host,
    shutdown: impl Future<Output = ()>,
) -> Result<(), PushError> {
    let pusher = Pusher::new(config, host)?;
    run_pusher(&pusher, shutdown).await;
    Ok(())
}

/// Like [`run`] with a pusher built beforehand, so the caller keeps its counters.
pub async fn run_pusher(pusher: &Pusher, shutdown: impl Future<Output = ()>) {
    let mut ticker = tokio::time::interval(pusher.config.interval.max(Duration::from_secs(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = ticker.tick() => {
                // A POST in flight when shutdown comes is abandoned; its
                // lines stay cached because deletion follows only a 2xx.
                tokio::select! {
                    () = &mut shutdown => return,
                    r = pusher.tick() => if let Err(e) = r {
                        tracing::warn!(error = %e, "stats push");
                    },
                }
            }
        }
    }
}
