//! The stats push verifies TLS: a self-signed collector is refused unless
//! `stats.ca_file` trusts it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use outpost_host::job::{MetricGroup, MetricsParams};
use outpost_host::push::{PushError, Pusher, StatsConfig};
use outpost_host::Host;
use outpost_test_support::http::{read_request, reply};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls;

/// An HTTPS server for `localhost` with a fresh self-signed certificate.
/// Returns its URL, the certificate PEM and a count of requests served.
async fn tls_server() -> (String, String, Arc<AtomicUsize>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let pem = cert.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://localhost:{}/stats",
        listener.local_addr().unwrap().port()
    );
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let (acceptor, count) = (acceptor.clone(), count.clone());
            tokio::spawn(async move {
                // A client that rejects the certificate ends the handshake here.
                let Ok(mut tls) = acceptor.accept(sock).await else {
                    return;
                };
                if read_request(&mut tls).await.is_none() {
                    return;
                }
                count.fetch_add(1, Ordering::SeqCst);
                reply(&mut tls, 200).await;
            });
        }
    });
    (url, pem, served)
}

fn config(url: &str, dir: &std::path::Path) -> StatsConfig {
    let mut c = StatsConfig::new(url, dir);
    c.timeout = Duration::from_secs(5);
    c.params = MetricsParams {
        groups: vec![MetricGroup::Load],
    };
    c
}

#[tokio::test]
async fn self_signed_collector_is_refused_and_nothing_is_lost() {
    let (url, _pem, served) = tls_server().await;
    let dir = tempfile::tempdir().unwrap();
    let p = Pusher::new(config(&url, dir.path()), Host::default()).unwrap();
    let err = p.tick().await.unwrap_err();
    assert!(matches!(err, PushError::NotDelivered(_)), "{err}");
    assert_eq!(served.load(Ordering::SeqCst), 0);
    let cached = std::fs::read_to_string(p.cache_path()).unwrap();
    assert_eq!(cached.lines().count(), 1);
}

#[tokio::test]
async fn ca_file_trusts_a_private_collector() {
    let (url, pem, served) = tls_server().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let mut c = config(&url, &dir.path().join("cache"));
    c.ca_file = Some(ca);
    let p = Pusher::new(c, Host::default()).unwrap();
    assert_eq!(p.tick().await.unwrap(), 1);
    assert_eq!(served.load(Ordering::SeqCst), 1);

    let mut bad = config(&url, &dir.path().join("cache2"));
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate").unwrap();
    bad.ca_file = Some(empty);
    assert!(matches!(
        Pusher::new(bad, Host::default()),
        Err(PushError::CaFile { .. })
    ));
}
