//! Credentials: what a target needs to speak v1/v2c or v3, and the v3
//! seal/open steps (authenticate + encrypt, verify + decrypt).

use std::fmt;
use std::sync::{Arc, OnceLock};

use secrecy::{ExposeSecret, SecretSlice, SecretString};

use crate::error::UsmError;
pub use crate::level::SecurityLevel;
use crate::message::{self, flags, ScopedPdu, ScopedPduData, UsmParams, V3Message, Version};
use crate::usm::{self, AuthProtocol, LocalizedKeys, PrivProtocol};

/// How a target is addressed and authenticated.
#[derive(Clone)]
pub enum Security {
    /// v1 or v2c with a community string.
    Community {
        /// V1 or V2c.
        version: Version,
        /// The community; redacted in Debug.
        community: SecretString,
    },
    /// v3 with a USM user; shared so the expensive password-to-key is
    /// computed once for every target that uses the same user.
    Usm(Arc<UsmUser>),
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Security::Community { version, .. } => write!(f, "Community({version:?}, [REDACTED])"),
            Security::Usm(u) => write!(f, "Usm({u:?})"),
        }
    }
}

impl Security {
    pub fn v1(community: &str) -> Self {
        Security::Community {
            version: Version::V1,
            community: SecretString::from(community.to_string()),
        }
    }
    pub fn v2c(community: &str) -> Self {
        Security::Community {
            version: Version::V2c,
            community: SecretString::from(community.to_string()),
        }
    }
    pub fn version(&self) -> Version {
        match self {
            Security::Community { version, .. } => *version,
            Security::Usm(_) => Version::V3,
        }
    }
}

/// A password with its protocol and a cache of its master key (Ku).
pub struct UserKey<P> {
    /// Which algorithm the password is for.
    pub protocol: P,
    /// The pass phrase; redacted.
    password: SecretString,
    /// Ku, computed on first use: 1 MiB of hashing we do once per user.
    ku: OnceLock<Result<SecretSlice<u8>, UsmError>>,
}

impl<P: fmt::Debug> fmt::Debug for UserKey<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}([REDACTED])", self.protocol)
    }
}

impl<P> UserKey<P> {
    /// net-snmp refuses pass phrases shorter than 8 characters; so do we,
    /// so a config that works here works with net-snmp tools too.
    pub fn new(protocol: P, password: SecretString) -> Result<Self, UsmError> {
        if password.expose_secret().len() < 8 {
            return Err(UsmError::PasswordTooShort);
        }
        Ok(UserKey {
            protocol,
            password,
            ku: OnceLock::new(),
        })
    }

    fn ku(&self, hash: AuthProtocol) -> Result<&SecretSlice<u8>, UsmError> {
        self.ku
            .get_or_init(|| usm::password_to_key(hash, self.password.expose_secret().as_bytes()))
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// A v3 USM user as configured on our side.
#[derive(Debug)]
pub struct UsmUser {
    /// msgUserName.
    pub name: String,
    /// Authentication protocol and password; None for noAuthNoPriv.
    pub auth: Option<UserKey<AuthProtocol>>,
    /// Privacy protocol and password; requires `auth`.
    pub privacy: Option<UserKey<PrivProtocol>>,
    /// contextName for requests; empty selects the default context.
    pub context_name: String,
}

impl UsmUser {
    pub fn new(
        name: &str,
        auth: Option<(AuthProtocol, SecretString)>,
        privacy: Option<(PrivProtocol, SecretString)>,
    ) -> Result<UsmUser, UsmError> {
        if privacy.is_some() && auth.is_none() {
            return Err(UsmError::PrivWithoutAuth);
        }
        Ok(UsmUser {
            name: name.to_string(),
            auth: auth.map(|(p, s)| UserKey::new(p, s)).transpose()?,
            privacy: privacy.map(|(p, s)| UserKey::new(p, s)).transpose()?,
            context_name: String::new(),
        })
    }

    /// This user's security level: what its requests are sealed at, and what a message
    /// from it must carry.
    pub fn level(&self) -> SecurityLevel {
        match (&self.auth, &self.privacy) {
            (Some(_), Some(_)) => SecurityLevel::AuthPriv,
            (Some(_), None) => SecurityLevel::AuthNoPriv,
            _ => SecurityLevel::NoAuthNoPriv,
        }
    }

    /// Keys localized to `engine_id` (cheap once Ku is cached).
    pub fn localize(&self, engine_id: &[u8]) -> Result<LocalizedKeys, UsmError> {
        let Some(a) = &self.auth else {
            return Ok(LocalizedKeys {
                auth: None,
                privacy: None,
            });
        };
        let ku = a.ku(a.protocol)?;
        let auth_key =
            SecretSlice::from(usm::localize_key(a.protocol, ku.expose_secret(), engine_id));
        let privacy = match &self.privacy {
            Some(p) => {
                // The privacy key is derived with the authentication hash.
                let pku = p.ku(a.protocol)?;
                Some((
                    p.protocol,
                    usm::localize_priv_key(a.protocol, p.protocol, pku.expose_secret(), engine_id),
                ))
            }
            None => None,
        };
        Ok(LocalizedKeys {
            auth: Some((a.protocol, auth_key)),
            privacy,
        })
    }
}

/// The authoritative engine's identity and clock, as a header needs them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineParams {
    /// snmpEngineID of the authoritative engine.
    pub engine_id: Vec<u8>,
    /// snmpEngineBoots.
    pub boots: i32,
    /// snmpEngineTime, in seconds.
    pub time: i32,
}

/// What [`seal`] needs, by name: nine values, four of them numbers or flags that are
/// easy to swap when passed by position.
#[derive(Clone, Copy, Debug)]
pub struct SealParams<'a> {
    /// msgID; for a request also its request-id, so replies can be matched.
    pub msg_id: i32,
    /// msgMaxSize: the largest message we can take in reply
    /// ([`DEFAULT_MSG_MAX_SIZE`](crate::size::DEFAULT_MSG_MAX_SIZE) over UDP).
    pub max_size: i32,
    /// The level to seal at. A discovery probe uses noAuthNoPriv even for an authPriv
    /// user; a Report uses at most authNoPriv.
    pub level: SecurityLevel,
    /// msgFlags' reportable bit: set on requests and informs, clear on responses,
    /// Reports and traps (RFC 3412 6.4).
    pub reportable: bool,
    /// The authoritative engine's ID, boots and time.
    pub engine: &'a EngineParams,
    /// msgUserName (empty for a discovery probe).
    pub user_name: &'a [u8],
    /// What to seal.
    pub scoped: &'a ScopedPdu,
    /// Keys localized to `engine`; must hold what `level` needs.
    pub keys: &'a LocalizedKeys,
    /// The privacy salt: must not repeat for a key. Unused below authPriv.
    pub salt: u64,
}

/// Builds, encrypts and authenticates a v3 message.
pub fn seal(p: &SealParams<'_>) -> Result<Vec<u8>, UsmError> {
    let auth = if p.level.is_authenticated() {
        p.keys.auth_key()
    } else {
        None
    };
    if p.level.is_authenticated() && auth.is_none() {
        return Err(UsmError::UnexpectedSecurityLevel);
    }
    let engine = p.engine;
    let mut usm_params = UsmParams {
        engine_id: engine.engine_id.clone(),
        engine_boots: engine.boots,
        engine_time: engine.time,
        user_name: p.user_name.to_vec(),
        auth_params: auth
            .map(|(a, _)| vec![0u8; a.mac_len()])
            .unwrap_or_default(),
        priv_params: Vec::new(),
    };
    let data = if p.level.is_private() {
        let (cipher, k) = p.keys.priv_key().ok_or(UsmError::NoPrivKey)?;
        let (c, salt_bytes) = usm::encrypt(
            cipher,
            k,
            engine.boots,
            engine.time,
            p.salt,
            &p.scoped.encode(),
        )?;
        usm_params.priv_params = salt_bytes;
        ScopedPduData::Encrypted(c)
    } else {
        ScopedPduData::Plain(p.scoped.clone())
    };
    let msg = V3Message {
        msg_id: p.msg_id,
        max_size: p.max_size,
        flags: p.level.flags() | if p.reportable { flags::REPORTABLE } else { 0 },
        usm: usm_params,
        data,
    };
    let (mut bytes, auth_offset) = message::encode_v3_located(&msg);
    if let Some((a, k)) = auth {
        usm::sign(a, k, &mut bytes, auth_offset)?;
    }
    Ok(bytes)
}

/// Verifies and decrypts a received v3 message.
///
/// An unauthenticated message is returned as is (its flags say so): the
/// caller decides whether that is acceptable (only Reports are).
pub fn open(raw: &[u8], keys: Option<&LocalizedKeys>) -> Result<(V3Message, ScopedPdu), OpenError> {
    let (msg, off) = message::decode_located(raw).map_err(OpenError::Decode)?;
    let (message::Message::V3(mut msg), Some(off)) = (msg, off) else {
        return Err(OpenError::NotV3);
    };
    let level = SecurityLevel::from_flags(msg.flags).map_err(OpenError::Usm)?;
    if level.is_authenticated() {
        let (p, k) = keys
            .and_then(|k| k.auth_key())
            .ok_or(OpenError::Usm(UsmError::UnexpectedSecurityLevel))?;
        usm::verify(p, k, raw, off, &msg.usm.auth_params).map_err(OpenError::Usm)?;
    }
    let scoped = match &msg.data {
        ScopedPduData::Plain(s) => s.clone(),
        ScopedPduData::Encrypted(c) => {
            let (p, k) = keys
                .and_then(|k| k.priv_key())
                .ok_or(OpenError::Usm(UsmError::NoPrivKey))?;
            let plain = usm::decrypt(
                p,
                k,
                msg.usm.engine_boots,
                msg.usm.engine_time,
                &msg.usm.priv_params,
                c,
            )
            .map_err(OpenError::Usm)?;
            // Undecodable plaintext is what a wrong privacy key produces.
            ScopedPdu::decode(&plain).map_err(|_| OpenError::Usm(UsmError::DecryptionFailed))?
        }
    };
    msg.data = ScopedPduData::Plain(scoped.clone());
    Ok((msg, scoped))
}

/// Why a received v3 message was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("decode: {0}")]
    Decode(crate::error::DecodeError),
    #[error("not an SNMPv3 message")]
    NotV3,
    #[error("{0}")]
    Usm(UsmError),
}
