//! SNMPv3 for the receiver: configured users, their keys localized per engine ID (cached),
//! discovery Reports for senders of informs (we are the authoritative engine for those),
//! and sealed inform Responses.
//!
//! Authenticated notifications must fall in the RFC 3414 (3.2, step 7) time window: for
//! informs we are the authoritative engine and compare with our own boots and time; for
//! traps the sender is, and we keep what its authenticated messages told us of its clock.
//! A replayed or stale notification is dropped (`not_in_time_window`); an inform is also
//! answered with an authenticated notInTimeWindow Report carrying our boots and time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use outpost_snmp::message::{flags, ScopedPdu, ScopedPduData, V3Message};
use outpost_snmp::pdu::{AnyPdu, PduType};
use outpost_snmp::security::{self, EngineParams, OpenError, SealParams, SecurityLevel};
use outpost_snmp::size::DEFAULT_MSG_MAX_SIZE;
use outpost_snmp::usm::LocalizedKeys;
use outpost_snmp::{Oid, Pdu, Value, VarBind};

use super::config::V3User;
use super::filter::Decision;
use super::metrics::DropReason;
use super::normalize::{Kind, Notification, Sender};

/// usmStatsUnknownEngineIDs.0, the Report that tells a sender our engine ID.
const UNKNOWN_ENGINE_IDS: &[u32] = &[1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0];
/// usmStatsNotInTimeWindows.0, the Report that tells a sender our boots and time.
const NOT_IN_TIME_WINDOWS: &[u32] = &[1, 3, 6, 1, 6, 3, 15, 1, 1, 2, 0];
/// Localized keys kept at most; senders beyond it are localized per message.
const KEY_CACHE_MAX: usize = 4096;
/// Senders' clocks kept at most; a sender beyond it is not checked (as on first contact).
const CLOCK_CACHE_MAX: usize = 4096;
/// The window, in seconds, either side (RFC 3414 2.2.3).
const TIME_WINDOW: i64 = 150;
/// snmpEngineBoots' ceiling: an engine there must be re-keyed, nothing it sends is timely.
const BOOTS_MAX: i32 = i32::MAX;

/// A sending engine's clock as its authenticated messages told it (RFC 3414 2.3).
#[derive(Debug, Clone, Copy)]
struct RemoteClock {
    /// Its snmpEngineBoots.
    boots: i32,
    /// Its snmpEngineTime when last synchronized...
    time: i32,
    /// ...which was then.
    at: Instant,
    /// latestReceivedEngineTime: the highest time seen for these boots.
    latest: i32,
}

/// Localized keys by (user index, engine ID).
type KeyCache = HashMap<(usize, Vec<u8>), Arc<LocalizedKeys>>;

/// The configured users and our own engine.
#[derive(Debug)]
pub struct V3Users {
    /// Users as configured.
    users: Vec<V3User>,
    /// Keys localized per (user index, engine ID): localizing hashes, a lookup does not.
    keys: Mutex<KeyCache>,
    /// Our snmpEngineID.
    engine_id: Vec<u8>,
    /// snmpEngineTime counts from here.
    started: Instant,
    /// Salts for our encrypted Responses: never repeat for a key.
    salt: AtomicU64,
    /// Our snmpEngineBoots (kept in the data directory across restarts).
    boots: i32,
    /// Trap senders' clocks, by engine ID.
    clocks: Mutex<HashMap<Vec<u8>, RemoteClock>>,
}

impl V3Users {
    pub fn new(users: Vec<V3User>, engine_id: Vec<u8>, boots: i32) -> V3Users {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        V3Users {
            users,
            keys: Mutex::new(HashMap::new()),
            engine_id,
            started: Instant::now(),
            salt: AtomicU64::new(seed),
            boots: boots.clamp(1, BOOTS_MAX),
            clocks: Mutex::new(HashMap::new()),
        }
    }

    fn own(&self) -> EngineParams {
        EngineParams {
            engine_id: self.engine_id.clone(),
            boots: self.boots,
            time: i32::try_from(self.started.elapsed().as_secs()).unwrap_or(i32::MAX),
        }
    }

    /// RFC 3414 3.2 7a: we are authoritative.
    fn in_our_window(&self, boots: i32, time: i32) -> bool {
        let own = self.own();
        own.boots != BOOTS_MAX
            && boots == own.boots
            && (i64::from(time) - i64::from(own.time)).abs() <= TIME_WINDOW
    }

    /// RFC 3414 3.2 7b: the sender is authoritative. Learns from the (authenticated)
    /// message first, then checks it against what is known.
    fn in_sender_window(&self, engine: &[u8], boots: i32, time: i32) -> bool {
        let now = Instant::now();
        let Ok(mut clocks) = self.clocks.lock() else {
            return true;
        };
        let Some(c) = clocks.get_mut(engine) else {
            // First contact: nothing to compare with yet; remember its clock.
            if clocks.len() < CLOCK_CACHE_MAX {
                let clock = RemoteClock {
                    boots,
                    time,
                    at: now,
                    latest: time,
                };
                clocks.insert(engine.to_vec(), clock);
            }
            return boots != BOOTS_MAX;
        };
        if boots > c.boots || (boots == c.boots && time > c.latest) {
            *c = RemoteClock {
                boots,
                time,
                at: now,
                latest: time,
            };
        }
        let elapsed = i64::try_from(now.duration_since(c.at).as_secs()).unwrap_or(i64::MAX);
        let theirs_now = i64::from(c.time).saturating_add(elapsed);
        !(c.boots == BOOTS_MAX
            || boots < c.boots
            || (boots == c.boots && i64::from(time) < theirs_now - TIME_WINDOW))
    }

    /// The authenticated notInTimeWindow Report for an inform outside our window.
    fn not_in_time_window(
        &self,
        msg_id: i32,
        request_id: i32,
        user_name: &[u8],
        keys: &LocalizedKeys,
    ) -> Option<Vec<u8>> {
        let report = Pdu::new(
            PduType::Report,
            request_id,
            vec![VarBind::new(
                Oid::new(NOT_IN_TIME_WINDOWS.to_vec()),
                Value::Counter32(1),
            )],
        );
        let scoped = ScopedPdu {
            context_engine_id: self.engine_id.clone(),
            context_name: vec![],
            pdu: AnyPdu::Pdu(report),
        };
        // authNoPriv, as RFC 3414 3.2 7a asks: the sender must be able to trust the boots
        // and time it resynchronizes to.
        security::seal(&SealParams {
            msg_id,
            max_size: DEFAULT_MSG_MAX_SIZE,
            level: SecurityLevel::AuthNoPriv,
            reportable: false,
            engine: &self.own(),
            user_name,
            scoped: &scoped,
            keys,
            salt: 0,
        })
        .ok()
    }

    fn keys_for(&self, idx: usize, user: &V3User, engine: &[u8]) -> Option<Arc<LocalizedKeys>> {
        let key = (idx, engine.to_vec());
        if let Ok(cache) = self.keys.lock() {
            if let Some(k) = cache.get(&key) {
                return Some(Arc::clone(k));
            }
        }
        let k = Arc::new(user.user.localize(engine).ok()?);
        if let Ok(mut cache) = self.keys.lock() {
            if cache.len() < KEY_CACHE_MAX {
                cache.insert(key, Arc::clone(&k));
            }
        }
        Some(k)
    }

    pub fn check(&self, raw: &[u8], head: V3Message, from: SocketAddr) -> Decision {
        // A discovery probe: no engine ID yet. Tell the sender ours.
        if head.usm.engine_id.is_empty() {
            let ScopedPduData::Plain(s) = &head.data else {
                return Decision::Drop(DropReason::Malformed);
            };
            let AnyPdu::Pdu(probe) = &s.pdu else {
                return Decision::Drop(DropReason::Malformed);
            };
            if head.flags & flags::REPORTABLE == 0 {
                return Decision::Drop(DropReason::UnknownUser);
            }
            let report = Pdu::new(
                PduType::Report,
                probe.request_id,
                vec![VarBind::new(
                    Oid::new(UNKNOWN_ENGINE_IDS.to_vec()),
                    Value::Counter32(1),
                )],
            );
            let scoped = ScopedPdu {
                context_engine_id: self.engine_id.clone(),
                context_name: vec![],
                pdu: AnyPdu::Pdu(report),
            };
            let none = LocalizedKeys {
                auth: None,
                privacy: None,
            };
            return match security::seal(&SealParams {
                msg_id: head.msg_id,
                max_size: DEFAULT_MSG_MAX_SIZE,
                level: SecurityLevel::NoAuthNoPriv,
                reportable: false,
                engine: &self.own(),
                user_name: b"",
                scoped: &scoped,
                keys: &none,
                salt: 0,
            }) {
                Ok(bytes) => Decision::Report(bytes),
                Err(_) => Decision::Drop(DropReason::Malformed),
            };
        }
        let engine = head.usm.engine_id.as_slice();
        let ours = engine == self.engine_id.as_slice();
        let Some((idx, user)) = self.users.iter().enumerate().find(|(_, u)| {
            u.user.name.as_bytes() == head.usm.user_name.as_slice()
                && (ours || u.engine_id.as_deref().is_none_or(|e| e == engine))
        }) else {
            return Decision::Drop(DropReason::UnknownUser);
        };
        // Privacy without authentication is no level at all: as wrong as a mismatch.
        let level = match SecurityLevel::from_flags(head.flags) {
            Ok(l) if l == user.user.level() => l,
            _ => return Decision::Drop(DropReason::AuthFailure),
        };
        let Some(keys) = self.keys_for(idx, user, engine) else {
            return Decision::Drop(DropReason::AuthFailure);
        };
        let (msg, scoped) = match security::open(raw, Some(&keys)) {
            Ok(x) => x,
            Err(OpenError::Decode(_)) | Err(OpenError::NotV3) => {
                return Decision::Drop(DropReason::Malformed)
            }
            Err(OpenError::Usm(_)) => return Decision::Drop(DropReason::AuthFailure),
        };
        let AnyPdu::Pdu(p) = scoped.pdu else {
            return Decision::Drop(DropReason::NotNotification);
        };
        if level.is_authenticated() {
            let (boots, time) = (msg.usm.engine_boots, msg.usm.engine_time);
            if ours && !self.in_our_window(boots, time) {
                let report = (p.pdu_type == PduType::Inform)
                    .then(|| {
                        self.not_in_time_window(
                            msg.msg_id,
                            p.request_id,
                            &head.usm.user_name,
                            &keys,
                        )
                    })
                    .flatten();
                return match report {
                    Some(r) => Decision::Refuse(DropReason::NotInTimeWindow, r),
                    None => Decision::Drop(DropReason::NotInTimeWindow),
                };
            }
            if !ours && !self.in_sender_window(engine, boots, time) {
                return Decision::Drop(DropReason::NotInTimeWindow);
            }
        }
        let kind = match p.pdu_type {
            PduType::TrapV2 => Kind::Trap,
            // An inform's receiver is authoritative: its keys are localized to our engine.
            PduType::Inform if ours => Kind::Inform,
            PduType::Inform => return Decision::Drop(DropReason::UnknownUser),
            _ => return Decision::Drop(DropReason::NotNotification),
        };
        let reply = if kind == Kind::Inform {
            let resp = ScopedPdu {
                context_engine_id: scoped.context_engine_id.clone(),
                context_name: scoped.context_name.clone(),
                pdu: AnyPdu::Pdu(p.inform_response()),
            };
            security::seal(&SealParams {
                msg_id: msg.msg_id,
                max_size: DEFAULT_MSG_MAX_SIZE,
                level,
                reportable: false,
                engine: &self.own(),
                user_name: &head.usm.user_name,
                scoped: &resp,
                keys: &keys,
                salt: self.salt.fetch_add(1, Ordering::Relaxed),
            })
            .ok()
        } else {
            None
        };
        let sender = Sender::User {
            name: user.user.name.clone(),
            engine_id: engine.to_vec(),
            level: level.name(),
            context_name: scoped.context_name,
        };
        Decision::Accept(
            Box::new(Notification::from_v2(
                kind,
                from,
                "3",
                sender,
                p.request_id,
                p.varbinds,
            )),
            reply,
        )
    }
}
