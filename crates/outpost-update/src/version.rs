//! Which way a manifest's build would move this agent: refused when it goes back
//! (downgrade) or is below the manifest's own minimum; up to date when equal.

use semver::Version;

use crate::error::UpdateError;
use crate::manifest::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    UpToDate,
    Update,
}

/// `current` is this binary's version.
pub fn decide(current: &Version, target: &Target) -> Result<Decision, UpdateError> {
    if target.version < target.min_version {
        return Err(UpdateError::BelowMinimum {
            offered: target.version.to_string(),
            min_version: target.min_version.to_string(),
        });
    }
    if target.version < *current {
        return Err(UpdateError::Downgrade {
            current: current.to_string(),
            offered: target.version.to_string(),
        });
    }
    if target.version == *current {
        return Ok(Decision::UpToDate);
    }
    Ok(Decision::Update)
}
