//! TLS for uplinks: verified against the system's roots, always with rustls; or, when a
//! fingerprint is pinned, against that one certificate and nothing else.

use std::{path::Path, sync::Arc};

use rustls::{
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider},
    pki_types::{CertificateDer, ServerName, UnixTime},
    DigitallySignedStruct, SignatureScheme,
};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("no usable root certificates in the system store")]
    NoRoots,
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("tls: {0}")]
    Pem(#[from] crate::pem::PemError),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client config trusting the system roots (what `update-ca-certificates` manages).
pub fn client_config() -> Result<Arc<rustls::ClientConfig>, TlsError> {
    client_config_with(&ClientTls::default())
}

/// What a client trusts besides the system roots, and the certificate it presents.
#[derive(Debug, Default)]
pub struct ClientTls<'a> {
    /// PEM certificates trusted in addition to the system roots (a private broker's CA).
    pub ca_file: Option<&'a Path>,
    /// Certificate chain and private key (PEM) for brokers that authenticate clients by
    /// certificate.
    pub identity: Option<(&'a Path, &'a Path)>,
}

/// [`client_config`] plus extra roots and a client certificate. Verification stays on: an
/// extra root is trusted, never a bypass.
pub fn client_config_with(extra: &ClientTls<'_>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = extra.ca_file {
        for cert in crate::pem::read_certs(path)? {
            roots.add(cert)?;
        }
    }
    if roots.is_empty() {
        return Err(TlsError::NoRoots);
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match extra.identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(crate::pem::read_certs(cert)?, crate::pem::read_key(key)?)?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// Why a pinned fingerprint (`uplink.ws.pin_sha256`) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("expected a hex SHA-256 fingerprint")]
    NotHex,
    #[error("a SHA-256 fingerprint is 32 bytes (64 hex digits)")]
    Length,
}

/// `AB:CD:...` or `abcd...` to 32 bytes.
pub fn parse_pin(text: &str) -> Result<[u8; 32], PinError> {
    let hex: String = text.chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(&hex).map_err(|_| PinError::NotHex)?;
    bytes.try_into().map_err(|_| PinError::Length)
}

/// A client config that accepts exactly the server certificate whose SHA-256 is `pin`,
/// whatever signed it, and still checks the handshake signature made with its key.
pub fn pinned_config(pin: [u8; 32]) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let provider = provider();
    let verifier = Arc::new(Pinned {
        pin,
        provider: Arc::clone(&provider),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[derive(Debug)]
struct Pinned {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if got == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "server certificate SHA-256 {} does not match the pinned fingerprint",
                crate::api::tls::hex_colon(&got)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
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
        verify_tls13_signature(
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
