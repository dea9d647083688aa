//! What an uplink does with a message from the control plane. Shared by every transport, so
//! they all answer bad input the same way: with an `error`, never a disconnect.
//!
//! Every `error` reply is bounded (no field of the input is echoed whole) and names the job
//! in `about` whenever its id can be read, even from a message too large or too malformed to
//! decode: the control plane must be able to tell which of its jobs was refused.

use std::time::Duration;

use outpost_core::{Dispatcher, JobId, JobSpec, SubmitError};
use outpost_proto::{bounded, envelope::MAX_MESSAGE_BYTES, peek::MAX_ID_LEN, DecodeError, Message};

/// What the transport must do after a message was handled.
pub enum Handled {
    Nothing,
    /// Send this back.
    Reply(Message),
    /// The peer acknowledged everything up to this seq.
    Ack(u64),
}

/// Codes of the `error` replies made here, besides [`DecodeError`]'s and [`SubmitError`]'s;
/// `docs/protocol.md` lists the union (a test keeps them equal).
pub const CODES: &[&str] = &["invalid", "not_found", "unexpected", "store"];

fn error(code: &str, message: impl AsRef<str>, about: Option<String>) -> Handled {
    Handled::Reply(Message::Error {
        code: code.into(),
        message: bounded(message.as_ref()),
        about: about.filter(|id| id.len() <= MAX_ID_LEN),
    })
}

/// The `error` for a message of `size` bytes, over the size limit; `about` is its job's id
/// when a scan of the bytes could read it (`outpost_proto::peek_id`: no tree is built).
pub fn too_large(size: usize, about: Option<String>) -> Message {
    tracing::debug!(bytes = size, about = ?about, "uplink: message over the size limit refused");
    Message::Error {
        code: "too_large".into(),
        message: DecodeError::TooLarge(size).to_string(),
        about,
    }
}

/// A message as the bytes a transport received (an MQTT payload).
pub async fn handle_bytes(
    dispatcher: &Dispatcher,
    bytes: &[u8],
    source: &str,
    default_timeout: Duration,
) -> Handled {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Handled::Reply(too_large(bytes.len(), outpost_proto::peek_id(bytes)));
    }
    match Message::decode(bytes) {
        Ok(m) => handle(dispatcher, m, source, default_timeout).await,
        Err(e) => refuse(source, &e, outpost_proto::peek_id(bytes)),
    }
}

/// A message already parsed as JSON (a Phoenix payload).
pub async fn handle_value(
    dispatcher: &Dispatcher,
    value: serde_json::Value,
    source: &str,
    default_timeout: Duration,
) -> Handled {
    let about = value.get("id").and_then(|v| v.as_str()).map(str::to_owned);
    match Message::from_value(value) {
        Ok(m) => handle(dispatcher, m, source, default_timeout).await,
        Err(e) => refuse(source, &e, about),
    }
}

fn refuse(source: &str, e: &DecodeError, about: Option<String>) -> Handled {
    tracing::debug!(source, code = e.code(), error = %e, about = ?about, "uplink: undecodable message answered with error");
    error(e.code(), e.to_string(), about)
}

/// A decoded message.
pub async fn handle(
    dispatcher: &Dispatcher,
    msg: Message,
    source: &str,
    default_timeout: Duration,
) -> Handled {
    match msg {
        Message::Job {
            id,
            kind,
            params,
            timeout_ms,
        } => {
            let Ok(job_id) = id.parse::<JobId>() else {
                return error("invalid", "job id must be a UUID", Some(id));
            };
            let timeout = timeout_ms
                .map(Duration::from_millis)
                .unwrap_or(default_timeout);
            tracing::debug!(source, id = %job_id, kind = %bounded(&kind), timeout_ms = timeout.as_millis() as u64, "uplink: job received");
            let spec = JobSpec {
                id: Some(job_id),
                kind,
                params,
                timeout,
                source: source.to_owned(),
            };
            match dispatcher.submit(spec).await {
                Ok(_) => Handled::Nothing,
                // Redelivered: already accepted, its result is or will be in the outbox.
                Err(SubmitError::Duplicate(_)) => {
                    tracing::debug!(source, id = %job_id, "uplink: redelivered job already accepted");
                    Handled::Nothing
                }
                Err(e) => {
                    tracing::debug!(source, id = %job_id, code = e.code(), error = %bounded(&e.to_string()), "uplink: job refused");
                    error(e.code(), e.to_string(), Some(id))
                }
            }
        }
        Message::Cancel { id } => {
            let Ok(job_id) = id.parse::<JobId>() else {
                return error("invalid", "job id must be a UUID", Some(id));
            };
            tracing::debug!(source, id = %job_id, "uplink: cancel received");
            match dispatcher.cancel(job_id).await {
                Ok(outpost_core::dispatcher::Cancel::NotFound) => {
                    error("not_found", "no such job", Some(id))
                }
                Ok(_) => Handled::Nothing,
                Err(e) => error("store", e.to_string(), Some(id)),
            }
        }
        Message::Ack { seq } => Handled::Ack(seq),
        Message::Heartbeat {} | Message::Welcome { .. } | Message::Error { .. } => Handled::Nothing,
        m @ (Message::Hello { .. } | Message::Result { .. } | Message::Event { .. }) => error(
            "unexpected",
            format!("`{}` is sent by agents, not to them", m.type_name()),
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// issue 10: `docs/protocol.md` listed codes the agent never sent and missed some it did.
    #[test]
    fn issue10_documented_error_codes_are_exactly_the_ones_sent() {
        let doc = include_str!("../../../../docs/protocol.md");
        let table = doc
            .split("<!-- error-codes:begin -->")
            .nth(1)
            .and_then(|t| t.split("<!-- error-codes:end -->").next())
            .unwrap_or_default();
        let documented: BTreeSet<&str> = table
            .lines()
            .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
            .collect();
        let sent: BTreeSet<&str> = outpost_proto::envelope::CODES
            .iter()
            .chain(super::CODES)
            .chain(outpost_core::SubmitError::CODES)
            .copied()
            // Never reaches a peer: a redelivered job is accepted silently.
            .filter(|c| *c != "duplicate")
            .collect();
        assert_eq!(documented, sent);
    }
}
