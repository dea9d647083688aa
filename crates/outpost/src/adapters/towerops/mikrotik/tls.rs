//! RouterOS `api-ssl`: TLS 1.2 or 1.3 whose certificate is pinned on first use, per host
//! and port, in the host-keys file (`tls:<ip>:<port>` → the leaf's SHA-256 in hex).
//!
//! Routers carry self-signed certificates, so there is no CA to check. The verifier
//! instead compares the leaf with the pin already trusted (an in-memory lookup, so the
//! handshake never blocks) and refuses a different one; handshake signatures are still
//! verified, so the peer must hold the certificate's key. A certificate seen for the
//! first time is recorded durably (`HostKeys::check`, on a blocking thread) after the
//! handshake and before a single byte of the login is sent.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use rustls::{crypto::CryptoProvider, pki_types::ServerName};
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::client::{ClientError, DIAL_TIMEOUT};
use crate::adapters::towerops::host_keys::{tls_entry, HostKeys};
use crate::uplink::tls::{LeafCheck, LeafVerifier};

/// TLS with trust on first use through the agent's host-keys file.
#[derive(Clone)]
pub struct Pinning {
    host_keys: Arc<HostKeys>,
    provider: Arc<CryptoProvider>,
}

impl Pinning {
    pub fn new(host_keys: Arc<HostKeys>) -> Self {
        Pinning {
            host_keys,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
        }
    }

    /// The TLS handshake over `tcp` to `ip:port`, the certificate checked or recorded.
    pub async fn handshake(
        &self,
        tcp: TcpStream,
        ip: &str,
        port: u16,
        deadline: Instant,
    ) -> Result<TlsStream<TcpStream>, ClientError> {
        let entry = tls_entry(ip, port);
        let verifier = Arc::new(LeafVerifier::new(
            Verifier {
                entry: entry.clone(),
                host_keys: self.host_keys.clone(),
                seen: Mutex::new(None),
            },
            self.provider.clone(),
        ));
        let config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        let name = ServerName::try_from(ip.to_owned())
            .map_err(|e| ClientError::Tls(format!("server name {ip}: {e}")))?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let until = deadline.min(Instant::now() + DIAL_TIMEOUT);
        let shaken = tokio::time::timeout_at(
            tokio::time::Instant::from_std(until),
            connector.connect(name, tcp),
        )
        .await;
        let seen = verifier.check.seen();
        let stream = match shaken {
            Err(_) => return Err(ClientError::Timeout("in the TLS handshake")),
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                // Refused by the pin: say so in the host-keys file's own words (`check`
                // on a mismatch never writes; a first-use certificate whose handshake
                // failed is not recorded).
                let known = self.host_keys.get(&entry);
                if let (Some(sha), Some(trusted)) = (seen, known) {
                    if !trusted.eq_ignore_ascii_case(&sha) {
                        self.record(&entry, sha).await?;
                    }
                }
                return Err(ClientError::Tls(e.to_string()));
            }
        };
        let Some(sha) = seen else {
            return Err(ClientError::Tls(
                "the router presented no certificate".into(),
            ));
        };
        self.record(&entry, sha).await?;
        Ok(stream)
    }

    /// Checks `sha` against the file, recording it on first use (blocking: fsync).
    async fn record(&self, entry: &str, sha: String) -> Result<(), ClientError> {
        let keys = self.host_keys.clone();
        let entry = entry.to_owned();
        match tokio::task::spawn_blocking(move || keys.check(&entry, &sha)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(ClientError::HostKey(e.to_string())),
            Err(e) => Err(ClientError::HostKey(format!("host-key check: {e}"))),
        }
    }
}

/// The leaf's SHA-256 as lowercase hex (the host-keys file's form).
pub fn leaf_sha256_hex(cert: &[u8]) -> String {
    hex::encode(Sha256::digest(cert))
}

/// The pin kept in the host-keys file, read at the handshake.
#[derive(Debug)]
struct Verifier {
    entry: String,
    host_keys: Arc<HostKeys>,
    /// The leaf presented, for the caller to record after the handshake.
    seen: Mutex<Option<String>>,
}

impl Verifier {
    fn seen(&self) -> Option<String> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl LeafCheck for Verifier {
    fn check(&self, leaf: &[u8]) -> Result<(), rustls::Error> {
        let sha = leaf_sha256_hex(leaf);
        *self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(sha.clone());
        match self.host_keys.get(&self.entry) {
            Some(trusted) if !trusted.eq_ignore_ascii_case(&sha) => Err(rustls::Error::General(
                format!("certificate for {} changed (possible MITM)", self.entry),
            )),
            // Known and equal, or first use (recorded by the caller before any login).
            _ => Ok(()),
        }
    }
}
