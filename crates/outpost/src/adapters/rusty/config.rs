//! `GET`/`PUT /agent/config` and `PUT /agent/config/auto_upgrade`.
//!
//! rusty_agent's `server_config` properties map onto Outpost's keys (see [`property`]);
//! a change goes through the lifecycle's `set`, which validates the whole result like
//! `config check` and writes the file atomically; what needs a restart takes effect after
//! `PUT /agent/restart`. The reply stays rusty_agent's ("Property updated successfully").
//! Properties with no counterpart are answered as rusty_agent answered a missing record;
//! `auto_upgrade` is kept in memory (nothing acts on it, as in rusty_agent).

use std::{sync::atomic::Ordering, sync::Arc};

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};

use super::{
    reply,
    wire::{AgentConfig, AutoUpgrade, PropertyChange, REDACTED},
    RustyState,
};

/// The 19 keys of rusty_agent's `AgentConfig`; the eleven it never filled stay default.
pub fn agent_config(state: &RustyState) -> AgentConfig {
    let install_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.display().to_string()))
        .unwrap_or_default();
    AgentConfig {
        opensearch_non_prod_domain_endpoint: state.sink.url.clone(),
        opensearch_non_prod_user_name: state.sink.user.clone(),
        // Never in clear (rusty_agent returned it as stored).
        opensearch_non_prod_pass_word: if state.sink.password_set {
            REDACTED.to_owned()
        } else {
            String::new()
        },
        version: crate::version::get().to_owned(),
        auto_upgrade: state.auto_upgrade.load(Ordering::Relaxed),
        port: state.port,
        install_dir,
        // Outpost needs no toolchain on the host.
        rust_install_path: String::new(),
        ..AgentConfig::default()
    }
}

pub async fn get(State(state): State<Arc<RustyState>>) -> Response {
    Json(agent_config(&state)).into_response()
}

/// A rusty_agent property as an Outpost key and value, `None` for a property Outpost has no
/// key for. `"true"`/`"false"` become booleans where the key is one (rusty_agent stored 1/0).
pub fn property(
    name: &str,
    value: &str,
    listen: std::net::SocketAddr,
) -> Option<Result<(String, toml::Value), String>> {
    let s = |k: &str| Some(Ok((k.to_owned(), toml::Value::String(value.to_owned()))));
    match name {
        // The same address, another port (rusty_agent bound 0.0.0.0 and this port).
        "server_port" => Some(match value.trim().parse::<u16>() {
            Ok(port) => Ok((
                "compat.rusty.listen".into(),
                toml::Value::String(std::net::SocketAddr::new(listen.ip(), port).to_string()),
            )),
            Err(_) => Err(format!("server_port: {value:?} is not a port number")),
        }),
        "opensearch_domain_endpoint" | "opensearch_non_prod_domain_endpoint" => {
            s("sink.opensearch.url")
        }
        "opensearch_user_name" | "opensearch_non_prod_user_name" => s("sink.opensearch.user"),
        "opensearch_user_pass" | "opensearch_non_prod_pass_word" => s("sink.opensearch.password"),
        "opensearch_application_log_index" => s("sink.opensearch.index"),
        "log_level" => Some(Ok((
            "log.level".into(),
            toml::Value::String(match value {
                "warning" => "warn".to_owned(),
                v => v.to_owned(),
            }),
        ))),
        _ => None,
    }
}

fn record_absent(name: &str) -> Response {
    reply::fail(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("Unable to update property {name}. Record not present"),
    )
}

pub async fn put(
    State(state): State<Arc<RustyState>>,
    Json(body): Json<Vec<PropertyChange>>,
) -> Response {
    let mut changes = Vec::new();
    for c in &body {
        if c.property_name == "auto_upgrade" {
            continue;
        }
        match property(&c.property_name, &c.property_value, state.listen) {
            None => return record_absent(&c.property_name),
            Some(Err(why)) => {
                return reply::fail(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Unable to update property {}: {why}", c.property_name),
                )
            }
            Some(Ok((key, value))) => changes.push((key, value, c)),
        }
    }
    if !changes.is_empty() {
        let first = changes
            .first()
            .map(|(_, _, c)| c.property_name.clone())
            .unwrap_or_default();
        let set: Vec<(String, toml::Value)> = changes
            .iter()
            .map(|(k, v, _)| (k.clone(), v.clone()))
            .collect();
        let lifecycle = state.lifecycle.clone();
        // Validates the whole result like `config check`, then writes the file (blocking).
        let done = tokio::task::spawn_blocking(move || lifecycle.set(set)).await;
        match done {
            Ok(Ok(applied)) => {
                if !applied.restart_required.is_empty() {
                    tracing::info!(
                        keys = ?applied.restart_required,
                        "compat.rusty: config changed; in effect after a restart (PUT /agent/restart)"
                    );
                }
            }
            Ok(Err(e)) => {
                let name = e
                    .key()
                    .and_then(|k| changes.iter().find(|(key, ..)| key == k))
                    .map(|(_, _, c)| c.property_name.clone())
                    .unwrap_or(first);
                return reply::fail(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Unable to update property {name}: {e}"),
                );
            }
            Err(_) => {
                return reply::fail(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Unable to update property {first}: the change did not finish"),
                )
            }
        }
    }
    for c in &body {
        if c.property_name == "auto_upgrade" {
            state.auto_upgrade.store(
                matches!(c.property_value.as_str(), "true" | "1"),
                Ordering::Relaxed,
            );
        }
    }
    reply::ok("Property updated successfully")
}

/// Kept and shown; nothing reads it (as in rusty_agent, where nothing did either).
pub async fn auto_upgrade(
    State(state): State<Arc<RustyState>>,
    Json(body): Json<AutoUpgrade>,
) -> Response {
    state.auto_upgrade.store(body.command, Ordering::Relaxed);
    reply::ok("Record updated successfully")
}
