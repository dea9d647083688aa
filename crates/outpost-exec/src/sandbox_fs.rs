//! Landlock filesystem rules for a run: the whole tree readable and executable, writable only
//! in the run's working directory, its private temporary directory and `/dev/null`.
//!
//! The ruleset is built here, in the agent, before the fork (building it allocates and opens
//! files, which a forked child of a threaded process must not do); the child only calls
//! `landlock_restrict_self` on its descriptor (see `child.rs`).

use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::OnceLock;

use landlock::{
    path_beneath_rules, Access, AccessFs, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, ABI,
};
use serde::{Deserialize, Serialize};

/// Whether a command runs under Landlock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LandlockMode {
    Off,
    /// Enforced where the kernel has it; reported `unavailable` where it does not.
    #[default]
    BestEffort,
    /// Refused (`sandbox_unavailable`) where the kernel does not have it: never runs open.
    Required,
}

/// What a run actually got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LandlockReport {
    Enforced { abi: u8, writable: Vec<String> },
    Unavailable { reason: String },
    Off,
}

/// The highest Landlock ABI whose every filesystem right this kernel enforces, probed once.
pub(crate) fn kernel_abi() -> Option<ABI> {
    static ABI_FOUND: OnceLock<Option<ABI>> = OnceLock::new();
    *ABI_FOUND.get_or_init(|| {
        [ABI::V6, ABI::V5, ABI::V4, ABI::V3, ABI::V2, ABI::V1]
            .into_iter()
            .find(|abi| {
                Ruleset::default()
                    .set_compatibility(CompatLevel::HardRequirement)
                    .handle_access(AccessFs::from_all(*abi))
                    .and_then(|r| r.create())
                    .is_ok()
            })
    })
}

/// Why Landlock is not available, if it is not.
pub(crate) fn unavailable_reason() -> Option<String> {
    match kernel_abi() {
        Some(_) => None,
        None => Some("the kernel does not enforce Landlock (not built in, or not enabled)".into()),
    }
}

/// A ruleset descriptor for a child to restrict itself with, and the ABI it enforces.
pub(crate) fn build(writable: &[&Path]) -> Result<(OwnedFd, u8), String> {
    let abi = kernel_abi().ok_or_else(|| unavailable_reason().unwrap_or_default())?;
    let created = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(abi))
        .and_then(|r| r.create())
        .and_then(|r| r.add_rules(path_beneath_rules(["/"], AccessFs::from_read(abi))))
        .and_then(|r| r.add_rules(path_beneath_rules(writable, AccessFs::from_all(abi))))
        .map_err(|e| format!("landlock ruleset: {e}"))?;
    let dev_null = PathFd::new("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
    let created = created
        .add_rule(PathBeneath::new(dev_null, AccessFs::from_file(abi)))
        .map_err(|e| format!("landlock rule for /dev/null: {e}"))?;
    let fd: Option<OwnedFd> = created.into();
    let fd = fd.ok_or_else(|| "landlock ruleset has no descriptor".to_owned())?;
    Ok((fd, abi as u8))
}
