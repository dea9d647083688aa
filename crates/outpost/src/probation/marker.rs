//! The pending update's marker: `DATA_DIR/update-pending.json`, written atomically
//! (a temporary file, fsync, rename, fsync of the directory), so a crash at any point leaves
//! the old marker or the new one, never half of one.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const MARKER_FILE: &str = "update-pending.json";

/// An update between its swap and its verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    /// The version that ran before the swap.
    pub from: String,
    /// The version swapped in.
    pub to: String,
    /// The binary's path (the new version is there during probation).
    pub binary: PathBuf,
    /// The previous binary, kept beside it by the swap.
    pub previous: PathBuf,
    pub probation_ms: u64,
    /// Unix milliseconds when the swap was done; set again at the new version's first
    /// start, when its probation begins.
    pub started_ms: i64,
    /// Starts of the new binary so far.
    #[serde(default)]
    pub attempts: u32,
    /// Set by whoever rolled back: why.
    #[serde(default)]
    pub rolled_back: Option<String>,
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(MARKER_FILE)
}

/// The marker, if an update is pending. A marker that does not parse is an error the
/// caller logs; it is never taken for "no update".
pub fn read(data_dir: &Path) -> std::io::Result<Option<Pending>> {
    match std::fs::read(path(data_dir)) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn write(data_dir: &Path, p: &Pending) -> std::io::Result<()> {
    let tmp = data_dir.join(format!("{MARKER_FILE}.tmp"));
    let body = serde_json::to_vec_pretty(p).map_err(std::io::Error::other)?;
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path(data_dir))?;
    sync_dir(data_dir)
}

pub fn remove(data_dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path(data_dir)) {
        Ok(()) => sync_dir(data_dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue16_the_update_marker_round_trips_and_absence_is_none() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read(d.path()).unwrap(), None);
        let p = Pending {
            from: "0.1.0".into(),
            to: "0.2.0".into(),
            binary: "/usr/bin/outpost".into(),
            previous: "/usr/bin/outpost.prev".into(),
            probation_ms: 120_000,
            started_ms: 1,
            attempts: 0,
            rolled_back: None,
        };
        write(d.path(), &p).unwrap();
        assert_eq!(read(d.path()).unwrap(), Some(p));
        std::fs::write(d.path().join(MARKER_FILE), b"{not json").unwrap();
        assert!(read(d.path()).is_err());
        remove(d.path()).unwrap();
        remove(d.path()).unwrap();
        assert_eq!(read(d.path()).unwrap(), None);
    }
}
