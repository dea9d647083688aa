//! Every SocketMan message, in and out (../shared/compat/socketman.md §2-3): topics, the
//! JSON shapes with SocketMan's key order and types, and the inbound job. Only this file
//! knows them. Field order is declaration order (serde_json writes struct fields in order,
//! as json-c wrote keys in insertion order); `timestamp` is Unix seconds as an integer;
//! `online` is the string "0"/"1", never a boolean.

use serde::Serialize;
use serde_json::Value;

const APP: &str = "socketman";

/// SocketMan captured at most this much of a command's stdout for PROCESSED.
pub const MAX_OUTPUT: usize = 51_200;

/// The four topics of one device: `<dir>/<topic>/<key>/<mac>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Jobs in (subscribed at QoS 1).
    pub sub: String,
    /// CONNECT, the last will, PING.
    pub status: String,
    /// DELIVERED.
    pub delivery: String,
    /// PROCESSED.
    pub publish: String,
}

impl Topics {
    pub fn new(topic: &str, key: &str, mac: &str) -> Self {
        let t = |dir: &str| format!("{dir}/{topic}/{key}/{mac}");
        Topics {
            sub: t("sub"),
            status: t("status"),
            delivery: t("delivery"),
            publish: t("pub"),
        }
    }
}

#[derive(Serialize)]
struct OnlineMeta<'a> {
    online: &'a str,
    client_id: &'a str,
}

#[derive(Serialize)]
struct Connect<'a> {
    app: &'a str,
    timestamp: i64,
    event_type: &'a str,
    meta: OnlineMeta<'a>,
}

/// The CONNECT status: `online` "1" on connect, "0" as the last will (and on a clean stop).
pub fn connect(timestamp: i64, online: bool, client_id: &str) -> Vec<u8> {
    encode(&Connect {
        app: APP,
        timestamp,
        event_type: "CONNECT",
        meta: OnlineMeta {
            online: if online { "1" } else { "0" },
            client_id,
        },
    })
}

#[derive(Serialize)]
struct Ping<'a> {
    timestamp: i64,
    app: &'a str,
    event_type: &'a str,
}

/// PING (QoS 2): `timestamp` first, as SocketMan built it.
pub fn ping(timestamp: i64) -> Vec<u8> {
    encode(&Ping {
        timestamp,
        app: APP,
        event_type: "PING",
    })
}

#[derive(Serialize)]
struct DeliveredMeta<'a> {
    delivered: bool,
    /// Ours: why a job was not run (SocketMan ran everything, so never said).
    #[serde(skip_serializing_if = "Option::is_none")]
    refused: Option<&'a str>,
}

#[derive(Serialize)]
struct Delivered<'a> {
    id: &'a str,
    app: &'a str,
    timestamp: i64,
    event_type: &'a str,
    meta: DeliveredMeta<'a>,
}

/// DELIVERED after a job: `delivered` true when it ran; false, with `refused` saying why,
/// when it was refused.
pub fn delivered(id: &str, timestamp: i64, refused: Option<&str>) -> Vec<u8> {
    encode(&Delivered {
        id,
        app: APP,
        timestamp,
        event_type: "DELIVERED",
        meta: DeliveredMeta {
            delivered: refused.is_none(),
            refused,
        },
    })
}

#[derive(Serialize)]
struct MsgMeta<'a> {
    msg: &'a str,
}

#[derive(Serialize)]
struct Processed<'a> {
    id: &'a str,
    app: &'a str,
    timestamp: i64,
    event_type: &'a str,
    meta: MsgMeta<'a>,
}

/// PROCESSED for a `msg…` job: its stdout, "DNE" when empty, cut to [`MAX_OUTPUT`] bytes.
pub fn processed(id: &str, timestamp: i64, msg: &str) -> Vec<u8> {
    let msg = if msg.is_empty() { "DNE" } else { cut(msg) };
    encode(&Processed {
        id,
        app: APP,
        timestamp,
        event_type: "PROCESSED",
        meta: MsgMeta { msg },
    })
}

/// Whether a job's result goes out as PROCESSED too (SocketMan: the id's first three
/// characters are `msg`).
pub fn wants_processed(id: &str) -> bool {
    id.starts_with("msg")
}

fn cut(s: &str) -> &str {
    if s.len() <= MAX_OUTPUT {
        return s;
    }
    let mut end = MAX_OUTPUT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Structs of strings, integers and booleans: serialization cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

/// A job as it arrives on `sub/…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The job's id; one of ours (`sm_…`) when it had none, as SocketMan made one up.
    pub id: String,
    /// `meta.msg`: the command line.
    pub msg: Option<String>,
    /// `meta.type` (`network`, `ping`, ...), if any.
    pub kind: Option<String>,
}

/// Why an inbound message is not a job at all (nothing to answer: it has no usable id).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAJob {
    #[error("not JSON: {0}")]
    Json(String),
    #[error("not a JSON object")]
    NotObject,
}

/// SocketMan's ids were at most 36 characters (its buffer); longer ones are cut, as a
/// reply naming them must still fit the backend's column.
pub const MAX_ID: usize = 36;

/// Reads a job. Only a string `id` counts (SocketMan ignored an integer one); without one
/// the job gets `sm_<random>`, as SocketMan did. `meta.msg` and `meta.type` are read as
/// strings; anything else is left `None`, and the caller refuses the job by its id.
pub fn parse_job(payload: &[u8]) -> Result<Job, NotAJob> {
    let v: Value = serde_json::from_slice(payload).map_err(|e| NotAJob::Json(e.to_string()))?;
    let Value::Object(obj) = v else {
        return Err(NotAJob::NotObject);
    };
    let id = match obj.get("id") {
        Some(Value::String(s)) if !s.is_empty() => s.chars().take(MAX_ID).collect(),
        _ => format!(
            "sm_{}",
            outpost_core::JobId::new().to_string().replace('-', "")
        ),
    };
    let meta = obj.get("meta");
    let field = |name: &str| {
        meta.and_then(|m| m.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Ok(Job {
        id,
        msg: field("msg"),
        kind: field("type"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn issue18_wire_shapes_are_socketmans_byte_for_byte() {
        let id = "4242x AA-BB-CC-DD-EE-FF".replace(' ', "");
        assert_eq!(
            text(connect(1700000000, true, &id)),
            r#"{"app":"socketman","timestamp":1700000000,"event_type":"CONNECT","meta":{"online":"1","client_id":"4242xAA-BB-CC-DD-EE-FF"}}"#
        );
        assert_eq!(
            text(connect(1, false, "1xM")),
            r#"{"app":"socketman","timestamp":1,"event_type":"CONNECT","meta":{"online":"0","client_id":"1xM"}}"#
        );
        assert_eq!(
            text(ping(7)),
            r#"{"timestamp":7,"app":"socketman","event_type":"PING"}"#
        );
        assert_eq!(
            text(delivered("abc", 9, None)),
            r#"{"id":"abc","app":"socketman","timestamp":9,"event_type":"DELIVERED","meta":{"delivered":true}}"#
        );
        assert_eq!(
            text(delivered("abc", 9, Some("no"))),
            r#"{"id":"abc","app":"socketman","timestamp":9,"event_type":"DELIVERED","meta":{"delivered":false,"refused":"no"}}"#
        );
        assert_eq!(
            text(processed("msg1", 9, "a\"b\n")),
            r#"{"id":"msg1","app":"socketman","timestamp":9,"event_type":"PROCESSED","meta":{"msg":"a\"b\n"}}"#
        );
        assert_eq!(
            text(processed("msg1", 9, "")),
            r#"{"id":"msg1","app":"socketman","timestamp":9,"event_type":"PROCESSED","meta":{"msg":"DNE"}}"#
        );
        let long = "é".repeat(MAX_OUTPUT);
        let v: Value = serde_json::from_slice(&processed("msg", 1, &long)).unwrap();
        assert!(v["meta"]["msg"].as_str().unwrap().len() <= MAX_OUTPUT);
        let t = Topics::new("T", "K", "AA-BB-CC-DD-EE-FF");
        assert_eq!(t.sub, "sub/T/K/AA-BB-CC-DD-EE-FF");
        assert_eq!(t.status, "status/T/K/AA-BB-CC-DD-EE-FF");
        assert_eq!(t.delivery, "delivery/T/K/AA-BB-CC-DD-EE-FF");
        assert_eq!(t.publish, "pub/T/K/AA-BB-CC-DD-EE-FF");
    }

    #[test]
    fn issue18_wire_inbound_jobs_are_read_as_socketman_read_them() {
        let j =
            parse_job(br#"{"id":"msg-1","timestamp":"x","meta":{"msg":"uptime","type":"ping"}}"#)
                .unwrap();
        assert_eq!(j.id, "msg-1");
        assert_eq!(j.msg.as_deref(), Some("uptime"));
        assert_eq!(j.kind.as_deref(), Some("ping"));
        // An integer id is ignored: a made-up one, never "msg…".
        let j = parse_job(br#"{"id":12,"meta":{"msg":"uptime"}}"#).unwrap();
        assert!(j.id.starts_with("sm_") && j.id.len() <= 40, "{}", j.id);
        assert!(!wants_processed(&j.id));
        let j = parse_job(format!(r#"{{"id":"{}"}}"#, "m".repeat(99)).as_bytes()).unwrap();
        assert_eq!(j.id.len(), MAX_ID);
        assert_eq!(j.msg, None);
        let j = parse_job(br#"{"id":"a","meta":{"msg":5}}"#).unwrap();
        assert_eq!(j.msg, None);
        assert!(matches!(parse_job(b"nope"), Err(NotAJob::Json(_))));
        assert_eq!(parse_job(b"[1]"), Err(NotAJob::NotObject));
    }
}
