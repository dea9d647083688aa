//! `PUT /agent/shutdown`, `PUT /agent/restart`, and the two routes Outpost refuses:
//! `PUT /agent/version` (self-update) and `PUT /agent/userpassword/update`.

use axum::{http::StatusCode, response::Response, Json};

use super::{
    reply,
    wire::{PasswordUpdate, VersionChange},
};

/// rusty_agent stopped taking jobs and exited once its children were gone: Outpost's
/// graceful stop does the same in phases (the dispatcher drains running jobs).
pub async fn shutdown() -> Response {
    tracing::warn!("compat.rusty: shutdown requested over the rusty_agent API");
    signal_self();
    reply::text(StatusCode::OK, "Agent Shutdown initiated")
}

/// The graceful stop starts as if by SIGTERM: the daemon's one shutdown path.
fn signal_self() {
    let pid = rustix::process::getpid();
    if let Err(e) = rustix::process::kill_process(pid, rustix::process::Signal::TERM) {
        tracing::error!(error = %e, "compat.rusty: could not start the shutdown");
    }
}

/// rusty_agent's restart only reloaded its job heap from its database. Outpost's schedules
/// are read from the store and never go stale, so there is nothing to reload; the reply is
/// rusty_agent's.
pub async fn restart() -> Response {
    reply::text(StatusCode::OK, "Agent Restarted")
}

/// Self-update: rusty_agent downloaded a binary with no checksum or signature and ran it.
/// Signed updates come with the self-update issue; until then, refused.
pub async fn version_change(Json(_body): Json<VersionChange>) -> Response {
    reply::text(
        StatusCode::NOT_IMPLEMENTED,
        "version update refused: this agent installs only signed updates, which are not \
         available yet; update the package instead",
    )
}

/// Passwords are not changed over the API: the config holds the hash.
pub async fn password_update(Json(_body): Json<PasswordUpdate>) -> Response {
    reply::fail(
        StatusCode::NOT_IMPLEMENTED,
        "password update refused: the password is set in the agent's config as a hash \
         (compat.rusty.password_hash, bcrypt or argon2id); change it there",
    )
}
