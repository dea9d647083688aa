//! HTTP Basic authentication on every route, with rusty_agent's 401 messages.
//!
//! The user name is compared as a SHA-256 digest in constant time, and the password hash is
//! verified even when the user is wrong, so neither the reply nor its timing tells which
//! half failed. bcrypt at rusty_agent's cost 10 takes tens of milliseconds: the check runs
//! on a blocking thread, and the last credentials that passed are remembered as a keyed
//! digest so a client that keeps sending the right ones does not pay it on every request
//! (a wrong password always does, which also slows guessing).

use std::sync::{Arc, Mutex};

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{password::PasswordHash, reply, RustyState};

/// rusty_agent's message when no usable credentials were sent.
pub const NO_HEADER: &str = "Authorization header not found";
/// rusty_agent's message when the user or the password is wrong (one message for both).
pub const FAILED: &str = "Username Authentication failed";

pub struct BasicCheck {
    user_digest: [u8; 32],
    hash: PasswordHash,
    /// Random per process: the remembered digest is useless outside it.
    key: [u8; 32],
    /// Keyed digest of the last `user:password` that passed.
    passed: Mutex<Option<[u8; 32]>>,
}

/// Who passed: the configured user name, for the audit.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Arc<str>);

impl BasicCheck {
    pub fn new(user: &str, hash: PasswordHash) -> Self {
        let mut key = [0u8; 32];
        // Without randomness the key is zero: the digest is still only compared, never shown.
        let _ = getrandom::fill(&mut key);
        BasicCheck {
            user_digest: Sha256::digest(user.as_bytes()).into(),
            hash,
            key,
            passed: Mutex::new(None),
        }
    }

    fn keyed(&self, user: &str, pass: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(user.as_bytes());
        h.update([0u8]);
        h.update(pass.as_bytes());
        h.finalize().into()
    }

    fn remembered(&self, digest: &[u8; 32]) -> bool {
        match self.passed.lock() {
            Ok(g) => g.as_ref().is_some_and(|d| bool::from(d.ct_eq(digest))),
            Err(_) => false,
        }
    }

    /// The full check: user digest, then the password hash regardless of the user.
    fn check(&self, user: &str, pass: &str) -> bool {
        let u: [u8; 32] = Sha256::digest(user.as_bytes()).into();
        let user_ok: bool = u.ct_eq(&self.user_digest).into();
        let pass_ok = self.hash.verify(pass);
        let ok = user_ok & pass_ok;
        if ok {
            if let Ok(mut g) = self.passed.lock() {
                *g = Some(self.keyed(user, pass));
            }
        }
        ok
    }
}

/// `Authorization: Basic base64(user:pass)`, scheme case-insensitive. `None` when absent,
/// not Basic, not base64, or with an empty half: rusty_agent's "not found" case.
fn credentials(value: Option<&HeaderValue>) -> Option<(String, String)> {
    let v = value?.to_str().ok()?.trim();
    let (scheme, b64) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    (!u.is_empty() && !p.is_empty()).then(|| (u.to_owned(), p.to_owned()))
}

fn unauthorized(message: &'static str) -> Response {
    let mut r = reply::text(StatusCode::UNAUTHORIZED, message);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"agent\""),
    );
    r
}

pub async fn require_basic(
    State(state): State<Arc<RustyState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some((user, pass)) = credentials(req.headers().get(header::AUTHORIZATION)) else {
        return unauthorized(NO_HEADER);
    };
    let check = state.auth.clone();
    let ok = if check.remembered(&check.keyed(&user, &pass)) {
        true
    } else {
        tokio::task::spawn_blocking(move || check.check(&user, &pass))
            .await
            .unwrap_or(false)
    };
    if !ok {
        tracing::warn!(
            path = req.uri().path(),
            "compat.rusty: request rejected: wrong user or password"
        );
        return unauthorized(FAILED);
    }
    req.extensions_mut()
        .insert(Authenticated(state.user.clone()));
    next.run(req).await.into_response()
}
