//! `PUT /agent/shutdown`, `PUT /agent/restart`, and the two routes Outpost refuses:
//! `PUT /agent/version` (self-update) and `PUT /agent/userpassword/update`.

use std::sync::Arc;

use axum::{extract::State, http::StatusCode, response::Response, Json};

use super::{
    reply,
    wire::{PasswordUpdate, VersionChange},
    RustyState,
};

/// rusty_agent stopped taking jobs and exited once its children were gone: Outpost's
/// graceful stop does the same in phases (the dispatcher drains running jobs), then exits 0.
/// The reply is written before the API stops: the serve phase comes last.
pub async fn shutdown(State(state): State<Arc<RustyState>>) -> Response {
    tracing::warn!("compat.rusty: shutdown requested over the rusty_agent API");
    state.lifecycle.shutdown();
    reply::text(StatusCode::OK, "Agent Shutdown initiated")
}

/// Mapped to `Lifecycle::restart` (graceful stop, then the same binary again, same PID).
/// rusty_agent's restart only cleared and reloaded its in-memory job heap from its
/// database; Outpost has no such copy to refresh (schedules are read from the store and
/// change there), so the only restart with an effect is the process's: it is what applies
/// the changes `PUT /agent/config` reports as needing one, which rusty_agent could not.
pub async fn restart(State(state): State<Arc<RustyState>>) -> Response {
    tracing::warn!("compat.rusty: restart requested over the rusty_agent API");
    state.lifecycle.restart();
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
