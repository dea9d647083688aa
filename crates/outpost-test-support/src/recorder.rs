//! An HTTP(S) server that records every request it is sent (head and body) and answers each
//! with the status the test sets: the backend API a test plays (SocketMan's
//! `PATCH .../operations/ID`). TLS with a [`Leaf`] from [`crate::https::TestCa`]; one
//! request per connection, `connection: close`. Stopped on drop.

use std::sync::{
    atomic::{AtomicU16, Ordering},
    Arc, Mutex,
};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::{rustls, TlsAcceptor};

use crate::http::{read_request, Request};
use crate::https::Leaf;

pub struct Recorder {
    pub port: u16,
    tls: bool,
    requests: Arc<Mutex<Vec<Request>>>,
    status: Arc<AtomicU16>,
    body: Arc<Mutex<Vec<u8>>>,
    /// TLS handshakes that failed (a client that did not trust the certificate).
    handshake_failures: Arc<AtomicU16>,
    task: JoinHandle<()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Recorder {
    /// Plain HTTP, or HTTPS with `leaf`, on 127.0.0.1; every answer 200 until
    /// [`Recorder::answer`] says otherwise.
    pub async fn start(leaf: Option<Leaf>) -> Recorder {
        let tls = leaf.map(|leaf| {
            let config = rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(leaf.chain, leaf.key)
            .unwrap();
            TlsAcceptor::from(Arc::new(config))
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let body = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(AtomicU16::new(0));
        let is_tls = tls.is_some();
        let (r2, s2, f2, b2) = (
            requests.clone(),
            status.clone(),
            failures.clone(),
            body.clone(),
        );
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                let (tls, r, s, f, b) =
                    (tls.clone(), r2.clone(), s2.clone(), f2.clone(), b2.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => match acceptor.accept(sock).await {
                            Ok(st) => serve(st, &r, &s, &b).await,
                            Err(_) => {
                                f.fetch_add(1, Ordering::SeqCst);
                            }
                        },
                        None => serve(sock, &r, &s, &b).await,
                    }
                });
            }
        });
        Recorder {
            port,
            tls: is_tls,
            requests,
            status,
            body,
            handshake_failures: failures,
            task,
        }
    }

    /// `http(s)://localhost:PORT`.
    pub fn base(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://localhost:{}", self.port)
    }

    /// Answers every later request with `status`.
    pub fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// Answers every later request with `status` and this body.
    pub fn answer_with(&self, status: u16, body: &[u8]) {
        *self.body.lock().unwrap() = body.to_vec();
        self.answer(status);
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    pub fn handshake_failures(&self) -> u16 {
        self.handshake_failures.load(Ordering::SeqCst)
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut sock: S,
    requests: &Mutex<Vec<Request>>,
    status: &AtomicU16,
    body: &Mutex<Vec<u8>>,
) {
    let Some(req) = read_request(&mut sock).await else {
        return;
    };
    requests.lock().unwrap().push(req);
    let body = body.lock().unwrap().clone();
    let head = format!(
        "HTTP/1.1 {} X\r\ncontent-length: {}\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n",
        status.load(Ordering::SeqCst),
        body.len()
    );
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.write_all(&body).await;
    let _ = sock.shutdown().await;
}
