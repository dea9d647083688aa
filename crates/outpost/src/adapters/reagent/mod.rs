//! Reagent drop-in (issue 19), the IronFlock DeviceManagementAgent's WAMP wire
//! (../shared/compat/reagent.md): off unless `reagent.config` (`outpost run
//! --reagent-config PATH`) names the device's `.flock`. The wire shapes themselves (WAMP
//! messages, WAMP-CRA) live in `outpost_proto::wamp`; this adapter names Reagent's
//! procedures and maps them onto Outpost.
//!
//! Part 1: the `.flock` reader, the session state machine (join with WAMP-CRA, the
//! post-join calls, the registrations, the heartbeat, request deadlines), the socket pump
//! with reconnects, the privilege check, and the first procedures (`device_handshake`,
//! `get_agent_metadata`, `execute_cmd` through the exec allowlist). Not yet:
//! `list_containers`, `get_images` and the rest of the reference's §3, the `.flock`
//! rewrite, the heartbeat's host figures.

mod client;
pub mod exec;
pub mod flock;
pub mod privilege;
pub mod procedures;
pub mod session;
#[cfg(test)]
mod session_tests;

// rusty_agent's command-line mapping (words → an allowlisted command's parameters), shared
// rather than copied: the module itself when that adapter is built, its file otherwise.
#[cfg(feature = "rusty")]
pub use crate::adapters::rusty::words;
#[cfg(not(feature = "rusty"))]
#[path = "../rusty/words.rs"]
pub mod words;

use std::sync::Arc;

use anyhow::Context;
use outpost_exec::Allowlist;
use serde::Deserialize;

use crate::components::{Component, Start};
use crate::config::Config;

/// The component's name in the daemon's list and in `agent.info`.
pub const NAME: &str = "reagent";

struct Reagent {
    flock: flock::Flock,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// The allowlist's parameter order, when exec is on.
    order: Option<words::ParamOrder>,
}

pub fn build(
    cfg: &mut Config,
    _shared: &crate::components::Shared,
) -> anyhow::Result<Option<Box<dyn Component>>> {
    let Some(path) = cfg.reagent.config.clone() else {
        return Ok(None);
    };
    // `Config::validate` read it already; read again here, as the daemon starts.
    let flock = flock::Flock::read(&path).context("reagent.config")?;
    let tls = if flock.endpoint.starts_with("wss://") {
        Some(crate::uplink::tls::client_config().context("reagent: TLS")?)
    } else {
        None
    };
    let order = match (&cfg.commands, cfg.exec.enabled) {
        (Some(table), true) => Some(words::ParamOrder::of(
            &Allowlist::deserialize(table.clone()).context("commands")?,
        )),
        (None, true) => Some(words::ParamOrder::default()),
        (_, false) => None,
    };
    Ok(Some(Box::new(Reagent { flock, tls, order })))
}

impl Component for Reagent {
    fn start(self: Box<Self>, cx: &mut Start<'_>) -> anyhow::Result<()> {
        let w = Arc::new(client::Wire {
            flock: self.flock,
            tls: self.tls,
            exec: self.order.map(|o| (cx.dispatcher.clone(), Arc::new(o))),
        });
        tracing::info!(
            url = %w.flock.endpoint,
            authid = %w.flock.authid(),
            serial = %w.flock.serial,
            "reagent: Reagent's WAMP session is on"
        );
        cx.spawn(client::run(w, cx.stop_token()));
        Ok(())
    }
}
