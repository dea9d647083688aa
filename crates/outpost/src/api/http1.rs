//! HTTP/1.1-only serving of the local API, for builds without the `http2` feature (router
//! builds): axum-server, which the full build serves with, always compiles in hyper's HTTP/2
//! and the h2 crate (about 0.15 MB), and a router's clients (curl, the control plane's
//! health checks, Prometheus) speak HTTP/1.1.
//!
//! Same behaviour as axum-server's plain-HTTP path otherwise: each connection gets the
//! peer's address as `ConnectInfo` (the token check reads it), upgrades are allowed, and
//! on stop the listener closes, open connections finish their request in flight for up to
//! `grace`, and whatever is still open then is closed.

use std::{convert::Infallible, net::SocketAddr, time::Duration};

use axum::{extract::ConnectInfo, Router};
use hyper::{body::Incoming, Request};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpStream, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// Serves `app` on `listener` (already bound, non-blocking) until `stop` is cancelled.
pub async fn serve(
    listener: std::net::TcpListener,
    app: Router,
    stop: CancellationToken,
    grace: Duration,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((sock, peer)) => {
                    conns.spawn(connection(sock, peer, app.clone(), stop.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: the error repeats until a
                    // connection closes, so back off instead of spinning on it.
                    tracing::warn!(error = %e, "api: accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            // Reap finished connections so the set holds only open ones.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drained = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, drained).await.is_err() {
        conns.abort_all();
    }
    Ok(())
}

/// One connection: requests until the client closes it, or until `stop`, after which the
/// request in flight is answered and the connection closed.
async fn connection(sock: TcpStream, peer: SocketAddr, app: Router, stop: CancellationToken) {
    let _ = sock.set_nodelay(true);
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move { Ok::<_, Infallible>(app.oneshot(req).await.unwrap_or_else(|e| match e {})) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(sock), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "api: connection");
            }
            return;
        }
        () = stop.cancelled() => conn.as_mut().graceful_shutdown(),
    }
    if let Err(e) = conn.await {
        tracing::debug!(%peer, error = %e, "api: connection");
    }
}
