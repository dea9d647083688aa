//! The version this binary reports, read from a fixed slot in the binary rather than
//! inlined as a constant.
//!
//! The slot is the marker `OUTPOST-VERSION:` followed by the version, padded with NULs to a
//! fixed length. Builds put `CARGO_PKG_VERSION` there. A release pipeline or a test can
//! restamp a copy of the binary in place ([`stamp`]) with another version without
//! rebuilding: the update tests need "a build with another version string", and a second
//! full build of the agent would cost CI minutes. A restamped binary is a different file,
//! so its SHA-256 and the manifest's signature cover the stamped bytes, as they must.
//!
//! The slot is read through `black_box` (an optimization barrier), so the compiler cannot
//! fold the build's version into the code that reports it.

use std::sync::OnceLock;

const MARKER: &[u8; 16] = b"OUTPOST-VERSION:";
/// The version's room in the slot, in bytes.
pub const VERSION_MAX: usize = 48;
const SLOT_LEN: usize = MARKER.len() + VERSION_MAX;

const fn slot() -> [u8; SLOT_LEN] {
    let mut s = [0u8; SLOT_LEN];
    let mut i = 0;
    while i < MARKER.len() {
        s[i] = MARKER[i];
        i += 1;
    }
    let v = env!("CARGO_PKG_VERSION").as_bytes();
    assert!(v.len() <= VERSION_MAX, "the version does not fit its slot");
    let mut j = 0;
    while j < v.len() {
        s[MARKER.len() + j] = v[j];
        j += 1;
    }
    s
}

#[used]
static SLOT: [u8; SLOT_LEN] = slot();

/// The version this binary reports (`outpost version`, `/healthz`, `agent.info`, uplinks).
pub fn get() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let slot: &[u8; SLOT_LEN] = std::hint::black_box(&SLOT);
        let v = &slot[MARKER.len()..];
        let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
        match std::str::from_utf8(&v[..end]) {
            Ok(s) if !s.is_empty() => s.to_owned(),
            _ => env!("CARGO_PKG_VERSION").to_owned(),
        }
    })
}

/// Every optional feature of this crate, with whether this build has it: `outpost version
/// --verbose` lists the ones compiled in, so an operator can tell a router build from the
/// full one (see crates/outpost/Cargo.toml for what each leaves out).
pub const FEATURES: &[(&str, bool)] = &[
    ("gpu", cfg!(feature = "gpu")),
    ("containers", cfg!(feature = "containers")),
    ("mib-names", cfg!(feature = "mib-names")),
    ("openapi", cfg!(feature = "openapi")),
    ("schedules", cfg!(feature = "schedules")),
    ("probes", cfg!(feature = "probes")),
    ("exec", cfg!(feature = "exec")),
    ("connectivity", cfg!(feature = "connectivity")),
    ("rusty", cfg!(feature = "rusty")),
    ("socketman", cfg!(feature = "socketman")),
    ("reagent", cfg!(feature = "reagent")),
    ("opensearch", cfg!(feature = "opensearch")),
    ("ws", cfg!(feature = "ws")),
    ("towerops", cfg!(feature = "towerops")),
    ("update", cfg!(feature = "update")),
    ("generate", cfg!(feature = "generate")),
    ("env-filter", cfg!(feature = "env-filter")),
    ("api-tls", cfg!(feature = "api-tls")),
    ("tools", cfg!(feature = "tools")),
    ("http2", cfg!(feature = "http2")),
    ("release-tool", cfg!(feature = "release-tool")),
];

/// The features compiled in, in [`FEATURES`]' order.
pub fn features() -> Vec<&'static str> {
    FEATURES
        .iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| *name)
        .collect()
}

/// Errors restamping a binary.
#[derive(Debug, thiserror::Error)]
pub enum StampError {
    #[error("the version `{0}` is empty or longer than {VERSION_MAX} bytes")]
    BadVersion(String),
    #[error("no version slot in the file (or more than one)")]
    NoSlot,
}

/// `binary`'s bytes with its version slot set to `version`.
pub fn stamp(binary: &[u8], version: &str) -> Result<Vec<u8>, StampError> {
    if version.is_empty() || version.len() > VERSION_MAX || version.contains('\0') {
        return Err(StampError::BadVersion(version.to_owned()));
    }
    let at: Vec<usize> = binary
        .windows(MARKER.len())
        .enumerate()
        .filter(|(_, w)| *w == MARKER)
        .map(|(i, _)| i)
        .collect();
    let [at] = at[..] else {
        return Err(StampError::NoSlot);
    };
    let start = at + MARKER.len();
    let Some(room) = binary.get(start..start + VERSION_MAX) else {
        return Err(StampError::NoSlot);
    };
    debug_assert_eq!(room.len(), VERSION_MAX);
    let mut out = binary.to_vec();
    let dst = &mut out[start..start + VERSION_MAX];
    dst.fill(0);
    dst[..version.len()].copy_from_slice(version.as_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue16_the_version_slot_holds_the_build_version() {
        assert_eq!(get(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn issue16_stamping_replaces_the_version_in_the_one_slot() {
        let mut bin = b"ELF....".to_vec();
        bin.extend_from_slice(&SLOT);
        bin.extend_from_slice(b"....tail");
        let out = stamp(&bin, "9.8.7-test").unwrap();
        assert_eq!(out.len(), bin.len());
        let at = MARKER.len() + 7;
        assert_eq!(&out[at..at + 10], b"9.8.7-test");
        assert!(out[at + 10..at + VERSION_MAX].iter().all(|b| *b == 0));
        assert!(out.ends_with(b"....tail"));
        assert!(matches!(
            stamp(b"no slot", "1.0.0"),
            Err(StampError::NoSlot)
        ));
        let mut two = bin.clone();
        two.extend_from_slice(&SLOT);
        assert!(matches!(stamp(&two, "1.0.0"), Err(StampError::NoSlot)));
        assert!(matches!(
            stamp(&bin, &"9".repeat(VERSION_MAX + 1)),
            Err(StampError::BadVersion(_))
        ));
    }
}
