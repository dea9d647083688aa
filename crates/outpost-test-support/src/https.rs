//! An HTTP(S) server of the tests' own, for the `check.http` and `check.tls` suites: a
//! self-signed CA made with rcgen ([`TestCa`]) issues leaf certificates with the validity
//! and names a test asks for (valid, near expiry, expired, another host), and [`WebServer`]
//! serves plain HTTP or rustls on an ephemeral loopback port.
//!
//! Routes (HTTP/1.1, one request per connection, `connection: close`):
//! - `/status/NNN`: that status, body `status NNN`;
//! - `/slow/MS`: waits MS milliseconds (the peer being slow is what is tested), then 200;
//! - `/redirect/N`: 302 to `/redirect/N-1`; `/redirect/0` is 200 `arrived`;
//! - `/bytes/N`: 200 with N bytes of `x`;
//! - `/echo`: 200 with the request's head and body (what the check sent);
//! - anything else: 200 `hello from the outpost test server`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::{rustls, TlsAcceptor};

use crate::http::read_request;

/// A CA of the test's own; its certificate is in [`TestCa::ca_file`] (PEM).
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pub ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

/// A leaf certificate and its key, ready for [`WebServer::start_tls`].
pub struct Leaf {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Clone for Leaf {
    fn clone(&self) -> Self {
        Leaf {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(DnType::CommonName, "Outpost test CA");
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let now = time::OffsetDateTime::now_utc();
        p.not_before = now - time::Duration::days(3650);
        p.not_after = now + time::Duration::days(3650);
        let issuer = CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, issuer.pem()).unwrap();
        TestCa {
            issuer,
            ca_file,
            _dir: dir,
        }
    }

    /// A leaf for `names` (DNS names or IP addresses), valid from `from_days` to
    /// `until_days` days from now (negative: in the past), chained to this CA.
    pub fn leaf(&self, names: &[&str], from_days: i64, until_days: i64) -> Leaf {
        let mut p = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
        let now = time::OffsetDateTime::now_utc();
        p.not_before = now + time::Duration::days(from_days);
        p.not_after = now + time::Duration::days(until_days);
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            chain: vec![cert.der().clone(), self.issuer.der().clone()],
            key: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        }
    }

    /// A leaf for `names`, valid for a year, written as PEM files into `dir` for peers that
    /// read files (Mosquitto's `certfile`/`keyfile`); returns (certificate, key).
    pub fn leaf_files(&self, names: &[&str], dir: &std::path::Path) -> (PathBuf, PathBuf) {
        let p = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        let (c, k) = (dir.join("leaf.pem"), dir.join("leaf-key.pem"));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    /// A leaf for `localhost` and 127.0.0.1 valid for a year.
    pub fn localhost(&self) -> Leaf {
        self.leaf(&["localhost", "127.0.0.1"], -1, 365)
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

/// A running server; stopped on drop.
pub struct WebServer {
    pub port: u16,
    tls: bool,
    requests: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WebServer {
    /// Plain HTTP on 127.0.0.1.
    pub async fn start_plain() -> WebServer {
        Self::start(None).await
    }

    /// HTTPS on 127.0.0.1 with this certificate (TLS 1.2 and 1.3).
    pub async fn start_tls(leaf: Leaf) -> WebServer {
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(leaf.chain, leaf.key)
        .unwrap();
        Self::start(Some(TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn start(tls: Option<TlsAcceptor>) -> WebServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicU64::new(0));
        let counted = requests.clone();
        let is_tls = tls.is_some();
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                let (tls, counted) = (tls.clone(), counted.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(s) = acceptor.accept(sock).await {
                                serve(s, &counted).await;
                            }
                        }
                        None => serve(sock, &counted).await,
                    }
                });
            }
        });
        WebServer {
            port,
            tls: is_tls,
            requests,
            task,
        }
    }

    /// `http(s)://HOST:PORT/PATH` (`host` as the check should name the server).
    pub fn url_for(&self, host: &str, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{host}:{}{path}", self.port)
    }

    /// `http(s)://localhost:PORT/PATH`.
    pub fn url(&self, path: &str) -> String {
        self.url_for("localhost", path)
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut sock: S, counted: &AtomicU64) {
    let Some(req) = read_request(&mut sock).await else {
        return;
    };
    counted.fetch_add(1, Ordering::Relaxed);
    let path = req
        .raw_head
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let (status, extra, body): (u16, String, Vec<u8>) =
        if let Some(code) = path.strip_prefix("/status/") {
            let code: u16 = code.parse().unwrap_or(500);
            (code, String::new(), format!("status {code}").into_bytes())
        } else if let Some(ms) = path.strip_prefix("/slow/") {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
            (200, String::new(), b"slow".to_vec())
        } else if let Some(n) = path.strip_prefix("/redirect/") {
            let n: u32 = n.parse().unwrap_or(0);
            if n == 0 {
                (200, String::new(), b"arrived".to_vec())
            } else {
                (
                    302,
                    format!("location: /redirect/{}\r\n", n - 1),
                    Vec::new(),
                )
            }
        } else if let Some(n) = path.strip_prefix("/bytes/") {
            (200, String::new(), vec![b'x'; n.parse().unwrap_or(0)])
        } else if path == "/echo" {
            let mut b = req.raw_head.into_bytes();
            b.extend_from_slice(b"\r\n\r\n");
            b.extend_from_slice(&req.body);
            (200, String::new(), b)
        } else {
            (
                200,
                String::new(),
                b"hello from the outpost test server".to_vec(),
            )
        };
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\ncontent-type: text/plain\r\n{extra}connection: close\r\n\r\n",
        body.len()
    );
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.write_all(&body).await;
    let _ = sock.shutdown().await;
}
