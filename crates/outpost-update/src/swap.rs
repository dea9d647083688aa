//! Putting a verified download in place of the running binary.
//!
//! Steps, and what is at `BIN` after each (the invariant: **at every step `BIN` is a
//! complete binary, the old one until step 4's rename, the new one from then on**; a
//! crash or `kill -9` anywhere leaves a runnable agent):
//! 1. the staged file (`.BIN.update-PID`, same directory) gets mode 0755 and is fsynced:
//!    its bytes are on disk before any name points at it. `BIN`: old.
//! 2. `BIN` is hard-linked as `BIN.prev.tmp` (the same inode: no copy, no partial file;
//!    a file system without hard links gets a copy, fsynced). `BIN`: old.
//! 3. `BIN.prev.tmp` is renamed over `BIN.prev` (atomic: `BIN.prev` is the older previous
//!    build or this one, never partial). `BIN`: old.
//! 4. the staged file is renamed over `BIN` (atomic). `BIN`: new.
//! 5. the directory is fsynced, so the renames survive a power loss.
//!
//! Leftovers of an interrupted swap are only hidden `.BIN.update-PID` or `BIN.prev.tmp`
//! files, which the next run overwrites.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::download::Staged;
use crate::error::UpdateError;
use crate::state::sync_dir;

/// `BIN.prev`: the build that ran before the last update.
pub fn previous_path(binary: &Path) -> PathBuf {
    let mut s = binary.as_os_str().to_owned();
    s.push(".prev");
    PathBuf::from(s)
}

/// Swaps `staged` in at `binary`, keeping the old build as `BIN.prev`; returns that path.
pub fn install(staged: Staged, binary: &Path) -> Result<PathBuf, UpdateError> {
    let new = staged.path().to_path_buf();
    let dir = binary
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // 1.
    let f = fs::OpenOptions::new()
        .write(true)
        .open(&new)
        .map_err(|e| UpdateError::io("opening", &new, e))?;
    f.set_permissions(fs::Permissions::from_mode(0o755))
        .and_then(|()| f.sync_all())
        .map_err(|e| UpdateError::io("syncing", &new, e))?;
    drop(f);
    // 2.
    let prev = previous_path(binary);
    let mut prev_tmp = prev.as_os_str().to_owned();
    prev_tmp.push(".tmp");
    let prev_tmp = PathBuf::from(prev_tmp);
    let _ = fs::remove_file(&prev_tmp);
    if fs::hard_link(binary, &prev_tmp).is_err() {
        fs::copy(binary, &prev_tmp)
            .and_then(|_| fs::File::open(&prev_tmp)?.sync_all())
            .map_err(|e| UpdateError::io("keeping the previous binary as", &prev_tmp, e))?;
    }
    // 3.
    fs::rename(&prev_tmp, &prev).map_err(|e| UpdateError::io("renaming", &prev_tmp, e))?;
    // 4.
    fs::rename(&new, binary).map_err(|e| UpdateError::io("renaming", &new, e))?;
    staged.keep();
    // 5.
    sync_dir(dir)?;
    Ok(prev)
}
