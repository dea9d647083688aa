//! HTTPS only, TLS verified (rustls with the built-in web roots, plus an optional CA file
//! for private servers and tests). Redirects are followed here rather than by reqwest, so
//! that one to plain HTTP is refused with its own error naming the location, and no more
//! than [`MAX_REDIRECTS`] are taken.

use std::path::Path;
use std::time::Duration;

use reqwest::{StatusCode, Url};

use crate::error::UpdateError;

pub const MAX_REDIRECTS: usize = 5;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// A manifest, signature or statement: small documents.
const DOCUMENT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
}

impl Client {
    pub fn new(ca_file: Option<&Path>) -> Result<Client, UpdateError> {
        let mut b = reqwest::Client::builder()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("outpost-update/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca_file {
            let pem = std::fs::read(path).map_err(|e| UpdateError::Settings {
                key: "update.ca_file",
                why: format!("{}: {e}", path.display()),
            })?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| UpdateError::Settings {
                    key: "update.ca_file",
                    why: format!("{}: {e}", path.display()),
                })?;
            if certs.is_empty() {
                return Err(UpdateError::Settings {
                    key: "update.ca_file",
                    why: format!("{}: no PEM certificate", path.display()),
                });
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        let http = b.build().map_err(|e| UpdateError::Settings {
            key: "update.url",
            why: format!("HTTP client: {e}"),
        })?;
        Ok(Client { http })
    }

    /// GET `url`, following https redirects; any final status is returned as is.
    pub async fn get(
        &self,
        url: &str,
        timeout: Duration,
    ) -> Result<reqwest::Response, UpdateError> {
        let mut at = parse_https(url)?;
        for _ in 0..=MAX_REDIRECTS {
            let resp = self
                .http
                .get(at.clone())
                .timeout(timeout)
                .send()
                .await
                .map_err(|e| unreachable(at.as_str(), &e))?;
            if !resp.status().is_redirection() {
                return Ok(resp);
            }
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| UpdateError::Http {
                    url: at.to_string(),
                    status: resp.status().as_u16(),
                })?;
            let next = at
                .join(location)
                .map_err(|_| UpdateError::InsecureRedirect {
                    url: at.to_string(),
                    location: location.chars().take(200).collect(),
                })?;
            if next.scheme() != "https" {
                return Err(UpdateError::InsecureRedirect {
                    url: at.to_string(),
                    location: next.to_string(),
                });
            }
            at = next;
        }
        Err(UpdateError::TooManyRedirects {
            url: url.to_owned(),
            max: MAX_REDIRECTS,
        })
    }

    /// A small document, at most `limit` bytes; `None` on 404 (absent is an answer).
    pub async fn document(
        &self,
        url: &str,
        what: &'static str,
        limit: usize,
    ) -> Result<Option<Vec<u8>>, UpdateError> {
        let mut resp = self.get(url, DOCUMENT_TIMEOUT).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(UpdateError::Http {
                url: url.to_owned(),
                status: resp.status().as_u16(),
            });
        }
        let too_large = || UpdateError::DocumentTooLarge {
            what,
            url: url.to_owned(),
            limit: limit as u64,
        };
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| unreachable(url, &e))? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some(body))
    }
}

/// Only https URLs are fetched.
pub fn parse_https(url: &str) -> Result<Url, UpdateError> {
    let u = Url::parse(url).map_err(|e| UpdateError::Settings {
        key: "update.url",
        why: format!("{url:?}: {e}"),
    })?;
    if u.scheme() != "https" {
        return Err(UpdateError::Settings {
            key: "update.url",
            why: format!("{url:?}: only https:// is fetched"),
        });
    }
    Ok(u)
}

pub(crate) fn unreachable(url: &str, e: &reqwest::Error) -> UpdateError {
    // reqwest's Display hides the cause (TLS, DNS, refused); show the whole chain.
    let mut why = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        why.push_str(": ");
        why.push_str(&s.to_string());
        src = s.source();
    }
    UpdateError::Unreachable {
        url: url.to_owned(),
        why,
    }
}
