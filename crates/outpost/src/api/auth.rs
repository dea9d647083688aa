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

/// What a request presents as its credential.
enum Presented<'a> {
    Missing,
    /// Something is there but cannot be a token; the reason goes into the 401 and the log.
    Malformed(&'static str),
    Header(&'a str),
    /// The raw (still percent-encoded) value of `?token=`.
    Query(&'a str),
}

/// Token from `Authorization: Bearer`, or from `?token=` on WebSocket paths whose clients
/// (socktop, browsers) cannot set headers. A header, when present, is the only credential.
fn presented(req: &Request) -> Presented<'_> {
    if let Some(h) = req.headers().get(header::AUTHORIZATION) {
        return bearer(h.as_bytes());
    }
    if req.uri().path() == "/ws" {
        if let Some(raw) = req
            .uri()
            .query()
            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")))
        {
            return Presented::Query(raw);
        }
    }
    Presented::Missing
}

/// `Authorization: <scheme> <token>`. The scheme is case-insensitive (RFC 7235 section 2.1:
/// `bearer` is `Bearer`), and whitespace around either part is tolerated, as clients and
/// proxies differ in both.
fn bearer(value: &[u8]) -> Presented<'_> {
    let Ok(v) = std::str::from_utf8(value) else {
        return Presented::Malformed("authorization header is not text");
    };
    let v = v.trim();
    let (scheme, token) = v.split_once([' ', '\t']).unwrap_or((v, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Presented::Malformed("authorization scheme is not Bearer");
    }
    match token.trim() {
        "" => Presented::Missing,
        t => Presented::Header(t),
    }
}

/// Strict percent-decoding (RFC 3986): `None` for a malformed escape (`%`, `%4`, `%zz`) or
/// bytes that are not UTF-8, so a bad token is refused, never guessed at.
fn percent_decode(raw: &str) -> Option<String> {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = hex(bytes.next()?)?;
            let lo = hex(bytes.next()?)?;
            out.push(hi << 4 | lo);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

impl TokenCheck {
    /// `?token=` as a URL carries it: percent-encoded. Form encoding (what socktop_agent
    /// decodes, and what browsers' forms send) also writes a space as `+`; RFC 3986 keeps `+`
    /// literal. Both readings are tried, so a token with `+` works pasted raw or encoded.
    fn matches_query(&self, raw: &str) -> Result<bool, &'static str> {
        let decoded = percent_decode(raw).ok_or("malformed ?token= (bad percent-encoding)")?;
        if self.matches(&decoded) {
            return Ok(true);
        }
        Ok(raw.contains('+')
            && percent_decode(&raw.replace('+', "%20")).is_some_and(|t| self.matches(&t)))
    }
}

pub async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let verdict = match presented(&req) {
        Presented::Missing => Err("missing token"),
        Presented::Malformed(why) => Err(why),
        Presented::Header(t) if state.token.matches(t) => Ok(()),
        Presented::Header(_) => Err("wrong token"),
        Presented::Query(raw) => match state.token.matches_query(raw) {
            Ok(true) => Ok(()),
            Ok(false) => Err("wrong token"),
            Err(why) => Err(why),
        },
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
