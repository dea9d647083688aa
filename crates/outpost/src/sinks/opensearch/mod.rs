//! `sink.opensearch`: results and events sent to OpenSearch with the `_bulk` API, read from
//! the outbox at the sink's own consumer cursor (`sink:opensearch`), so nothing is lost
//! while OpenSearch is down: the cursor moves only after OpenSearch answered 200 and
//! accounted for every item of the batch (see [`doc::verdict`]). Batches are bounded
//! (`sink.opensearch.batch_max`), failures back off with full jitter (the uplinks'
//! `uplink.backoff_*_ms`), and what is dropped is counted on `/metrics`. TLS is verified
//! (rustls, the built-in web roots plus `sink.opensearch.ca_file`).
//!
//! This replaces rusty_agent's shipping (one `curl` per document to `_doc`, with hard-coded
//! credentials, the result only logged: a document sent while OpenSearch was down was lost).

pub mod doc;

use std::{
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc,
    },
    time::Duration,
};

use anyhow::Context;
use outpost_core::Store;
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

use crate::{
    components::{Component, Registrar, Shared, Start},
    config::Config,
    uplink::backoff::{Backoff, BackoffConfig},
};

pub const NAME: &str = "sink.opensearch";
/// The sink's outbox consumer.
pub const CONSUMER: &str = "sink:opensearch";

/// `https://`, or `http://` to a loopback host only (credentials would cross the network in
/// clear); no credentials in the URL (they have their own keys, one of them secret).
pub fn check_url(url: &str) -> Result<reqwest::Url, String> {
    let u = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err("credentials go in sink.opensearch.user and .password, not the URL".into());
    }
    let Some(host) = u.host_str() else {
        return Err("no host".into());
    };
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match u.scheme() {
        "https" => Ok(u),
        "http" if loopback => Ok(u),
        "http" => Err("plain http:// is allowed to a loopback host only; use https://".into()),
        s => Err(format!("scheme {s}: expected https://")),
    }
}

/// What the sink counts, on `/metrics`.
#[derive(Debug, Default)]
pub struct SinkCounters {
    pub docs_sent: AtomicU64,
    pub docs_dropped: AtomicU64,
    pub batches_failed: AtomicU64,
    pub cursor: AtomicU64,
}

pub struct OpenSearchSink {
    client: reqwest::Client,
    bulk_url: reqwest::Url,
    index: String,
    user: Option<String>,
    password: Option<SecretString>,
    batch_max: usize,
    backoff: BackoffConfig,
    agent_id: String,
    counters: Arc<SinkCounters>,
}

pub fn build(cfg: &mut Config, shared: &Shared) -> anyhow::Result<Option<Box<dyn Component>>> {
    let os = &mut cfg.sink.opensearch;
    let Some(url) = os.url.clone() else {
        return Ok(None);
    };
    let base = check_url(&url).map_err(|why| anyhow::anyhow!("sink.opensearch.url: {why}"))?;
    let bulk_url = base
        .join(if base.path().ends_with('/') {
            "_bulk"
        } else {
            "/_bulk"
        })
        .context("sink.opensearch.url")?;
    // A base with a path prefix (a proxy's /opensearch/) keeps it.
    let bulk_url = if base.path().len() > 1 {
        let mut u = base.clone();
        u.set_path(&format!("{}/_bulk", base.path().trim_end_matches('/')));
        u
    } else {
        bulk_url
    };
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(10))
        .https_only(bulk_url.scheme() == "https");
    if let Some(ca) = &os.ca_file {
        let pem = std::fs::read(ca)
            .with_context(|| format!("sink.opensearch.ca_file: reading {}", ca.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("sink.opensearch.ca_file: {}", ca.display()))?;
        if certs.is_empty() {
            anyhow::bail!(
                "sink.opensearch.ca_file: no certificate in {}",
                ca.display()
            );
        }
        for c in certs {
            builder = builder.add_root_certificate(c);
        }
    }
    let client = builder.build().context("sink.opensearch: TLS client")?;
    tracing::info!(
        url = %format!("{}://{}", bulk_url.scheme(), bulk_url.host_str().unwrap_or("")),
        index = %os.index,
        "opensearch sink: on (consumer {CONSUMER})"
    );
    Ok(Some(Box::new(OpenSearchSink {
        client,
        bulk_url,
        index: os.index.clone(),
        user: os.user.clone(),
        password: os.password.take(),
        batch_max: os.batch_max,
        backoff: crate::uplink::Tuning::from_config(&cfg.uplink).backoff,
        agent_id: shared.agent_id.clone(),
        counters: Arc::new(SinkCounters::default()),
    })))
}

impl Component for OpenSearchSink {
    fn register(&mut self, r: &mut Registrar<'_>) -> anyhow::Result<()> {
        r.metrics
            .register_collector(Box::new(Collector(self.counters.clone())));
        Ok(())
    }

    fn start(self: Box<Self>, cx: &mut Start<'_>) -> anyhow::Result<()> {
        let store = cx.shared.store.clone();
        let host = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        let stop = cx.stop_token();
        cx.spawn(async move { self.run(store, host, stop).await });
        Ok(())
    }
}

/// Why a batch was not acknowledged.
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("{0}")]
    Http(String),
    #[error("answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("{0}")]
    Retry(String),
}

impl OpenSearchSink {
    async fn run(self, store: Store, host: String, stop: CancellationToken) {
        // Subscribed before the first read, so no row committed after it goes unnoticed.
        let mut live = store.subscribe();
        let mut cursor = loop {
            match store.register_consumer(CONSUMER).await {
                Ok(c) => break c,
                Err(e) => {
                    tracing::error!(error = %e, "opensearch sink: registering its outbox cursor failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.cancelled() => return,
                    }
                }
            }
        };
        self.counters.cursor.store(cursor, Relaxed);
        // A cursor registered for the first time starts at the outbox's head: rows written
        // before the sink was first enabled are not sent.
        tracing::info!(
            cursor,
            "opensearch sink: sending outbox rows after seq {cursor}"
        );
        let mut backoff = Backoff::new(self.backoff);
        let limit = u32::try_from(self.batch_max).unwrap_or(u32::MAX);
        while !stop.is_cancelled() {
            let rows = match store.outbox_after(cursor, limit).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "opensearch sink: reading the outbox failed");
                    if !pause(&stop, backoff.next_delay(None, false)).await {
                        return;
                    }
                    continue;
                }
            };
            let Some(last) = rows.last().map(|r| r.seq) else {
                // Nothing owed: wait for the next row (or a lag, which means rows exist).
                tokio::select! {
                    r = live.recv() => {
                        if matches!(r, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                            return;
                        }
                    }
                    _ = stop.cancelled() => return,
                }
                continue;
            };
            let mut body = Vec::with_capacity(rows.len() * 512);
            for r in &rows {
                doc::push_row(&mut body, r, &self.index, &self.agent_id, &host);
            }
            match self.send(body, rows.len()).await {
                Ok(dropped) => {
                    self.counters
                        .docs_sent
                        .fetch_add((rows.len() - dropped) as u64, Relaxed);
                    if dropped > 0 {
                        self.counters
                            .docs_dropped
                            .fetch_add(dropped as u64, Relaxed);
                        tracing::warn!(
                            dropped,
                            "opensearch sink: OpenSearch refused documents for good (see its reply); they are dropped"
                        );
                    }
                    cursor = last;
                    self.counters.cursor.store(cursor, Relaxed);
                    if let Err(e) = store.ack(CONSUMER, cursor).await {
                        // The next start resends from the old cursor: same `_id`s, no copies.
                        tracing::error!(error = %e, "opensearch sink: recording its cursor failed");
                    }
                    backoff = Backoff::new(self.backoff);
                }
                Err(e) => {
                    self.counters.batches_failed.fetch_add(1, Relaxed);
                    let delay = backoff.next_delay(None, false);
                    tracing::warn!(
                        error = %e,
                        retry_in_ms = delay.as_millis() as u64,
                        "opensearch sink: batch not stored; it is sent again"
                    );
                    if !pause(&stop, delay).await {
                        return;
                    }
                }
            }
        }
    }

    /// One `_bulk` POST; `Ok(dropped)` when the batch may be acknowledged.
    async fn send(&self, body: Vec<u8>, sent: usize) -> Result<usize, SendError> {
        let mut req = self
            .client
            .post(self.bulk_url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
            .body(body);
        if let Some(u) = &self.user {
            req = req.basic_auth(u, self.password.as_ref().map(|p| p.expose_secret()));
        }
        // reqwest's errors name the URL; the URL holds no credentials (check_url).
        let resp = req
            .send()
            .await
            .map_err(|e| SendError::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| SendError::Http(e.to_string()))?;
        if status != 200 {
            let body = String::from_utf8_lossy(&bytes[..bytes.len().min(256)]).into_owned();
            return Err(SendError::Status { status, body });
        }
        let reply: doc::BulkReply = serde_json::from_slice(&bytes)
            .map_err(|e| SendError::Retry(format!("unreadable _bulk reply: {e}")))?;
        match doc::verdict(&reply, sent) {
            doc::Verdict::Stored => Ok(0),
            doc::Verdict::StoredExcept { dropped } => Ok(dropped),
            doc::Verdict::Retry(why) => Err(SendError::Retry(why)),
        }
    }
}

/// Sleeps `d`; false when the sink is stopping.
async fn pause(stop: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = stop.cancelled() => false,
    }
}

#[derive(Debug)]
struct Collector(Arc<SinkCounters>);

impl prometheus_client::collector::Collector for Collector {
    fn encode(
        &self,
        mut enc: prometheus_client::encoding::DescriptorEncoder<'_>,
    ) -> std::fmt::Result {
        let c = &self.0;
        outpost_host::prom::atomic_counters(
            &mut enc,
            &[
                (
                    "outpost_opensearch_docs_sent",
                    "Documents OpenSearch stored through the _bulk sink",
                    &c.docs_sent,
                ),
                (
                    "outpost_opensearch_docs_dropped",
                    "Documents OpenSearch refused for good (4xx per item); not resent",
                    &c.docs_dropped,
                ),
                (
                    "outpost_opensearch_batches_failed",
                    "_bulk requests not acknowledged (down, 5xx, 429, unreadable reply); resent",
                    &c.batches_failed,
                ),
            ],
        )?;
        outpost_host::prom::gauge(
            &mut enc,
            "outpost_opensearch_cursor",
            "The sink's outbox cursor: every row up to this seq is in OpenSearch",
            c.cursor.load(Relaxed) as f64,
        )
    }
}
