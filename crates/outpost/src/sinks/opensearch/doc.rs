//! The `_bulk` request body and reply (OpenSearch's bulk API: newline-delimited JSON, an
//! action line then a document line per item, the body ending with a newline; the reply's
//! `errors` flag and one result per item, in order).
//!
//! Each document carries rusty_agent's field names for application logs where they map
//! (`agentId`, `hostname`, `jobname`, `level`, `loggerName`, `message`, `timestamp` as
//! `YYYY-MM-DDTHH:MM:SS.mmmZ`), plus `seq`, `type` and the row itself as JSON text in `data`
//! (text, so documents of every kind share one mapping). The action names `_id`
//! `AGENT-SEQ`: a batch sent again (after a timeout, a crash before the cursor was written)
//! overwrites the same documents instead of adding copies.

use outpost_core::{OutboxItem, OutboxRow};
use serde::{Deserialize, Serialize};

use crate::api::wire::JobView;

#[derive(Serialize)]
struct Action<'a> {
    index: Target<'a>,
}

#[derive(Serialize)]
struct Target<'a> {
    #[serde(rename = "_index")]
    index: &'a str,
    #[serde(rename = "_id")]
    id: String,
}

/// One document: rusty_agent's app-log field names, and the row.
#[derive(Serialize)]
struct Document<'a> {
    #[serde(rename = "agentId")]
    agent_id: &'a str,
    hostname: &'a str,
    jobname: &'a str,
    level: &'static str,
    #[serde(rename = "loggerName")]
    logger_name: &'static str,
    message: String,
    timestamp: String,
    seq: u64,
    #[serde(rename = "type")]
    ty: &'static str,
    data: String,
}

/// Appends one row's action and document lines to `body`.
pub fn push_row(body: &mut Vec<u8>, row: &OutboxRow, index: &str, agent_id: &str, host: &str) {
    let (jobname, level, message, at, ty, data) = match &row.item {
        OutboxItem::Result(rec) => {
            let level = if rec.state == outpost_core::JobState::Succeeded {
                "INFO"
            } else {
                "ERROR"
            };
            let mut message = format!("job {} ({}) {}", rec.id, rec.kind, rec.state.as_str());
            if let Some(e) = &rec.error {
                message.push_str(&format!(": {}: {}", e.code, e.message));
            }
            let data = serde_json::to_string(&JobView::from(rec.clone())).unwrap_or_default();
            let at = rec.finished_at.unwrap_or(row.created_at);
            (rec.kind.as_str(), level, message, at, "result", data)
        }
        OutboxItem::Event(ev) => (
            ev.kind.as_str(),
            "INFO",
            format!("event {}", ev.kind),
            ev.at,
            "event",
            serde_json::to_string(ev).unwrap_or_default(),
        ),
    };
    let action = Action {
        index: Target {
            index,
            id: format!("{agent_id}-{}", row.seq),
        },
    };
    let doc = Document {
        agent_id,
        hostname: host,
        jobname,
        level,
        logger_name: "outpost",
        // rusty_agent removed newlines from its messages.
        message: message.replace('\n', " "),
        timestamp: timestamp(at),
        seq: row.seq,
        ty,
        data,
    };
    // Plain data with string keys: serializing cannot fail. Were it ever to, the item is
    // still sent (as its seq alone), so the reply's item count matches what was sent.
    let a = serde_json::to_vec(&action)
        .unwrap_or_else(|_| format!("{{\"index\":{{\"_index\":{index:?}}}}}").into_bytes());
    let d = serde_json::to_vec(&doc)
        .unwrap_or_else(|_| format!("{{\"seq\":{}}}", row.seq).into_bytes());
    body.extend_from_slice(&a);
    body.push(b'\n');
    body.extend_from_slice(&d);
    body.push(b'\n');
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for Unix milliseconds (rusty_agent's timestamp format).
pub fn timestamp(ms: i64) -> String {
    let ms = ms.max(0);
    let secs = ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = outpost_core::clock::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        ms % 1000
    )
}

/// The `_bulk` reply, as far as the sink reads it.
#[derive(Debug, Deserialize)]
pub struct BulkReply {
    pub errors: bool,
    #[serde(default)]
    pub items: Vec<std::collections::HashMap<String, ItemResult>>,
}

#[derive(Debug, Deserialize)]
pub struct ItemResult {
    pub status: u16,
    #[serde(default)]
    pub error: Option<serde_json::Value>,
}

/// What to do with a batch, from its reply.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every item stored: acknowledge the batch.
    Stored,
    /// Some items failed for good (a mapping error, a 4xx): nothing would change by
    /// resending them. Acknowledge the batch; these are counted as dropped.
    StoredExcept { dropped: usize },
    /// Some items may succeed later (429, 5xx), or the reply does not account for every
    /// item: send the batch again (documents that were stored are overwritten by `_id`).
    Retry(String),
}

pub fn verdict(reply: &BulkReply, sent: usize) -> Verdict {
    if reply.items.len() != sent {
        return Verdict::Retry(format!(
            "the reply has {} items for {sent} documents",
            reply.items.len()
        ));
    }
    let statuses: Vec<u16> = reply
        .items
        .iter()
        .map(|i| i.values().next().map(|r| r.status).unwrap_or(0))
        .collect();
    let failed = statuses.iter().filter(|s| !(200..300).contains(*s)).count();
    if !reply.errors && failed == 0 {
        return Verdict::Stored;
    }
    if let Some(s) = statuses
        .iter()
        .find(|s| **s == 429 || **s >= 500 || **s == 0)
    {
        return Verdict::Retry(format!("an item answered {s}"));
    }
    if failed == 0 {
        // `errors: true` with every item 2xx: inconsistent; send again rather than guess.
        return Verdict::Retry("errors: true without a failed item".into());
    }
    Verdict::StoredExcept { dropped: failed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue13_rusty_bulk_timestamps_are_rusty_agents_format() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(timestamp(1_795_000_000_000), "2026-11-18T11:06:40.000Z");
    }

    #[test]
    fn issue13_rusty_bulk_verdicts_retry_transient_failures_and_drop_permanent_ones() {
        let r = |errors: bool, s: &[u16]| BulkReply {
            errors,
            items: s
                .iter()
                .map(|st| {
                    [(
                        "index".to_owned(),
                        ItemResult {
                            status: *st,
                            error: None,
                        },
                    )]
                    .into()
                })
                .collect(),
        };
        assert_eq!(verdict(&r(false, &[201, 200]), 2), Verdict::Stored);
        assert!(matches!(verdict(&r(false, &[201]), 2), Verdict::Retry(_)));
        assert!(matches!(
            verdict(&r(true, &[201, 429]), 2),
            Verdict::Retry(_)
        ));
        assert!(matches!(
            verdict(&r(true, &[503, 400]), 2),
            Verdict::Retry(_)
        ));
        assert_eq!(
            verdict(&r(true, &[201, 400]), 2),
            Verdict::StoredExcept { dropped: 1 }
        );
    }
}
