//! `update.*`: where signed releases come from and which keys sign them (issue 16). Nothing
//! happens unless `outpost update check|apply` (or an `agent.update` job) asks.

use std::path::PathBuf;

use serde::Deserialize;

use super::KeyError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateSection {
    /// The manifests' base URL (https); unset: no update source.
    pub url: Option<String>,
    pub channel: String,
    /// Comma-separated minisign public keys trusted besides the compiled-in one.
    pub public_keys: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub probation_ms: u64,
    pub allow_unsigned_checksum: bool,
    pub check_interval_secs: u64,
}

impl UpdateSection {
    pub fn check(&self) -> Result<(), KeyError> {
        // Without the `update` feature, what only outpost-update can say is left unsaid.
        #[cfg(feature = "update")]
        if let Some(url) = &self.url {
            outpost_update::fetch::parse_https(url)
                .map_err(|_| KeyError::new("update.url", "an https:// URL"))?;
        }
        #[cfg(feature = "update")]
        if !outpost_update::manifest::valid_name(&self.channel) {
            return Err(KeyError::new(
                "update.channel",
                "1 to 64 lowercase letters, digits, '_', '-' or '.'",
            ));
        }
        #[cfg(feature = "update")]
        self.trusted_keys()?;
        if self.check_interval_secs != 0 && self.check_interval_secs < 10 {
            return Err(KeyError::new(
                "update.check_interval_secs",
                "0 (off) or at least 10 (seconds)",
            ));
        }
        if !(5_000..=3_600_000).contains(&self.probation_ms) {
            return Err(KeyError::new(
                "update.probation_ms",
                "between 5000 and 3600000 (milliseconds)",
            ));
        }
        Ok(())
    }

    #[cfg(feature = "update")]
    /// The compiled-in release key plus `update.public_keys`.
    pub fn trusted_keys(&self) -> Result<outpost_update::TrustedKeys, KeyError> {
        let mut keys = outpost_update::TrustedKeys::builtin();
        if let Some(list) = &self.public_keys {
            keys.add_list(list)
                .map_err(|e| KeyError::new("update.public_keys", e))?;
        }
        Ok(keys)
    }
}
