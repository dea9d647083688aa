//! The API token: configured, or generated once and kept in the data directory.

use std::{fs, path::Path};

use secrecy::SecretString;

use crate::api::tls::write_private;

/// Where the token came from, for the start-up log (which never prints the token itself).
pub enum TokenSource {
    Configured,
    File(std::path::PathBuf),
    Generated(std::path::PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token file {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("token file {0} is empty; delete it to have a new token generated")]
    Empty(std::path::PathBuf),
    #[error("no randomness available for a token: {0}")]
    Random(String),
}

pub fn resolve(
    configured: Option<SecretString>,
    data_dir: &Path,
) -> Result<(SecretString, TokenSource), TokenError> {
    if let Some(t) = configured {
        return Ok((t, TokenSource::Configured));
    }
    let path = data_dir.join("token");
    let io = |source| TokenError::Io {
        path: path.clone(),
        source,
    };
    match fs::read_to_string(&path) {
        Ok(text) => {
            let t = text.trim();
            if t.is_empty() {
                return Err(TokenError::Empty(path));
            }
            Ok((SecretString::from(t.to_owned()), TokenSource::File(path)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut raw = [0u8; 32];
            getrandom::fill(&mut raw).map_err(|e| TokenError::Random(e.to_string()))?;
            let token = hex::encode(raw);
            write_private(&path, format!("{token}\n").as_bytes()).map_err(io)?;
            Ok((SecretString::from(token), TokenSource::Generated(path)))
        }
        Err(e) => Err(io(e)),
    }
}
