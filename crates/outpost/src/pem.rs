//! Certificates and keys from PEM files, with errors that name the file: the API's identity,
//! an uplink's client certificate and extra trust roots all read them the same way.

use std::path::{Path, PathBuf};

use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct PemError {
    pub path: PathBuf,
    pub message: String,
}

fn err(path: &Path, message: impl ToString) -> PemError {
    PemError {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

/// Every certificate in the file, in order (a chain: leaf first); at least one.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let pem = std::fs::read(path).map_err(|e| err(path, e))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| err(path, e))?;
    if certs.is_empty() {
        return Err(err(path, "no certificate in file"));
    }
    Ok(certs)
}

/// The first private key in the file (PKCS#8, PKCS#1 or SEC1).
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, PemError> {
    let pem = std::fs::read(path).map_err(|e| err(path, e))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| err(path, e))
}
