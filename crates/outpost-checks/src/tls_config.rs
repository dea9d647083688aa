//! The TLS client configurations checks share: the system's roots, loaded once, and one
//! `rustls::ClientConfig` per distinct (verify, CA file), built on first use and kept.
//!
//! Building a config (and above all reading the system store, ~150 certificates) costs far
//! more than a handshake's bookkeeping, so a thousand HTTPS checks must not each build one.
//! A CA file is read once per path; editing it in place needs an agent restart (a check
//! spec naming a new path picks it up at once).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Why a TLS configuration could not be built: an operator's problem (a CA file), reported
/// as the check's UNKNOWN.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TlsConfigError {
    #[error("ca_file {path}: {message}")]
    CaFile { path: String, message: String },
    #[error("no trusted roots: the system store is empty or unreadable ({0})")]
    NoRoots(String),
    #[error("TLS configuration: {0}")]
    Rustls(String),
}

/// Cache key: whether certificates are verified, and against which CA file (None: the
/// system store).
type Key = (bool, Option<PathBuf>);

/// The shared configurations; one per agent, handed to every HTTP and TLS check.
#[derive(Default)]
pub struct TlsConfigs {
    system_roots: OnceLock<Result<Arc<RootCertStore>, TlsConfigError>>,
    http: Mutex<HashMap<Key, Arc<ClientConfig>>>,
    roots: Mutex<HashMap<PathBuf, Arc<RootCertStore>>>,
    inspect: Mutex<Option<Arc<ClientConfig>>>,
}

impl std::fmt::Debug for TlsConfigs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfigs")
            .field("system_roots_loaded", &self.system_roots.get().is_some())
            .finish_non_exhaustive()
    }
}

pub fn provider() -> Arc<CryptoProvider> {
    static P: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    P.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

impl TlsConfigs {
    pub fn new() -> Self {
        Self::default()
    }

    /// The roots to verify against: the CA file's certificates alone when one is given
    /// (as curl's `--cacert`), else the system store.
    pub fn roots(&self, ca_file: Option<&Path>) -> Result<Arc<RootCertStore>, TlsConfigError> {
        let Some(path) = ca_file else {
            return self
                .system_roots
                .get_or_init(load_system_roots)
                .as_ref()
                .map(Arc::clone)
                .map_err(Clone::clone);
        };
        let mut cache = self.roots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = cache.get(path) {
            return Ok(r.clone());
        }
        let r = Arc::new(load_ca_file(path)?);
        cache.insert(path.to_owned(), r.clone());
        Ok(r)
    }

    /// The client configuration for HTTP checks: HTTP/1.1 by ALPN, verified against
    /// [`Self::roots`], or not verified at all when `verify` is false (logged at warn, once
    /// per process, when that configuration is first built).
    pub fn http(
        &self,
        verify: bool,
        ca_file: Option<&Path>,
    ) -> Result<Arc<ClientConfig>, TlsConfigError> {
        let key = (verify, ca_file.map(Path::to_owned));
        if let Some(c) = self
            .http
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(c.clone());
        }
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsConfigError::Rustls(e.to_string()))?;
        let mut config = if verify {
            builder
                .with_root_certificates(self.roots(ca_file)?)
                .with_no_client_auth()
        } else {
            tracing::warn!(
                "an HTTP check runs with verify_tls=false: certificates of such checks are not verified"
            );
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCert::new()))
                .with_no_client_auth()
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        self.http
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, config.clone());
        Ok(config)
    }

    /// The configuration the TLS check handshakes with: it accepts any certificate (the
    /// check verifies the presented chain itself afterwards, so it can report an expired
    /// or untrusted chain rather than only fail), while still checking the handshake's
    /// signatures.
    pub fn inspect(&self) -> Result<Arc<ClientConfig>, TlsConfigError> {
        let mut slot = self.inspect.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        // TLS 1.2 too: a check must be able to look at an old server's certificate.
        let config = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .map_err(|e| TlsConfigError::Rustls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert::new()))
            .with_no_client_auth();
        let config = Arc::new(config);
        *slot = Some(config.clone());
        Ok(config)
    }
}

fn load_system_roots() -> Result<Arc<RootCertStore>, TlsConfigError> {
    let found = rustls_native_certs::load_native_certs();
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map_or_else(|| "no certificates found".to_string(), ToString::to_string);
        return Err(TlsConfigError::NoRoots(why));
    }
    tracing::debug!(roots = added, "system trust store loaded for checks");
    Ok(Arc::new(store))
}

fn load_ca_file(path: &Path) -> Result<RootCertStore, TlsConfigError> {
    use rustls::pki_types::pem::PemObject;
    let err = |message: String| TlsConfigError::CaFile {
        path: path.display().to_string(),
        message,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| err(format!("not PEM certificates: {e}")))?;
        store
            .add(cert)
            .map_err(|e| err(format!("unusable certificate: {e}")))?;
    }
    if store.is_empty() {
        return Err(err("no certificate in the file".into()));
    }
    Ok(store)
}

/// Accepts any certificate; verifies the handshake signatures with the provider's
/// algorithms (a peer must still hold the key of the certificate it presented).
#[derive(Debug)]
pub struct AcceptAnyCert {
    provider: Arc<CryptoProvider>,
}

impl AcceptAnyCert {
    pub fn new() -> Self {
        AcceptAnyCert {
            provider: provider(),
        }
    }
}

impl Default for AcceptAnyCert {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The name a TLS client verifies and sends as SNI: an IP literal is an address (no SNI).
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(host.to_owned()).map_err(|e| format!("{host:?}: {e}"))
}
