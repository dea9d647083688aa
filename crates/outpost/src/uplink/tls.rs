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
    let verifier = Arc::new(LeafVerifier::new(Pinned { pin }, Arc::clone(&provider)));
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// What decides a server by its leaf certificate alone: a pin, or a pin kept on first use.
pub trait LeafCheck: std::fmt::Debug + Send + Sync {
    /// Accepts or refuses the leaf certificate's DER bytes.
    fn check(&self, leaf: &[u8]) -> Result<(), rustls::Error>;
}

/// A rustls verifier that judges the server by [`LeafCheck`] instead of a CA chain, and
/// still verifies the handshake's signatures (made with the leaf's key) with `provider`:
/// a pin proves nothing unless the server also proves it holds the key.
#[derive(Debug)]
pub struct LeafVerifier<C> {
    pub check: C,
    provider: Arc<CryptoProvider>,
}

impl<C> LeafVerifier<C> {
    pub fn new(check: C, provider: Arc<CryptoProvider>) -> Self {
        Self { check, provider }
    }
}

impl<C: LeafCheck> ServerCertVerifier for LeafVerifier<C> {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check
            .check(end_entity.as_ref())
            .map(|()| ServerCertVerified::assertion())
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

/// The uplinks' pin: the leaf's SHA-256 must be this one.
#[derive(Debug)]
struct Pinned {
    pin: [u8; 32],
}

impl LeafCheck for Pinned {
    fn check(&self, leaf: &[u8]) -> Result<(), rustls::Error> {
        let got: [u8; 32] = Sha256::digest(leaf).into();
        if got == self.pin {
            Ok(())
        } else {
            Err(rustls::Error::General(format!(
                "server certificate SHA-256 {} does not match the pinned fingerprint",
                crate::api::tls::hex_colon(&got)
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One TLS handshake with a server presenting `cert`, the client configured by `pinned_config(pin)`.
    fn handshake(
        cert: &CertificateDer<'static>,
        key: &rcgen::KeyPair,
        pin: [u8; 32],
    ) -> Result<(), String> {
        let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut tcp, _) = listener.accept().unwrap();
            let mut conn = rustls::ServerConnection::new(Arc::new(server)).unwrap();
            while conn.is_handshaking() && conn.complete_io(&mut tcp).is_ok() {}
        });
        let name = ServerName::try_from("localhost").unwrap();
        let mut conn = rustls::ClientConnection::new(pinned_config(pin).unwrap(), name).unwrap();
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let r = loop {
            if !conn.is_handshaking() {
                break Ok(());
            }
            if let Err(e) = conn.complete_io(&mut tcp) {
                break Err(e.to_string());
            }
        };
        drop(tcp);
        t.join().unwrap();
        r
    }

    /// "Pinning really pins": the uplink's pin accepts the one certificate whose SHA-256
    /// it names, self-signed as it is, and refuses another that a CA would not vouch for
    /// either way.
    #[test]
    fn issue5_a_pinned_uplink_accepts_only_the_pinned_certificate() {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let der = ck.cert.der().clone();
        let right: [u8; 32] = Sha256::digest(der.as_ref()).into();
        handshake(&der, &ck.signing_key, right).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let err = handshake(&other.cert.der().clone(), &other.signing_key, right).unwrap_err();
        assert!(
            err.contains("does not match the pinned fingerprint"),
            "{err}"
        );
    }
}
