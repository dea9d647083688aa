//! The engine's errors, each with the stable code a job's error carries. Messages never
//! carry credentials (registry passwords are not in any request we make visible here), and
//! the engine's own words are passed through bounded, so a chatty engine cannot bloat a
//! result row.

/// Longest engine message passed through, in bytes (cut on a character boundary).
pub const MESSAGE_MAX: usize = 512;

/// What went wrong talking to the engine.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The engine is absent, went away, or did not answer within the call's deadline. The
    /// socket is named so an operator sees which engine the agent looked for.
    #[error("container engine at {socket} unavailable: {why}")]
    Unavailable { socket: String, why: String },
    /// A container or image the request named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A name or a port already in use, or a state that forbids the action.
    #[error("{0}")]
    Conflict(String),
    /// Outpost's own policy says no (privileged without `containers.allow_privileged`, a
    /// command not allowed in containers).
    #[error("{0}")]
    Refused(String),
    /// Anything else the engine said, passed through (bounded).
    #[error("engine error{}: {message}", status.map(|s| format!(" ({s})")).unwrap_or_default())]
    Engine {
        status: Option<u16>,
        message: String,
    },
}

impl EngineError {
    /// The code a failed job carries.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::Unavailable { .. } => "engine_unavailable",
            EngineError::NotFound(_) => "not_found",
            EngineError::Conflict(_) => "conflict",
            EngineError::Refused(_) => "refused",
            EngineError::Engine { .. } => "engine_error",
        }
    }

    pub(crate) fn engine(status: Option<u16>, message: impl Into<String>) -> Self {
        EngineError::Engine {
            status,
            message: bounded(message.into()),
        }
    }

    /// An engine's error answer: its HTTP status and its `message`.
    pub(crate) fn from_status(status: u16, message: String) -> Self {
        let message = bounded(message);
        match status {
            404 => EngineError::NotFound(message),
            409 => EngineError::Conflict(message),
            _ if is_port_conflict(&message) => EngineError::Conflict(message),
            s => EngineError::engine(Some(s), message),
        }
    }

    /// Maps what bollard returned. Transport failures (no socket, refused, reset, a timeout
    /// inside bollard) are all `engine_unavailable`: to the operator they are one fact.
    pub(crate) fn from_bollard(socket: &str, e: bollard::errors::Error) -> Self {
        use bollard::errors::Error as B;
        match e {
            B::DockerResponseServerError {
                status_code,
                message,
            } => EngineError::from_status(status_code, message),
            B::SocketNotFoundError(_) => EngineError::Unavailable {
                socket: socket.to_owned(),
                why: "no socket there".into(),
            },
            B::RequestTimeoutError => EngineError::Unavailable {
                socket: socket.to_owned(),
                why: "no answer in time".into(),
            },
            B::HyperLegacyError { .. }
            | B::HyperResponseError { .. }
            | B::HttpClientError { .. }
            | B::IOError { .. } => EngineError::Unavailable {
                socket: socket.to_owned(),
                why: bounded(e.to_string()),
            },
            B::DockerStreamError { error } => {
                let message = bounded(error);
                if message.contains("not found") || message.contains("No such") {
                    EngineError::NotFound(message)
                } else {
                    EngineError::engine(None, message)
                }
            }
            other => EngineError::engine(None, other.to_string()),
        }
    }
}

/// What the engine reports in a 500 that is a conflict: a taken port (Docker and Podman),
/// or what Docker answers with 409 and Podman with a 500: a state that forbids the action
/// ("container state improper"), a name in use.
fn is_port_conflict(message: &str) -> bool {
    message.contains("address already in use")
        || message.contains("port is already allocated")
        || message.contains("container state improper")
        || message.contains("name is already in use")
}

/// `s`, cut to [`MESSAGE_MAX`] bytes on a character boundary.
pub fn bounded(mut s: String) -> String {
    if s.len() > MESSAGE_MAX {
        let mut end = MESSAGE_MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue15_engine_messages_are_bounded_on_a_char_boundary() {
        let long = "é".repeat(MESSAGE_MAX);
        let b = bounded(long);
        assert!(b.len() <= MESSAGE_MAX + '…'.len_utf8());
        assert!(b.ends_with('…'));
        assert_eq!(bounded("short".into()), "short");
    }

    #[test]
    fn issue15_status_codes_map_to_stable_codes() {
        let e = |status_code, message: &str| {
            EngineError::from_bollard(
                "/s",
                bollard::errors::Error::DockerResponseServerError {
                    status_code,
                    message: message.into(),
                },
            )
            .code()
        };
        assert_eq!(e(404, "No such container: x"), "not_found");
        assert_eq!(e(409, "name in use"), "conflict");
        assert_eq!(
            e(500, "listen tcp 0.0.0.0:80: bind: address already in use"),
            "conflict"
        );
        assert_eq!(
            e(
                500,
                "cannot remove container x as it is running: container state improper"
            ),
            "conflict"
        );
        assert_eq!(e(500, "boom"), "engine_error");
        let gone = EngineError::from_bollard(
            "/run/x.sock",
            bollard::errors::Error::SocketNotFoundError("/run/x.sock".into()),
        );
        assert_eq!(gone.code(), "engine_unavailable");
        assert!(gone.to_string().contains("/run/x.sock"));
    }
}
