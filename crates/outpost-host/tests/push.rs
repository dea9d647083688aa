//! The stats push against HTTP servers run inside the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use flate2::read::GzDecoder;
use outpost_host::job::{MetricGroup, MetricsParams};
use outpost_host::push::{self, PushError, Pusher, StatsConfig};
use outpost_host::Host;
use outpost_test_support::http::{read_request, reply};
use std::io::Read;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

/// One POST as the server saw it.
#[derive(Debug, Clone)]
struct Received {
    headers: String,
    /// The head as sent: Basic credentials are case-sensitive.
    raw_head: String,
    lines: Vec<String>,
}

/// A tiny HTTP/1.1 server: records each request, answers `status`, and
/// when `hold` is set waits for `release` before answering.
struct Server {
    url: String,
    status: Arc<AtomicU16>,
    received: Arc<Mutex<Vec<Received>>>,
    arrived: Arc<Notify>,
    hold: watch::Sender<bool>,
}

impl Server {
    async fn start(status: u16) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/stats", listener.local_addr().unwrap());
        let status = Arc::new(AtomicU16::new(status));
        let received = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let (hold, hold_rx) = watch::channel(false);
        let (s, r, a) = (status.clone(), received.clone(), arrived.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (s, r, a, mut hold_rx) = (s.clone(), r.clone(), a.clone(), hold_rx.clone());
                tokio::spawn(async move {
                    let Some(req) = read_request(&mut sock).await else {
                        return;
                    };
                    let mut body = String::new();
                    GzDecoder::new(&req.body[..])
                        .read_to_string(&mut body)
                        .unwrap();
                    r.lock().unwrap().push(Received {
                        headers: req.head,
                        raw_head: req.raw_head,
                        lines: body.lines().map(str::to_string).collect(),
                    });
                    a.notify_waiters();
                    while *hold_rx.borrow_and_update() {
                        hold_rx.changed().await.unwrap();
                    }
                    reply(&mut sock, s.load(Ordering::SeqCst)).await;
                });
            }
        });
        Server {
            url,
            status,
            received,
            arrived,
            hold,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits, with a deadline, until `n` requests have arrived.
    async fn wait_for(&self, n: usize) {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let notified = self.arrived.notified();
                if self.received().len() >= n {
                    return;
                }
                notified.await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("server got {} of {n} requests", self.received().len()));
    }
}

/// A loopback URL where nothing listens.
async fn closed_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/stats", l.local_addr().unwrap());
    drop(l);
    url
}

fn config(url: &str, dir: &std::path::Path) -> StatsConfig {
    let mut c = StatsConfig::new(url, dir);
    c.timeout = Duration::from_secs(5);
    c.params = MetricsParams {
        groups: vec![MetricGroup::Memory, MetricGroup::Load],
    };
    c
}

fn cached_lines(p: &Pusher) -> usize {
    std::fs::read_to_string(p.cache_path())
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[tokio::test]
async fn primary_fails_backup_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let primary = Server::start(500).await;
    let backup = Server::start(200).await;
    let mut c = config(&primary.url, dir.path());
    c.backup_url = Some(backup.url.clone());
    let p = Pusher::new(c, Host::default()).unwrap();

    assert_eq!(p.tick().await.unwrap(), 1);
    assert_eq!(primary.received().len(), 1);
    let got = backup.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].headers.contains("content-encoding: gzip"));
    let snap: serde_json::Value = serde_json::from_str(&got[0].lines[0]).unwrap();
    assert!(snap["memory"]["total_bytes"].as_u64().unwrap() > 0);
    assert!(snap.get("cpu").is_none());
    assert_eq!(cached_lines(&p), 0);
    let counters = p.counters();
    assert_eq!(counters.batches_sent.load(Ordering::Relaxed), 1);
    assert_eq!(counters.posts_failed.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn both_fail_and_the_cache_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let primary = Server::start(503).await;
    let mut c = config(&primary.url, dir.path());
    c.backup_url = Some(closed_url().await);
    {
        let p = Pusher::new(c.clone(), Host::default()).unwrap();
        for _ in 0..2 {
            assert!(matches!(p.tick().await, Err(PushError::NotDelivered(_))));
        }
        assert_eq!(cached_lines(&p), 2);
    }
    // "Restart": a new pusher on the same directory, now with a working URL.
    primary.status.store(200, Ordering::SeqCst);
    let p = Pusher::new(c, Host::default()).unwrap();
    assert_eq!(p.tick().await.unwrap(), 3);
    let got = primary.received();
    assert_eq!(got.last().unwrap().lines.len(), 3);
    assert_eq!(cached_lines(&p), 0);
}

#[tokio::test]
async fn nothing_is_deleted_before_a_2xx() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(404).await;
    let p = Arc::new(Pusher::new(config(&server.url, dir.path()), Host::default()).unwrap());
    // A 404 is no delivery.
    assert!(p.tick().await.is_err());
    assert_eq!(cached_lines(&p), 1);

    // With the server holding its 200, the cache is intact while it waits.
    server.status.store(200, Ordering::SeqCst);
    server.hold.send(true).unwrap();
    let pending = tokio::spawn({
        let p = p.clone();
        async move { p.flush().await }
    });
    server.wait_for(2).await;
    assert_eq!(cached_lines(&p), 1);
    server.hold.send(false).unwrap();
    assert_eq!(pending.await.unwrap().unwrap(), 1);
    assert_eq!(cached_lines(&p), 0);
}

#[tokio::test]
async fn cache_is_bounded_and_drops_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&closed_url().await, dir.path());
    c.max_cache_lines = 3;
    let p = Pusher::new(c, Host::default()).unwrap();
    for _ in 0..5 {
        assert!(p.tick().await.is_err());
    }
    assert_eq!(cached_lines(&p), 3);
    assert_eq!(p.counters().lines_dropped.load(Ordering::Relaxed), 2);

    let mut c = config(&closed_url().await, dir.path());
    c.max_cache_bytes = 10;
    let p = Pusher::new(c, Host::default()).unwrap();
    // A snapshot larger than the whole cache evicts everything, itself too.
    assert_eq!(p.tick().await.unwrap(), 0);
    assert_eq!(cached_lines(&p), 0);
    assert_eq!(p.counters().lines_dropped.load(Ordering::Relaxed), 4);
}

#[tokio::test]
async fn run_pushes_then_stops_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(200).await;
    let mut c = config(&server.url, dir.path());
    c.interval = Duration::from_secs(3600);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(push::run(c, Host::default(), async {
        let _ = stopped.await;
    }));
    server.wait_for(1).await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[test]
fn plain_http_only_to_loopback() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [
        "http://192.0.2.1/x?token=s3cret",
        "ftp://localhost/s3cret",
        "not a url s3cret",
    ] {
        let err = Pusher::new(config(bad, dir.path()), Host::default()).unwrap_err();
        assert!(matches!(err, PushError::Url { .. }), "{bad}: {err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }
    for good in [
        "https://stats.example/x",
        "http://127.0.0.1:9/x",
        "http://[::1]:9/",
        "http://localhost/",
    ] {
        Pusher::new(config(good, dir.path()), Host::default()).unwrap();
    }
}

/// Issue 16: the push's own HTTP client (it replaced reqwest) keeps what reqwest did: the
/// URL's credentials go as Basic auth, never in the request line; a redirect is a failed
/// POST, not followed; errors name scheme, host and port only.
#[tokio::test]
async fn issue16_push_sends_url_credentials_as_basic_auth_and_follows_no_redirect() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(200).await;
    let with_creds = server
        .url
        .replace("http://", "http://us%20er:p%40ss-s3cret@")
        .replace("/stats", "/stats?token=t0ken-s3cret");
    let p = Pusher::new(config(&with_creds, dir.path()), Host::default()).unwrap();
    assert_eq!(p.tick().await.unwrap(), 1);
    let got = &server.received()[0];
    let first = got.raw_head.lines().next().unwrap();
    assert_eq!(first, "POST /stats?token=t0ken-s3cret HTTP/1.1");
    // base64("us er:p@ss-s3cret"): percent-decoded, as reqwest sent it.
    assert!(
        got.raw_head
            .contains("authorization: Basic dXMgZXI6cEBzcy1zM2NyZXQ="),
        "{}",
        got.raw_head
    );
    assert!(
        got.headers.contains("content-encoding: gzip"),
        "{}",
        got.headers
    );
    assert!(got.headers.contains("content-type: application/x-ndjson"));

    server.status.store(302, Ordering::SeqCst);
    let err = p.tick().await.unwrap_err();
    assert!(matches!(err, PushError::NotDelivered(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains("HTTP 302 Found"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    assert_eq!(server.received().len(), 2);
    assert_eq!(cached_lines(&p), 1);
}

/// Issue 16: `stats.timeout` bounds the whole exchange: a collector that takes the request
/// and never answers fails the POST in time, and the batch stays cached.
#[tokio::test]
async fn issue16_push_gives_up_on_a_silent_collector_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(200).await;
    server.hold.send(true).unwrap();
    let mut c = config(&server.url, dir.path());
    c.timeout = Duration::from_millis(500);
    let p = Pusher::new(c, Host::default()).unwrap();
    let started = std::time::Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(10), p.tick())
        .await
        .expect("the POST outlived its timeout")
        .unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert_eq!(server.received().len(), 1);
    assert_eq!(cached_lines(&p), 1);
}
