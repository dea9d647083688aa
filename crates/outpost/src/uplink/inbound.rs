//! What an uplink does with a message from the control plane. Shared by every transport, so
//! they all answer bad input the same way: with an `error`, never a disconnect.

use std::time::Duration;

use outpost_core::{Dispatcher, JobId, JobSpec, SubmitError};
use outpost_proto::{DecodeError, Message};

/// What the transport must do after a message was handled.
pub enum Handled {
    Nothing,
    /// Send this back.
    Reply(Message),
    /// The peer acknowledged everything up to this seq.
    Ack(u64),
}

fn error(code: &str, message: impl Into<String>, about: Option<String>) -> Handled {
    Handled::Reply(Message::Error {
        code: code.into(),
        message: message.into(),
        about,
    })
}

pub async fn handle(
    dispatcher: &Dispatcher,
    msg: Result<Message, DecodeError>,
    source: &str,
    default_timeout: Duration,
) -> Handled {
    let msg = match msg {
        Ok(m) => m,
        Err(e) => {
            tracing::debug!(source, error = %e, "uplink: undecodable message answered with error");
            return error(e.code(), e.to_string(), None);
        }
    };
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
            let spec = JobSpec {
                id: Some(job_id),
                kind,
                params,
                timeout: timeout_ms
                    .map(Duration::from_millis)
                    .unwrap_or(default_timeout),
                source: source.to_owned(),
            };
            match dispatcher.submit(spec).await {
                Ok(_) => Handled::Nothing,
                // Redelivered: already accepted, its result is or will be in the outbox.
                Err(SubmitError::Duplicate(_)) => Handled::Nothing,
                Err(e) => error(e.code(), e.to_string(), Some(id)),
            }
        }
        Message::Cancel { id } => {
            let Ok(job_id) = id.parse::<JobId>() else {
                return error("invalid", "job id must be a UUID", Some(id));
            };
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
