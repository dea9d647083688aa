//! Bearer-token authentication, compared in constant time.

use std::{
    net::SocketAddr,
    sync::atomic::{AtomicI64, AtomicU64, Ordering},
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{error::ApiError, AppState};

/// The configured token, kept only as a digest. Comparing digests makes the comparison
/// constant-time in the token's length as well as its content.
pub struct TokenCheck {
    digest: [u8; 32],
    /// Unix ms of the last rejection we logged; rejections are logged at most once a second.
    last_log: AtomicI64,
    /// Rejections not logged since the last line, reported on the next one.
    suppressed: AtomicU64,
}

impl TokenCheck {
    pub fn new(token: &SecretString) -> Self {
        TokenCheck {
            digest: Sha256::digest(token.expose_secret().as_bytes()).into(),
            last_log: AtomicI64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    pub fn matches(&self, presented: &str) -> bool {
        let d: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        d.ct_eq(&self.digest).into()
    }

    fn log_rejection(&self, why: &'static str, path: &str, peer: Option<SocketAddr>) {
        let now = outpost_core::clock::now_ms();
        let last = self.last_log.load(Ordering::Relaxed);
        if now - last < 1000
            || self
                .last_log
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
        let peer = peer.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
        tracing::warn!(
            reason = why,
            path,
            peer,
            suppressed,
            "api: request rejected: {why}"
        );
    }
}

/// Token from `Authorization: Bearer`, or from `?token=` on WebSocket paths whose clients
/// (socktop, browsers) cannot set headers.
fn presented(req: &Request) -> Option<&str> {
    if let Some(h) = req.headers().get(header::AUTHORIZATION) {
        return h.to_str().ok()?.strip_prefix("Bearer ");
    }
    if req.uri().path() == "/ws" {
        return req
            .uri()
            .query()?
            .split('&')
            .find_map(|kv| kv.strip_prefix("token="));
    }
    None
}

pub async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let verdict = match presented(&req) {
        None => Err("missing token"),
        Some(t) if state.token.matches(t) => Ok(()),
        Some(_) => Err("wrong token"),
    };
    if let Err(why) = verdict {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        state.token.log_rejection(why, req.uri().path(), peer);
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("{why}: send `Authorization: Bearer <token>`"),
        )
        .into_response();
    }
    next.run(req).await
}
