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
use crate::security::{Security, UsmUser};
use crate::target::TargetAddr;
use crate::usm::{AuthProtocol, PrivProtocol};

/// A target as it travels in job params.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetParams {
    /// net-snmp form: `host`, `host:port`, `udp6:[::1]:161`, `tcp:host:port`.
    pub target: String,
    /// `"1"`, `"2c"` (default) or `"3"`.
    #[serde(default = "default_version")]
    pub version: Version,
    /// v1/v2c community.
    #[serde(default)]
    pub community: Option<SecretString>,
    /// v3 user name.
    #[serde(default)]
    pub user: Option<String>,
    /// v3 auth protocol, net-snmp spelling (`SHA`, `SHA-256`, ...).
    #[serde(default)]
    pub auth_protocol: Option<String>,
    /// v3 auth pass phrase.
    #[serde(default)]
    pub auth_password: Option<SecretString>,
    /// v3 privacy protocol, net-snmp spelling (`AES`, `AES256`, `DES`).
    #[serde(default)]
    pub priv_protocol: Option<String>,
    /// v3 privacy pass phrase.
    #[serde(default)]
    pub priv_password: Option<SecretString>,
    /// v3 context name.
    #[serde(default)]
    pub context: Option<String>,
    /// Per-attempt timeout; default 1000 ms.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Retries after the first attempt; default 5.
    #[serde(default)]
    pub retries: Option<u32>,
}

fn default_version() -> Version {
    Version::V2c
}

/// Why params do not make a usable target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    #[error("{0}")]
    Target(#[from] crate::target::ParseTargetError),
    #[error("v1/v2c needs a community")]
    MissingCommunity,
    #[error("v3 needs a user")]
    MissingUser,
    #[error("{0}")]
    Protocol(#[from] crate::usm::UnknownProtocol),
    #[error("{0} is set without its password")]
    MissingPassword(&'static str),
    #[error("{0}")]
    Usm(#[from] crate::error::UsmError),
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
    /// Validates into a [`TargetConfig`]; v3 users come from `cache`.
    pub fn to_config(&self, cache: &UserCache) -> Result<TargetConfig, ParamsError> {
        let addr: TargetAddr = self.target.parse()?;
        let security = match self.version {
            Version::V1 | Version::V2c => {
                let c = self
                    .community
                    .as_ref()
                    .ok_or(ParamsError::MissingCommunity)?;
                Security::Community {
                    version: self.version,
                    community: c.clone(),
                }
            }
            Version::V3 => {
                let name = self.user.as_deref().ok_or(ParamsError::MissingUser)?;
                let auth = match &self.auth_protocol {
                    Some(p) => Some((
                        p.parse()?,
                        self.auth_password
                            .as_ref()
                            .ok_or(ParamsError::MissingPassword("auth_protocol"))?,
                    )),
                    None => None,
                };
                let privacy = match &self.priv_protocol {
                    Some(p) => Some((
                        p.parse()?,
                        self.priv_password
                            .as_ref()
                            .ok_or(ParamsError::MissingPassword("priv_protocol"))?,
                    )),
                    None => None,
                };
                Security::Usm(cache.get_or_create(
                    name,
                    auth,
                    privacy,
                    self.context.as_deref().unwrap_or(""),
                )?)
            }
        };
        let mut cfg = TargetConfig::new(addr, security);
        if let Some(ms) = self.timeout_ms {
            cfg.timeout = Duration::from_millis(ms.max(1));
        }
        if let Some(r) = self.retries {
            cfg.retries = r;
        }
        Ok(cfg)
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
