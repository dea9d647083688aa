//! The API's TLS identity: the operator's certificate, or one generated on first start
//! (feature api-tls); and the private-file and fingerprint helpers the token and the
//! uplinks share.

use std::{
    fs,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
};
#[cfg(feature = "api-tls")]
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
};

#[cfg(feature = "api-tls")]
use sha2::{Digest, Sha256};

#[cfg(feature = "api-tls")]
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls: {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("tls: {0}")]
    Pem(#[from] crate::pem::PemError),
    #[error("tls: generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
}

#[cfg(feature = "api-tls")]
/// A server config ready for axum-server, and the certificate's SHA-256 fingerprint for
/// clients that pin it.
pub struct Identity {
    pub config: Arc<rustls::ServerConfig>,
    pub fingerprint: String,
    pub cert_path: PathBuf,
    pub generated: bool,
}

#[cfg(feature = "api-tls")]
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes `data` to `path` readable by the owner only, creating it with that mode so no
/// other user can ever read it, even briefly.
pub fn write_private(path: &std::path::Path, data: &[u8]) -> Result<(), std::io::Error> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(fs::Permissions::from_mode(0o600))?;
    f.write_all(data)?;
    f.sync_all()
}

#[cfg(feature = "api-tls")]
pub fn load_or_generate(
    cert: Option<&Path>,
    key: Option<&Path>,
    data_dir: &Path,
    listen: SocketAddr,
) -> Result<Identity, TlsError> {
    let (cert_path, key_path, generated) = match (cert, key) {
        (Some(c), Some(k)) => (c.to_owned(), k.to_owned(), false),
        _ => {
            let dir = data_dir.join("tls");
            let c = dir.join("cert.pem");
            let k = dir.join("key.pem");
            let fresh = !c.exists() || !k.exists();
            if fresh {
                fs::create_dir_all(&dir).map_err(io(&dir))?;
                generate(&c, &k, listen)?;
            }
            (c, k, fresh)
        }
    };
    let chain = crate::pem::read_certs(&cert_path)?;
    let fingerprint = match chain.first() {
        Some(leaf) => hex_colon(&Sha256::digest(leaf.as_ref())),
        None => String::new(),
    };
    let key = crate::pem::read_key(&key_path)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Identity {
        config: Arc::new(config),
        fingerprint,
        cert_path,
        generated,
    })
}

#[cfg(feature = "api-tls")]
fn generate(cert_path: &Path, key_path: &Path, listen: SocketAddr) -> Result<(), TlsError> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    if !host.is_empty() {
        names.push(host);
    }
    if !listen.ip().is_unspecified() {
        names.push(listen.ip().to_string());
    }
    names.dedup();
    // rcgen's default key is ECDSA P-256.
    let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(names)?;
    write_private(key_path, signing_key.serialize_pem().as_bytes()).map_err(io(key_path))?;
    fs::write(cert_path, cert.pem()).map_err(io(cert_path))?;
    Ok(())
}

pub fn hex_colon(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
