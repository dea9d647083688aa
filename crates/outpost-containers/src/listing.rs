//! `GET /containers/json`, read into our own types.
//!
//! bollard's generated `ContainerSummary` accepts only the state words Docker documents,
//! and one row with another word failed the whole listing. Podman answers `stopped` for a
//! container between its exit and its cleanup: `container.list` failed while it lasted,
//! and so did the apps reconciler's view of the engine (a crash-looping app on Podman was
//! caught in it every time). Here the state is the engine's word, whatever it is, and
//! every field but the id may be missing.
//!
//! The request goes over the engine's socket on a connection of its own (hyper's HTTP/1
//! client), at the API version bollard negotiated, within the caller's deadline.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::{bounded, EngineError};

/// The longest listing read: about 2 KiB a container, so tens of thousands of them.
const BODY_MAX: usize = 64 << 20;

/// One row of the listing, as tolerant as the engines are varied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct Summary {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Names")]
    pub names: Vec<String>,
    #[serde(rename = "Image")]
    pub image: String,
    /// `sha256:...` of the image the container was created from.
    #[serde(rename = "ImageID")]
    pub image_id: String,
    /// The command line the container runs, as the engine shows it.
    #[serde(rename = "Command")]
    pub command: String,
    /// `running`, `exited`, … and whatever else the engine says (Podman: `stopped`).
    #[serde(rename = "State")]
    pub state: String,
    /// The engine's words: `Up 3 minutes (healthy)`, `Exited (0) 2 seconds ago`.
    #[serde(rename = "Status")]
    pub status: String,
    /// Unix seconds.
    #[serde(rename = "Created")]
    pub created: i64,
    #[serde(rename = "Labels", deserialize_with = "null_as_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Summary {
    /// The first name, without Docker's leading slash.
    pub fn name(&self) -> String {
        let n = self.names.first().map(String::as_str).unwrap_or_default();
        n.strip_prefix('/').unwrap_or(n).to_owned()
    }
}

/// The engine's listing body: rows of any state word; fields of other types than ours, or
/// anything that is not a JSON array of objects, is an error (never a panic).
pub fn parse(body: &[u8]) -> Result<Vec<Summary>, serde_json::Error> {
    serde_json::from_slice(body)
}

/// Podman writes `"Labels": null` for a container without any.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::<BTreeMap<String, String>>::deserialize(d)?.unwrap_or_default())
}

/// The engine's error body.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
}

impl Engine {
    /// The containers matching `filters` (the engine's own filter syntax); stopped ones
    /// too when `all`.
    pub(crate) async fn list_summaries(
        &self,
        all: bool,
        filters: &HashMap<String, Vec<String>>,
        deadline: Instant,
    ) -> Result<Vec<Summary>, EngineError> {
        let mut path = format!("containers/json?all={all}");
        if !filters.is_empty() {
            let json = serde_json::to_string(filters)
                .map_err(|e| EngineError::engine(None, e.to_string()))?;
            path.push_str("&filters=");
            path.push_str(&percent_encode(&json));
        }
        self.call_with(deadline, |docker| async move {
            let v = docker.client_version();
            let uri = format!("/v{}.{}/{path}", v.major_version, v.minor_version);
            let (status, body) = self.get(&uri).await?;
            if !(200..300).contains(&status) {
                let message = serde_json::from_slice::<ErrorBody>(&body)
                    .map(|b| b.message)
                    .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
                return Err(EngineError::from_status(status, message));
            }
            parse(&body).map_err(|e| {
                EngineError::engine(None, bounded(format!("the container listing: {e}")))
            })
        })
        .await
    }

    /// One `GET` on a connection of its own; the status and the whole body.
    async fn get(&self, uri: &str) -> Result<(u16, Bytes), EngineError> {
        let down = |e: &dyn std::fmt::Display| self.unavailable(bounded(e.to_string()));
        let stream = tokio::net::UnixStream::connect(self.socket())
            .await
            .map_err(|e| down(&e))?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| down(&e))?;
        // The connection is driven beside the request and goes with it, even when the
        // caller's deadline cancels the request.
        let driver = AbortOnDrop(tokio::spawn(conn));
        let req = hyper::Request::get(uri)
            .header(hyper::header::HOST, "engine")
            .body(Empty::<Bytes>::new())
            .map_err(|e| EngineError::engine(None, e.to_string()))?;
        let resp = send.send_request(req).await.map_err(|e| down(&e))?;
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), BODY_MAX)
            .collect()
            .await
            .map_err(|e| down(&e))?
            .to_bytes();
        drop(driver);
        Ok((status, body))
    }
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A query value, every byte but the unreserved ones as `%XX` (RFC 3986).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue15_a_listing_takes_any_state_word_and_missing_fields() {
        let rows: Vec<Summary> = serde_json::from_str(
            r#"[{"Id":"a","Names":["/web"],"State":"stopped","Status":"Exited (1) 1 second ago","Labels":null,"Created":5},
                {"Id":"b","State":"running","Labels":{"outpost.app":"x"},"Ports":[{"PrivatePort":80}]}]"#,
        )
        .unwrap();
        assert_eq!(rows[0].state, "stopped");
        assert_eq!(rows[0].name(), "web");
        assert!(rows[0].labels.is_empty());
        assert_eq!(rows[1].name(), "");
        assert_eq!(rows[1].labels["outpost.app"], "x");
    }

    #[test]
    fn issue15_listing_filters_are_percent_encoded() {
        assert_eq!(
            percent_encode(r#"{"label":["outpost.app"]}"#),
            "%7B%22label%22%3A%5B%22outpost.app%22%5D%7D"
        );
    }
}
