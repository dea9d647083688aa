//! An update server for issue 16's suites: HTTPS (rustls) on an ephemeral loopback port
//! with a certificate from a [`TestCa`] of its own, serving whatever bytes a test puts at
//! a path (manifests, signatures, rotation statements, builds), and the misbehaviours the
//! updater must refuse: a redirect anywhere (plain HTTP included), and a body that stops
//! short of the length it announced. Anything not put is a 404.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::{rustls, TlsAcceptor};

use crate::http::read_request;
use crate::https::TestCa;

#[derive(Clone)]
enum Route {
    Bytes(Vec<u8>),
    Redirect(String),
    /// Announces `announced` bytes, sends `body`, closes.
    Short {
        announced: usize,
        body: Vec<u8>,
    },
}

type Routes = Arc<Mutex<HashMap<String, Route>>>;

/// A running server; stopped on drop.
pub struct UpdateServer {
    pub port: u16,
    pub ca: TestCa,
    routes: Routes,
    hits: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Drop for UpdateServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl UpdateServer {
    pub async fn start() -> UpdateServer {
        let ca = TestCa::new();
        let leaf = ca.localhost();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(leaf.chain, leaf.key)
        .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes: Routes = Arc::default();
        let hits: Arc<Mutex<Vec<String>>> = Arc::default();
        let (r, h) = (routes.clone(), hits.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, r, h) = (acceptor.clone(), r.clone(), h.clone());
                tokio::spawn(async move {
                    if let Ok(s) = acceptor.accept(sock).await {
                        serve(s, &r, &h).await;
                    }
                });
            }
        });
        UpdateServer {
            port,
            ca,
            routes,
            hits,
            task,
        }
    }

    /// `https://localhost:PORT/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!(
            "https://localhost:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }

    /// Serves `bytes` at `path` (replacing what was there).
    pub fn put(&self, path: &str, bytes: impl Into<Vec<u8>>) {
        self.set(path, Route::Bytes(bytes.into()));
    }

    /// Answers `path` with a 302 to `location` (any URL, plain HTTP included).
    pub fn redirect(&self, path: &str, location: &str) {
        self.set(path, Route::Redirect(location.to_owned()));
    }

    /// Announces `announced` bytes at `path`, sends `body` (fewer) and closes.
    pub fn short(&self, path: &str, announced: usize, body: impl Into<Vec<u8>>) {
        self.set(
            path,
            Route::Short {
                announced,
                body: body.into(),
            },
        );
    }

    /// Nothing at `path` any more (a 404).
    pub fn remove(&self, path: &str) {
        self.routes.lock().unwrap().remove(&normal(path));
    }

    /// Paths requested so far, in order.
    pub fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }

    fn set(&self, path: &str, route: Route) {
        self.routes.lock().unwrap().insert(normal(path), route);
    }
}

fn normal(path: &str) -> String {
    format!("/{}", path.trim_start_matches('/'))
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut sock: S,
    routes: &Routes,
    hits: &Mutex<Vec<String>>,
) {
    let Some(req) = read_request(&mut sock).await else {
        return;
    };
    let path = req
        .raw_head
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    hits.lock().unwrap().push(path.clone());
    let route = routes.lock().unwrap().get(&path).cloned();
    let (status, extra, announced, body) = match route {
        Some(Route::Bytes(b)) => (200, String::new(), b.len(), b),
        Some(Route::Redirect(to)) => (302, format!("location: {to}\r\n"), 0, Vec::new()),
        Some(Route::Short { announced, body }) => (200, String::new(), announced, body),
        None => (404, String::new(), 9, b"not found".to_vec()),
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-length: {announced}\r\ncontent-type: application/octet-stream\r\n{extra}connection: close\r\n\r\n"
    );
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.write_all(&body).await;
    let _ = sock.shutdown().await;
}
