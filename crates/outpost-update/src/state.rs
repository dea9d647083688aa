//! What an agent remembers between checks: the highest manifest counter seen per channel,
//! in `STATE_DIR/CHANNEL.json` (`{"counter": N}`). A manifest with a lower counter is a
//! replay (or a server frozen on an old one) and is refused; an equal one is the same
//! manifest checked again and allowed (the version rules still refuse any downgrade).
//!
//! Written atomically: a temporary file in the same directory, fsynced, renamed over the
//! old one, and the directory fsynced, so a crash leaves the old or the new counter.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::UpdateError;
use crate::manifest::valid_name;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    counter: u64,
}

fn file(dir: &Path, channel: &str) -> Result<PathBuf, UpdateError> {
    // The channel name is checked by the settings; checked again since it becomes a path.
    if !valid_name(channel) {
        return Err(UpdateError::Settings {
            key: "update.channel",
            why: format!("{channel:?} is not a valid channel name"),
        });
    }
    Ok(dir.join(format!("{channel}.json")))
}

/// The highest counter seen on `channel`, if any.
pub fn load(dir: &Path, channel: &str) -> Result<Option<u64>, UpdateError> {
    let path = file(dir, channel)?;
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(UpdateError::io("reading", path, e)),
    };
    let saved: Saved = serde_json::from_slice(&bytes).map_err(|e| UpdateError::State {
        path: path.clone(),
        why: format!("unreadable ({e}); remove it only if you trust the update server"),
    })?;
    Ok(Some(saved.counter))
}

/// Refuses a counter below the one seen.
pub fn check(channel: &str, seen: Option<u64>, got: u64) -> Result<(), UpdateError> {
    match seen {
        Some(seen) if got < seen => Err(UpdateError::Replayed {
            channel: channel.to_owned(),
            seen,
            got,
        }),
        _ => Ok(()),
    }
}

/// Records `counter` as the highest seen on `channel`.
pub fn store(dir: &Path, channel: &str, counter: u64) -> Result<(), UpdateError> {
    let path = file(dir, channel)?;
    fs::create_dir_all(dir).map_err(|e| UpdateError::io("creating", dir, e))?;
    let tmp = dir.join(format!(".{channel}.json.tmp"));
    let body = serde_json::to_vec(&Saved { counter }).unwrap_or_default();
    let mut f = fs::File::create(&tmp).map_err(|e| UpdateError::io("creating", &tmp, e))?;
    f.write_all(&body)
        .and_then(|()| f.sync_all())
        .map_err(|e| UpdateError::io("writing", &tmp, e))?;
    drop(f);
    fs::rename(&tmp, &path).map_err(|e| UpdateError::io("renaming", &tmp, e))?;
    sync_dir(dir)
}

/// fsync a directory, so a rename in it survives a power loss.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), UpdateError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| UpdateError::io("syncing directory", dir, e))
}
