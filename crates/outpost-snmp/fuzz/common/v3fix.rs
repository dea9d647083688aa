//! The v3 fix-up shared by the `open_v3` and `trap_filter` targets (included by path).
//!
//! A mutated v3 message almost never carries a valid HMAC, so without help a fuzzer stops at
//! verification and never reaches decryption or the decoder of what is decrypted. Inputs
//! are one mode byte and a datagram; the mode's bits say what to repair, with the real keys
//! of the users the seeds were captured with (bench/fuzz/capture.py), before the code under
//! test sees the message:
//!
//! - `RESIGN`: recompute the HMAC (in place when the field has the right length, so the
//!   mutated bytes are kept as they are).
//! - `ENCRYPT`: a message whose scoped PDU is in clear is encrypted under the authPriv user
//!   chosen by bits 4-5 (and renamed to it), so mutations of the clear PDU reach the
//!   decryption and the decoder of the plaintext.
//! - `CLOCK`: boots and time set by the target (the receiver's time window); an encrypted
//!   PDU is decrypted under the old clock and encrypted again under the new one.
//!
//! Mode 0 passes the datagram through untouched: the raw path stays fuzzed too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use outpost_snmp::ber::{tag, Reader};
use outpost_snmp::message::{flags, Message, ScopedPduData, V3Message};
use outpost_snmp::usm::{self, LocalizedKeys};
use outpost_snmp::{AuthProtocol, PrivProtocol, UsmUser};

pub const RESIGN: u8 = 0x01;
pub const ENCRYPT: u8 = 0x02;
pub const CLOCK: u8 = 0x04;

/// The pass phrases every seed was captured with.
pub const AUTH_PASS: &str = "authpass123";
pub const PRIV_PASS: &str = "privpass123";

/// Localized keys kept at most before the cache is emptied (mutated engine IDs are many).
const CACHE_MAX: usize = 256;

/// A user table with keys cached per engine ID.
pub struct Users {
    users: Vec<UsmUser>,
    cache: Mutex<HashMap<(usize, Vec<u8>), Arc<LocalizedKeys>>>,
    salt: AtomicU64,
}

impl Users {
    pub fn new(table: &[(&str, Option<AuthProtocol>, Option<PrivProtocol>)]) -> Users {
        let users = table
            .iter()
            .filter_map(|(name, a, p)| {
                UsmUser::new(
                    name,
                    a.map(|a| (a, AUTH_PASS.to_string().into())),
                    p.map(|p| (p, PRIV_PASS.to_string().into())),
                )
                .ok()
            })
            .collect();
        Users {
            users,
            cache: Mutex::new(HashMap::new()),
            salt: AtomicU64::new(1),
        }
    }

    /// The keys of user `name` localized to `engine`, if the user is in the table.
    pub fn keys(&self, name: &[u8], engine: &[u8]) -> Option<Arc<LocalizedKeys>> {
        let idx = self.users.iter().position(|u| u.name.as_bytes() == name)?;
        let mut cache = self.cache.lock().ok()?;
        if let Some(k) = cache.get(&(idx, engine.to_vec())) {
            return Some(Arc::clone(k));
        }
        let k = Arc::new(self.users[idx].localize(engine).ok()?);
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert((idx, engine.to_vec()), Arc::clone(&k));
        Some(k)
    }
}

/// Where the authentication parameters of a v3 message start and how long they are,
/// found the way the decoder finds them.
pub fn locate_auth(raw: &[u8]) -> Option<(usize, usize)> {
    let mut top = Reader::new(raw);
    let mut r = top.read_sequence().ok()?;
    r.expect(tag::INTEGER).ok()?;
    r.read_sequence().ok()?;
    let sec = r.read_octets().ok()?;
    let mut sr = Reader::new(sec);
    let mut u = sr.read_sequence().ok()?;
    u.read_octets().ok()?;
    u.read_i32().ok()?;
    u.read_i32().ok()?;
    u.read_octets().ok()?;
    let auth = u.read_octets().ok()?;
    let off = (auth.as_ptr() as usize).checked_sub(raw.as_ptr() as usize)?;
    Some((off, auth.len()))
}

/// Applies `mode` to `raw` (see the module's comment). `encrypt_users` are the authPriv users
/// ENCRYPT picks from; `clock` gives (boots, time) for an engine ID, None leaves them.
pub fn fix(
    raw: &[u8],
    mode: u8,
    users: &Users,
    encrypt_users: &[&str],
    clock: impl Fn(&[u8]) -> Option<(i32, i32)>,
) -> Vec<u8> {
    if mode & (RESIGN | ENCRYPT | CLOCK) == 0 {
        return raw.to_vec();
    }
    let Ok(Message::V3(mut m)) = Message::decode(raw) else {
        return raw.to_vec();
    };
    let mut rebuilt = false;
    if mode & CLOCK != 0 {
        if let Some((boots, time)) = clock(&m.usm.engine_id) {
            // AES's IV holds boots and time: re-encrypt what the old clock encrypted, so
            // the new clock does not turn the plaintext into noise.
            let keys = users.keys(&m.usm.user_name, &m.usm.engine_id);
            let privacy = keys.as_ref().and_then(|k| k.priv_key());
            let plain = match (&m.data, privacy) {
                (ScopedPduData::Encrypted(c), Some((p, k))) => {
                    let (b, t) = (m.usm.engine_boots, m.usm.engine_time);
                    usm::decrypt(p, k, b, t, &m.usm.priv_params, c).ok()
                }
                _ => None,
            };
            m.usm.engine_boots = boots;
            m.usm.engine_time = time;
            if let (Some(plain), Some((p, k))) = (plain, privacy) {
                let salt = users.salt.fetch_add(1, Ordering::Relaxed);
                if let Ok((c, salt)) = usm::encrypt(p, k, boots, time, salt, &plain) {
                    m.data = ScopedPduData::Encrypted(c);
                    m.usm.priv_params = salt;
                }
            }
            rebuilt = true;
        }
    }
    if mode & ENCRYPT != 0 && !encrypt_users.is_empty() {
        if let ScopedPduData::Plain(s) = &m.data {
            let name = encrypt_users[usize::from(mode >> 4) % encrypt_users.len()];
            if let Some(keys) = users.keys(name.as_bytes(), &m.usm.engine_id) {
                if let Some((p, k)) = keys.priv_key() {
                    let salt = users.salt.fetch_add(1, Ordering::Relaxed);
                    let (b, t) = (m.usm.engine_boots, m.usm.engine_time);
                    if let Ok((c, salt)) = usm::encrypt(p, k, b, t, salt, &s.encode()) {
                        m.data = ScopedPduData::Encrypted(c);
                        m.usm.priv_params = salt;
                        m.usm.user_name = name.as_bytes().to_vec();
                        m.flags |= flags::AUTH | flags::PRIV;
                        rebuilt = true;
                    }
                }
            }
        }
    }
    if m.flags & flags::AUTH == 0 {
        return if rebuilt {
            Message::V3(m).encode()
        } else {
            raw.to_vec()
        };
    }
    let Some(keys) = users.keys(&m.usm.user_name, &m.usm.engine_id) else {
        return if rebuilt {
            Message::V3(m).encode()
        } else {
            raw.to_vec()
        };
    };
    let Some((p, k)) = keys.auth_key() else {
        return raw.to_vec();
    };
    sign(m, raw, rebuilt, p, k)
}

/// Signs either the raw bytes in place (nothing was rebuilt and the field has the length
/// of the MAC) or the re-encoded message.
fn sign(mut m: V3Message, raw: &[u8], rebuilt: bool, p: AuthProtocol, k: &[u8]) -> Vec<u8> {
    let n = p.mac_len();
    let mut bytes = if !rebuilt && m.usm.auth_params.len() == n {
        raw.to_vec()
    } else {
        m.usm.auth_params = vec![0; n];
        Message::V3(m).encode()
    };
    if let Some((off, len)) = locate_auth(&bytes) {
        if len == n {
            bytes[off..off + n].fill(0);
            let _ = usm::sign(p, k, &mut bytes, off);
        }
    }
    bytes
}
