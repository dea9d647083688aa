//! `rest = 1`: a `msg…` job's result goes to SocketMan's API instead of PROCESSED, as
//! `PATCH <api_url>/operations/<id>?access_token=<token>` with `{"success", "msg"}` as
//! JSON (../shared/compat/socketman.md §4). Unlike SocketMan: `success` says whether the
//! command succeeded (SocketMan always sent false), the body is sent as
//! `application/json` (SocketMan's libcurl call labelled it a form), the id and token are
//! URL-encoded, and TLS is verified (against the system roots and `cacrt`) unless
//! `insecure`, which is logged at every start.

use std::{path::Path, time::Duration};

use serde::Serialize;

/// SocketMan's user agent and timeout for its API calls.
const USER_AGENT: &str = "Cucumber Bot";
const TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts per result before it is given up (logged): a server error or no answer is
/// tried again after 1, 2, 4 and 8 s; a 4xx is final.
const ATTEMPTS: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("api_url {0:?}: {1}")]
    Url(String, String),
    #[error("TLS: {0}")]
    Tls(String),
}

pub struct Rest {
    base: reqwest::Url,
    token: Option<String>,
    client: reqwest::Client,
}

#[derive(Serialize)]
struct Report<'a> {
    success: bool,
    msg: &'a str,
}

/// The PATCH body: `msg` is the output, "DNE" when empty (as PROCESSED's).
pub fn body(success: bool, msg: &str) -> Vec<u8> {
    let msg = if msg.is_empty() { "DNE" } else { msg };
    serde_json::to_vec(&Report { success, msg }).unwrap_or_default()
}

/// SocketMan's HTTP client for its API (user agent, 5 s timeout): TLS verified against
/// the system roots and `cacrt`, unless `insecure`.
pub fn client(insecure: bool, cacrt: Option<&Path>) -> Result<reqwest::Client, RestError> {
    let builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(TIMEOUT);
    let builder = if insecure {
        builder.danger_accept_invalid_certs(true)
    } else {
        let tls = crate::uplink::tls::client_config_with(&crate::uplink::tls::ClientTls {
            ca_file: cacrt,
            identity: None,
        })
        .map_err(|e| RestError::Tls(e.to_string()))?;
        builder.use_preconfigured_tls((*tls).clone())
    };
    builder.build().map_err(|e| RestError::Tls(e.to_string()))
}

/// `url` with SocketMan's `access_token=<token>&mac=<mac>` appended (URL-encoded).
pub fn with_token(url: &str, token: Option<&str>, mac: &str) -> Result<reqwest::Url, RestError> {
    let mut u =
        reqwest::Url::parse(url).map_err(|e| RestError::Url(url.to_owned(), e.to_string()))?;
    {
        let mut q = u.query_pairs_mut();
        if let Some(t) = token {
            q.append_pair("access_token", t);
        }
        q.append_pair("mac", mac);
    }
    Ok(u)
}

impl Rest {
    pub fn new(
        api_url: &str,
        token: Option<String>,
        insecure: bool,
        cacrt: Option<&Path>,
    ) -> Result<Rest, RestError> {
        let base = reqwest::Url::parse(api_url)
            .map_err(|e| RestError::Url(api_url.to_owned(), e.to_string()))?;
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(RestError::Url(
                api_url.to_owned(),
                "not an http(s) base URL".into(),
            ));
        }
        let client = client(insecure, cacrt)?;
        Ok(Rest {
            base,
            token,
            client,
        })
    }

    /// `<api_url>/operations/<id>[?access_token=<token>]`.
    pub fn url(&self, id: &str) -> reqwest::Url {
        let mut u = self.base.clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty().push("operations").push(id);
        }
        if let Some(t) = &self.token {
            u.query_pairs_mut().append_pair("access_token", t);
        }
        u
    }

    /// Sends the report for job `id`, trying again on a server error or no answer.
    pub async fn patch(&self, id: &str, success: bool, msg: &str) {
        let url = self.url(id);
        let payload = body(success, msg);
        let mut wait = Duration::from_secs(1);
        for attempt in 1..=ATTEMPTS {
            let sent = self
                .client
                .patch(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(payload.clone())
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => return,
                Ok(r) if r.status().is_client_error() => {
                    tracing::warn!(
                        id,
                        status = r.status().as_u16(),
                        "socketman: the API refused a job's report; not sent again"
                    );
                    return;
                }
                Ok(r) => tracing::warn!(
                    id,
                    attempt,
                    status = r.status().as_u16(),
                    "socketman: a job's report was not taken"
                ),
                Err(e) => {
                    tracing::warn!(id, attempt, error = %e, "socketman: a job's report was not sent")
                }
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        tracing::error!(
            id,
            "socketman: a job's report was given up after {ATTEMPTS} attempts"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue18_rest_url_and_body() {
        let r = Rest::new("https://api.example/v2/", Some("t&k=1".into()), true, None).unwrap();
        assert_eq!(
            r.url("msg 1/2").as_str(),
            "https://api.example/v2/operations/msg%201%2F2?access_token=t%26k%3D1"
        );
        let r = Rest::new("https://api.example", None, true, None).unwrap();
        assert_eq!(
            r.url("msg1").as_str(),
            "https://api.example/operations/msg1"
        );
        assert_eq!(
            String::from_utf8(body(true, "up\n")).unwrap(),
            r#"{"success":true,"msg":"up\n"}"#
        );
        assert_eq!(
            String::from_utf8(body(false, "")).unwrap(),
            r#"{"success":false,"msg":"DNE"}"#
        );
        assert!(Rest::new("not a url", None, true, None).is_err());
        assert!(Rest::new("mailto:x@y", None, true, None).is_err());
    }
}
