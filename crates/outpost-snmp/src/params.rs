//! Serde forms of a target and its credentials, for job params
//! (`snmp.get`, `snmp.walk`, `snmp.set`) and config files. Secrets
//! deserialize straight into redacting types.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::engine::TargetConfig;
use crate::message::Version;
use crate::pdu::PduType;
use crate::security::{Security, UsmUser};
use crate::target::TargetAddr;
use crate::usm::{AuthProtocol, PrivProtocol};
use crate::value::VarBind;

/// A target as it travels in job params.
///
/// Every field is read leniently (see [`Lenient`]) and checked by [`TargetParams::to_config`],
/// so a bad value is reported under its own name (`version`, `auth_protocol`, ...) in words
/// an operator understands, never as a serde message about the whole object.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetParams {
    /// net-snmp form: `host`, `host:port`, `udp6:[::1]:161`, `tcp:host:port`. Required.
    #[serde(default)]
    pub target: Option<Lenient<String>>,
    /// `"1"`, `"2c"` (default) or `"3"`.
    #[serde(default)]
    pub version: Option<Lenient<Version>>,
    /// v1/v2c community.
    #[serde(default)]
    pub community: Option<Lenient<SecretString>>,
    /// v3 user name.
    #[serde(default)]
    pub user: Option<Lenient<String>>,
    /// v3 auth protocol, net-snmp spelling (`SHA`, `SHA-256`, ...).
    #[serde(default)]
    pub auth_protocol: Option<Lenient<String>>,
    /// v3 auth pass phrase.
    #[serde(default)]
    pub auth_password: Option<Lenient<SecretString>>,
    /// v3 privacy protocol, net-snmp spelling (`AES`, `AES256`, `DES`).
    #[serde(default)]
    pub priv_protocol: Option<Lenient<String>>,
    /// v3 privacy pass phrase.
    #[serde(default)]
    pub priv_password: Option<Lenient<SecretString>>,
    /// v3 context name.
    #[serde(default)]
    pub context: Option<Lenient<String>>,
    /// Per-attempt timeout; default 1000 ms.
    #[serde(default)]
    pub timeout_ms: Option<Lenient<u64>>,
    /// Retries after the first attempt; default 5.
    #[serde(default)]
    pub retries: Option<Lenient<u32>>,
}

/// A field value read without failing. Job params carry the target flat beside the
/// operation's own fields (`#[serde(flatten)]`), and inside a flattened struct serde loses
/// the path of a failing field: the API could only blame `params`. So a value of the wrong
/// type is kept as `Wrong` (without the value, which may be a secret) and reported by
/// [`TargetParams::to_config`] under its own name.
#[derive(Clone)]
pub enum Lenient<T> {
    Ok(T),
    Wrong,
}

impl<T: std::fmt::Debug> std::fmt::Debug for Lenient<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lenient::Ok(t) => t.fmt(f),
            Lenient::Wrong => f.write_str("<wrong type>"),
        }
    }
}

impl<'de, T: serde::de::DeserializeOwned> serde::Deserialize<'de> for Lenient<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Ok(T::deserialize(v).map_or(Lenient::Wrong, Lenient::Ok))
    }
}

impl<T> From<T> for Lenient<T> {
    fn from(t: T) -> Self {
        Lenient::Ok(t)
    }
}

/// The field's value; `Err` with `wrong` as the message when it had the wrong type.
fn read<'a, T>(
    v: &'a Option<Lenient<T>>,
    field: &'static str,
    wrong: &str,
) -> Result<Option<&'a T>, ParamsError> {
    match v {
        None => Ok(None),
        Some(Lenient::Ok(t)) => Ok(Some(t)),
        Some(Lenient::Wrong) => Err(ParamsError::invalid(field, wrong)),
    }
}

/// A pass phrase: a string of at least net-snmp's minimum length.
fn password<'a>(
    v: &'a Option<Lenient<SecretString>>,
    field: &'static str,
) -> Result<Option<&'a SecretString>, ParamsError> {
    let p = read(v, field, &format!("{field} must be a string"))?;
    if let Some(p) = p {
        if p.expose_secret().len() < MIN_PASSWORD {
            return Err(ParamsError::invalid(
                field,
                format!("{field} must be at least {MIN_PASSWORD} characters long (net-snmp refuses shorter pass phrases)"),
            ));
        }
    }
    Ok(p)
}

/// How a target is written, for messages.
const TARGET_FORMS: &str =
    "the agent's address: \"192.0.2.1\", \"192.0.2.1:161\", \"udp6:[2001:db8::1]:161\" or \"tcp:192.0.2.1:161\"";
const AUTH_PROTOCOLS: &str = "MD5, SHA, SHA-224, SHA-256, SHA-384 or SHA-512";
const PRIV_PROTOCOLS: &str = "DES, AES, AES192 or AES256";
/// Longest per-attempt timeout: an hour is already longer than any job should wait.
pub const MAX_TIMEOUT_MS: u64 = 3_600_000;
/// net-snmp's shortest pass phrase.
const MIN_PASSWORD: usize = 8;

/// Why params do not make a usable target. [`ParamsError::field`] names the param.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    #[error("{0}")]
    Target(#[from] crate::target::ParseTargetError),
    #[error("v1/v2c needs a community")]
    MissingCommunity,
    #[error("v3 needs a user")]
    MissingUser,
    #[error("{0} is set without its password")]
    MissingPassword(&'static str),
    #[error("{0}")]
    Usm(#[from] crate::error::UsmError),
    /// Any other field: its name and what is expected of it.
    #[error("{message}")]
    Invalid {
        /// The param at fault.
        field: &'static str,
        /// What is wrong and what would be right; never the value (it may be a secret).
        message: String,
    },
}

impl ParamsError {
    fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ParamsError::Invalid {
            field,
            message: message.into(),
        }
    }

    /// The param at fault, as named in job params.
    pub fn field(&self) -> &'static str {
        match self {
            ParamsError::Target(_) => "target",
            ParamsError::MissingCommunity => "community",
            ParamsError::MissingUser => "user",
            ParamsError::MissingPassword("auth_protocol") => "auth_password",
            ParamsError::MissingPassword(_) => "priv_password",
            ParamsError::Usm(crate::error::UsmError::PrivWithoutAuth) => "priv_protocol",
            ParamsError::Usm(_) => "",
            ParamsError::Invalid { field, .. } => field,
        }
    }
}

/// Distinct credential sets kept at most. Beyond it the oldest is forgotten (its next job
/// hashes its keys again): jobs carry credentials, so without a bound a stream of distinct
/// ones would grow the agent without limit.
pub const USER_CACHE_MAX: usize = 1024;

/// Shares `UsmUser`s between jobs with the same credentials, so the 1 MiB
/// password-to-key hashing runs once per user, not once per poll.
#[derive(Debug, Default)]
pub struct UserCache {
    inner: Mutex<Users>,
}

#[derive(Debug, Default)]
struct Users {
    /// SHA-256 of the credentials -> user. The key is a digest, never the
    /// passwords themselves.
    by_key: HashMap<[u8; 32], Arc<UsmUser>>,
    /// Keys, oldest first, for eviction.
    order: std::collections::VecDeque<[u8; 32]>,
}

impl UserCache {
    pub fn get_or_create(
        &self,
        name: &str,
        auth: Option<(AuthProtocol, &SecretString)>,
        privacy: Option<(PrivProtocol, &SecretString)>,
        context: &str,
    ) -> Result<Arc<UsmUser>, ParamsError> {
        let mut h = Sha256::new();
        for part in [
            name.as_bytes(),
            format!("{:?}", auth.map(|a| a.0)).as_bytes(),
            auth.map(|a| a.1.expose_secret().as_bytes())
                .unwrap_or_default(),
            format!("{:?}", privacy.map(|p| p.0)).as_bytes(),
            privacy
                .map(|p| p.1.expose_secret().as_bytes())
                .unwrap_or_default(),
            context.as_bytes(),
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        let key: [u8; 32] = h.finalize().into();
        let mut users = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(u) = users.by_key.get(&key) {
            return Ok(u.clone());
        }
        let mut u = UsmUser::new(
            name,
            auth.map(|(p, s)| (p, s.clone())),
            privacy.map(|(p, s)| (p, s.clone())),
        )?;
        u.context_name = context.to_string();
        let u = Arc::new(u);
        while users.by_key.len() >= USER_CACHE_MAX {
            let Some(old) = users.order.pop_front() else {
                break;
            };
            users.by_key.remove(&old);
        }
        users.by_key.insert(key, u.clone());
        users.order.push_back(key);
        Ok(u)
    }

    /// Credential sets held now.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|u| u.by_key.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl TargetParams {
    /// Params for `target` with every other field at its default.
    pub fn new(target: &str) -> Self {
        TargetParams {
            target: Some(target.to_string().into()),
            version: None,
            community: None,
            user: None,
            auth_protocol: None,
            auth_password: None,
            priv_protocol: None,
            priv_password: None,
            context: None,
            timeout_ms: None,
            retries: None,
        }
    }

    /// Validates into a [`TargetConfig`]; v3 users come from `cache`.
    pub fn to_config(&self, cache: &UserCache) -> Result<TargetConfig, ParamsError> {
        let target = read(
            &self.target,
            "target",
            &format!("target must be a string: {TARGET_FORMS}"),
        )?
        .ok_or_else(|| {
            ParamsError::invalid("target", format!("target is required: {TARGET_FORMS}"))
        })?;
        let addr: TargetAddr = target.parse()?;
        let version = *read(
            &self.version,
            "version",
            "version must be the string \"1\", \"2c\" or \"3\"",
        )?
        .unwrap_or(&Version::V2c);
        let security = match version {
            Version::V1 | Version::V2c => {
                let c = read(&self.community, "community", "community must be a string")?
                    .ok_or(ParamsError::MissingCommunity)?;
                Security::Community {
                    version,
                    community: c.clone(),
                }
            }
            Version::V3 => self.usm(cache)?,
        };
        let mut cfg = TargetConfig::new(addr, security);
        let timeout_words =
            format!("timeout_ms is the wait per attempt in milliseconds: a whole number from 1 to {MAX_TIMEOUT_MS}");
        if let Some(&ms) = read(&self.timeout_ms, "timeout_ms", &timeout_words)? {
            if !(1..=MAX_TIMEOUT_MS).contains(&ms) {
                return Err(ParamsError::invalid("timeout_ms", timeout_words));
            }
            cfg.timeout = Duration::from_millis(ms);
        }
        if let Some(&r) = read(
            &self.retries,
            "retries",
            "retries is how many times to send again after a timeout: a whole number from 0",
        )? {
            cfg.retries = r;
        }
        Ok(cfg)
    }

    /// The v3 user, checked field by field before the cache derives any key.
    fn usm(&self, cache: &UserCache) -> Result<Security, ParamsError> {
        let name =
            read(&self.user, "user", "user must be a string")?.ok_or(ParamsError::MissingUser)?;
        let auth_password = password(&self.auth_password, "auth_password")?;
        let priv_password = password(&self.priv_password, "priv_password")?;
        let auth_words = format!("auth_protocol must be one of {AUTH_PROTOCOLS}");
        let auth = match read(&self.auth_protocol, "auth_protocol", &auth_words)? {
            Some(p) => Some((
                p.parse::<AuthProtocol>()
                    .map_err(|_| ParamsError::invalid("auth_protocol", auth_words.clone()))?,
                auth_password.ok_or(ParamsError::MissingPassword("auth_protocol"))?,
            )),
            None if auth_password.is_some() => {
                return Err(ParamsError::invalid(
                    "auth_protocol",
                    format!("auth_password is set without auth_protocol: say which, one of {AUTH_PROTOCOLS}"),
                ))
            }
            None => None,
        };
        let priv_words = format!("priv_protocol must be one of {PRIV_PROTOCOLS}");
        let privacy = match read(&self.priv_protocol, "priv_protocol", &priv_words)? {
            Some(p) => Some((
                p.parse::<PrivProtocol>()
                    .map_err(|_| ParamsError::invalid("priv_protocol", priv_words.clone()))?,
                priv_password.ok_or(ParamsError::MissingPassword("priv_protocol"))?,
            )),
            None if priv_password.is_some() => {
                return Err(ParamsError::invalid(
                    "priv_protocol",
                    format!("priv_password is set without priv_protocol: say which, one of {PRIV_PROTOCOLS}"),
                ))
            }
            None => None,
        };
        if privacy.is_some() && auth.is_none() {
            return Err(ParamsError::invalid(
                "priv_protocol",
                "privacy needs authentication: set auth_protocol and auth_password as well (authPriv), or drop priv_protocol (noAuthNoPriv)",
            ));
        }
        let context = read(&self.context, "context", "context must be a string")?;
        Ok(Security::Usm(cache.get_or_create(
            name,
            auth,
            privacy,
            context.map(String::as_str).unwrap_or(""),
        )?))
    }

    /// For a UDP target, refuses a request of `pdu_type` with `varbinds` that cannot fit
    /// in one datagram, naming what to shorten: the credentials when they alone do not
    /// fit (`community`, or the v3 `user`), else `varbinds_field`.
    pub fn check_request_size(
        &self,
        cfg: &TargetConfig,
        pdu_type: PduType,
        varbinds: &[VarBind],
        varbinds_field: &'static str,
    ) -> Result<(), ParamsError> {
        let Err(e) = crate::size::check_request_size(cfg, pdu_type, varbinds) else {
            return Ok(());
        };
        let field = if crate::size::check_request_size(cfg, pdu_type, &[]).is_err() {
            match &cfg.security {
                Security::Community { .. } => "community",
                Security::Usm(u) if u.context_name.len() > u.name.len() => "context",
                Security::Usm(_) => "user",
            }
        } else {
            varbinds_field
        };
        Err(ParamsError::invalid(field, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_params_share_one_user_and_redact() {
        let j = r#"{"target":"udp6:[::1]:161","version":"3","user":"probe","auth_protocol":"SHA-256",
                   "auth_password":"authpass123","priv_protocol":"AES256","priv_password":"privpass123"}"#;
        let p: TargetParams = serde_json::from_str(j).unwrap();
        assert!(!format!("{p:?}").contains("authpass123"));
        let cache = UserCache::default();
        let a = p.to_config(&cache).unwrap();
        let b = p.to_config(&cache).unwrap();
        let (Security::Usm(ua), Security::Usm(ub)) = (&a.security, &b.security) else {
            panic!()
        };
        assert!(Arc::ptr_eq(ua, ub));
        let bad: TargetParams = serde_json::from_str(r#"{"target":"h","version":"2c"}"#).unwrap();
        assert_eq!(
            bad.to_config(&cache).unwrap_err(),
            ParamsError::MissingCommunity
        );
    }

    /// Distinct credentials come from jobs, so from outside: the cache must not grow with
    /// them. noAuthNoPriv users skip the key hashing, which keeps this test fast.
    #[test]
    fn issue3_user_cache_is_bounded() {
        let cache = UserCache::default();
        let first = cache.get_or_create("u0", None, None, "").unwrap();
        for i in 1..USER_CACHE_MAX + 100 {
            cache
                .get_or_create(&format!("u{i}"), None, None, "")
                .unwrap();
        }
        assert_eq!(cache.len(), USER_CACHE_MAX);
        // The oldest went first: asking again builds a fresh user.
        let again = cache.get_or_create("u0", None, None, "").unwrap();
        assert!(!Arc::ptr_eq(&first, &again));
        assert_eq!(cache.len(), USER_CACHE_MAX);
    }
}
