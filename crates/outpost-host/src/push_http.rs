//! The stats push's HTTP client: one POST on a fresh HTTP/1.1 connection, driven with
//! hyper's client connection over a `TcpStream` (+ tokio-rustls for https).
//!
//! Why not reqwest: the push sends one batch a minute, so a connection pool buys nothing,
//! and reqwest (its pool, redirect, proxy and cookie machinery) cost the router build about
//! 0.3 MB of a 4 MB budget (bench/RESULTS.md, "Router build features"). What reqwest did
//! here is kept: TLS verified against the web PKI roots (webpki-roots, as reqwest's
//! `rustls-tls`) plus `stats.ca_file`, TLS 1.2 and 1.3, no redirects followed (a 3xx is
//! a failed POST), a deadline over the whole exchange, and credentials in the URL
//! (`https://user:pass@host/`) sent as HTTP Basic auth, never in the request line.

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use url::{Position, Url};

/// Why the client's TLS setup failed.
#[derive(Debug)]
pub(crate) enum SetupError {
    /// `stats.ca_file`: unreadable, no certificate in it, or a certificate rustls refuses.
    CaFile(std::path::PathBuf, String),
    /// rustls refused the protocol versions (cannot happen with the ring provider).
    Tls(rustls::Error),
}

/// A POST client: the TLS config and the deadline, shared by every POST.
#[derive(Debug)]
pub(crate) struct PostClient {
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
}

impl PostClient {
    /// Trusts the web PKI roots and, when given, the certificates in `ca_file`.
    pub(crate) fn new(timeout: Duration, ca_file: Option<&Path>) -> Result<Self, SetupError> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = ca_file {
            let bad = |reason: String| SetupError::CaFile(path.to_owned(), reason);
            let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
            let certs = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(e.to_string()))?;
            if certs.is_empty() {
                return Err(bad("no certificate in it".into()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| bad(e.to_string()))?;
            }
        }
        let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(SetupError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(PostClient {
            tls: Arc::new(tls),
            timeout,
        })
    }

    /// POSTs `body` to `url` with `headers`; the response's status, or what went wrong
    /// (the message never holds the URL: the caller names it, redacted).
    pub(crate) async fn post(
        &self,
        url: &Url,
        headers: &[(&'static str, &'static str)],
        body: Bytes,
    ) -> Result<hyper::StatusCode, String> {
        self.post_reading(url, headers, body, 0)
            .await
            .map(|(status, _)| status)
    }

    /// Like [`PostClient::post`], and reads a 2xx answer's body when `reply_limit` is
    /// not 0: at most `reply_limit` bytes are kept (a longer body is [`ReplyBody::TooLarge`]
    /// and no more of it is read), within the same deadline as the exchange.
    pub(crate) async fn post_reading(
        &self,
        url: &Url,
        headers: &[(&'static str, &'static str)],
        body: Bytes,
        reply_limit: usize,
    ) -> Result<(hyper::StatusCode, Option<ReplyBody>), String> {
        let exchange = self.exchange(url, headers, body, reply_limit);
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(format!("timed out after {:?}", self.timeout)),
        }
    }

    async fn exchange(
        &self,
        url: &Url,
        headers: &[(&'static str, &'static str)],
        body: Bytes,
        reply_limit: usize,
    ) -> Result<(hyper::StatusCode, Option<ReplyBody>), String> {
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err("no host".into()),
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| "no port".to_string())?;
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let req = request(url, headers, body)?;
        if url.scheme() == "https" {
            let name = ServerName::try_from(host).map_err(|e| format!("tls: {e}"))?;
            let tls = tokio_rustls::TlsConnector::from(Arc::clone(&self.tls))
                .connect(name, tcp)
                .await
                .map_err(|e| format!("tls: {e}"))?;
            send(tls, req, reply_limit).await
        } else {
            send(tcp, req, reply_limit).await
        }
    }
}

/// The request: origin-form target, Host, Basic auth from the URL's credentials.
fn request(
    url: &Url,
    headers: &[(&'static str, &'static str)],
    body: Bytes,
) -> Result<hyper::Request<Full<Bytes>>, String> {
    let mut req = hyper::Request::post(&url[Position::BeforePath..Position::AfterQuery])
        .header(
            hyper::header::HOST,
            &url[Position::BeforeHost..Position::BeforePath],
        )
        .header(hyper::header::ACCEPT, "*/*");
    if !url.username().is_empty() || url.password().is_some() {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let user = decode(url.username());
        let pass = url.password().map(decode).unwrap_or_default();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        req = req.header(hyper::header::AUTHORIZATION, format!("Basic {token}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(Full::new(body))
        .map_err(|e| format!("request: {e}"))
}

/// A 2xx answer's body, as far as it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyBody {
    /// The whole body (within the limit).
    Read(Bytes),
    /// Longer than the limit: dropped, the rest left unread.
    TooLarge { limit: usize },
    /// The body could not be read (the connection broke).
    Failed(String),
}

/// Sends one request on a new connection and returns the status (and the body of a 2xx,
/// up to `reply_limit` bytes, when that is not 0). The connection is driven by a task
/// that is aborted when this returns (or is dropped by the deadline).
async fn send<S>(
    stream: S,
    req: hyper::Request<Full<Bytes>>,
    reply_limit: usize,
) -> Result<(hyper::StatusCode, Option<ReplyBody>), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("http: {}", chain(&e)))?;
    let _conn = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("http: {}", chain(&e)))?;
    let status = resp.status();
    if reply_limit == 0 || !status.is_success() {
        return Ok((status, None));
    }
    Ok((
        status,
        Some(read_capped(resp.into_body(), reply_limit).await),
    ))
}

/// Reads a body frame by frame, stopping as soon as it passes `limit` bytes: a server
/// cannot make the agent hold more than `limit` (plus one frame) of its answer.
async fn read_capped(mut body: hyper::body::Incoming, limit: usize) -> ReplyBody {
    use http_body_util::BodyExt as _;
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Ok(data) = f.into_data() {
                    if buf.len() + data.len() > limit {
                        return ReplyBody::TooLarge { limit };
                    }
                    buf.extend_from_slice(&data);
                }
            }
            Err(e) => return ReplyBody::Failed(format!("http: {}", chain(&e))),
        }
    }
    ReplyBody::Read(Bytes::from(buf))
}

/// hyper's Display hides the cause (reset, closed early, bad response): show the chain.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// Ends the connection task with the exchange, whatever way the exchange ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
