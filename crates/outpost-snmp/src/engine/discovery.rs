//! v3 engine discovery and the agent's clock. A v3 target's engine ID, boots and time are
//! learned once per session (an empty-engine-ID probe answered by a Report), kept with the
//! instant they were read, and extrapolated for every later request, so a poll costs no
//! extra round trip. Authenticated replies move the clock forward; `v3.rs` decides when
//! to resynchronise or rediscover.

use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::demux::Slot;
use super::logs::{Hex, ReqInfo};
use super::Session;
use crate::error::SnmpError;
use crate::message::{Message, ScopedPdu};
use crate::pdu::{AnyPdu, Pdu, PduType};
use crate::security::{self, EngineParams, SealParams, SecurityLevel, UsmUser};
use crate::usm::LocalizedKeys;

/// v3 state of one target.
pub(super) struct V3State {
    /// Who we are.
    pub(super) user: Arc<UsmUser>,
    /// Engine ID/boots/time and keys, learned once and kept.
    discovered: Mutex<Option<Discovered>>,
    /// Serialises discovery so concurrent requests discover once.
    discovery: tokio::sync::Mutex<()>,
}

impl V3State {
    pub(super) fn new(user: Arc<UsmUser>) -> V3State {
        V3State {
            user,
            discovered: Mutex::new(None),
            discovery: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self) -> Option<Discovered> {
        self.discovered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Forgets the agent's engine: the next request discovers it again.
    pub(super) fn forget(&self) {
        *self.discovered.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// What discovery learned of one agent's engine.
#[derive(Clone)]
pub(super) struct Discovered {
    /// The agent's engine as last seen.
    params: EngineParams,
    /// When `params.time` was read, to extrapolate the agent's clock.
    at: Instant,
    /// Keys localized to this engine.
    pub(super) keys: LocalizedKeys,
}

impl Discovered {
    /// The agent's engine now: its time moved on by what elapsed since it was read.
    pub(super) fn now(&self) -> EngineParams {
        let elapsed = i32::try_from(self.at.elapsed().as_secs()).unwrap_or(i32::MAX);
        EngineParams {
            engine_id: self.params.engine_id.clone(),
            boots: self.params.boots,
            time: self.params.time.saturating_add(elapsed),
        }
    }
}

impl Session {
    pub(super) fn v3(&self) -> Result<&V3State, SnmpError> {
        self.inner
            .v3
            .as_ref()
            .ok_or(SnmpError::InvalidRequest("not a v3 target".into()))
    }

    /// The agent's engine, discovered on first use and cached; concurrent callers wait
    /// for one discovery rather than each sending a probe.
    pub(super) async fn discovered(&self) -> Result<Discovered, SnmpError> {
        let v3 = self.v3()?;
        if let Some(d) = v3.cached() {
            return Ok(d);
        }
        let _one = v3.discovery.lock().await;
        if let Some(d) = v3.cached() {
            return Ok(d);
        }
        let Slot {
            id,
            rx,
            guard: _guard,
        } = self.slot();
        let scoped = ScopedPdu {
            context_engine_id: Vec::new(),
            context_name: Vec::new(),
            pdu: AnyPdu::Pdu(Pdu::new(PduType::Get, id, Vec::new())),
        };
        let none = LocalizedKeys {
            auth: None,
            privacy: None,
        };
        // RFC 3414 4: the probe is unauthenticated whatever the user's level, since no
        // key can be localized before the engine ID is known.
        let bytes = security::seal(&SealParams {
            msg_id: id,
            max_size: self.inner.engine.inner.config.max_message_size,
            level: SecurityLevel::NoAuthNoPriv,
            reportable: true,
            engine: &EngineParams::default(),
            user_name: b"",
            scoped: &scoped,
            keys: &none,
            salt: 0,
        })?;
        let req = ReqInfo {
            op: "discovery",
            id,
            varbinds: 0,
        };
        let params = self
            .exchange(&bytes, rx, req, |inc| match inc.msg {
                Message::V3(m) if m.msg_id == id && !m.usm.engine_id.is_empty() => {
                    Some(EngineParams {
                        engine_id: m.usm.engine_id,
                        boots: m.usm.engine_boots,
                        time: m.usm.engine_time,
                    })
                }
                _ => None,
            })
            .await?;
        tracing::debug!(target = %self.inner.label, engine_id = %Hex(&params.engine_id),
            boots = params.boots, time = params.time, "snmp v3 engine discovered");
        let keys = v3.user.localize(&params.engine_id)?;
        let d = Discovered {
            params,
            at: Instant::now(),
            keys,
        };
        *v3.discovered.lock().unwrap_or_else(|e| e.into_inner()) = Some(d.clone());
        Ok(d)
    }

    /// Takes the agent's clock from an authenticated message of the same engine.
    pub(super) fn update_clock(&self, p: EngineParams) {
        if let Some(v3) = &self.inner.v3 {
            let mut g = v3.discovered.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(d) = g.as_mut() {
                if p.engine_id == d.params.engine_id {
                    d.params = p;
                    d.at = Instant::now();
                }
            }
        }
    }
}
